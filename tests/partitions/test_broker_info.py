"""Broker info in membership properties: compact encoding, and decoding that survives garbage."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_zeebe.partitions import (
    BrokerInfoProps,
    PartitionHealth,
    PartitionRole,
    PartitionStatus,
    decode_broker_info,
    encode_broker_info,
)

statuses = st.builds(
    PartitionStatus,
    partition_id=st.integers(1, 8192),
    role=st.sampled_from(PartitionRole),
    term=st.integers(0, 2**63 - 1),
    health=st.sampled_from(PartitionHealth),
)


def test_encoding_is_compact_sorted_and_documented() -> None:
    info = BrokerInfoProps(
        "10.0.0.1:26500",
        (
            PartitionStatus(3, PartitionRole.INACTIVE, 0, PartitionHealth.DEAD),
            PartitionStatus(1, PartitionRole.LEADER, 4, PartitionHealth.HEALTHY),
            PartitionStatus(2, "follower", 4, "unhealthy"),  # plain strings convert
        ),
    )
    props = encode_broker_info(info)
    assert props == {"gateway": "10.0.0.1:26500", "partitions": "1:L:4:H,2:F:4:U,3:I:0:D"}
    back = decode_broker_info(props)
    assert back.problems == ()
    assert back.gateway == "10.0.0.1:26500"
    assert [p.partition_id for p in back.partitions] == [1, 2, 3]
    assert back.partition(2) == PartitionStatus(
        2, PartitionRole.FOLLOWER, 4, PartitionHealth.UNHEALTHY
    )
    assert back.partition(9) is None


def test_hundred_partitions_fit_in_a_datagram() -> None:
    info = BrokerInfoProps(
        "broker-1.example:26500",
        tuple(
            PartitionStatus(p, PartitionRole.FOLLOWER, 123, PartitionHealth.HEALTHY)
            for p in range(1, 101)
        ),
    )
    assert len(encode_broker_info(info)["partitions"]) < 1400


gateways = st.one_of(
    st.just(""),
    st.sampled_from(["10.0.0.1:26500", "[::1]:26500", "broker-1.example:1", "b:65535"]),
)


@given(gateway=gateways, parts=st.lists(statuses, unique_by=lambda s: s.partition_id))
def test_round_trip(gateway: str, parts: list[PartitionStatus]) -> None:
    info = BrokerInfoProps(gateway, tuple(parts))
    back = decode_broker_info(encode_broker_info(info))
    assert back == BrokerInfoProps(gateway, tuple(sorted(parts, key=lambda s: s.partition_id)))


@pytest.mark.parametrize("gateway", ["[::1", "host:", ":80", "a" * 250 + ":1", "h:0", "a b:1"])
def test_a_malformed_gateway_address_is_a_problem_not_an_address(gateway: str) -> None:
    info = decode_broker_info({"gateway": gateway, "partitions": "1:L:4:H"})
    assert info.gateway == ""
    assert [p.partition_id for p in info.partitions] == [1]
    assert len(info.problems) == 1 and "gateway" in info.problems[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"partition_id": 0},
        {"partition_id": 8193},
        {"partition_id": True},
        {"term": -1},
        {"role": "candidate"},
        {"health": "fine"},
    ],
)
def test_bad_status_is_refused_at_construction(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"partition_id": 1, "role": "leader", "term": 1, "health": "healthy"}
    with pytest.raises(ValueError):
        PartitionStatus(**{**args, **kwargs})


def test_encoding_refuses_duplicate_partitions() -> None:
    s = PartitionStatus(1, PartitionRole.LEADER, 1, PartitionHealth.HEALTHY)
    with pytest.raises(ValueError, match="partition 1 listed twice"):
        encode_broker_info(BrokerInfoProps("g", (s, s)))


def test_missing_keys_mean_nothing_published_yet() -> None:
    assert decode_broker_info({}) == BrokerInfoProps("", (), ())
    assert decode_broker_info({"gateway": "a:1", "other": "x"}) == BrokerInfoProps("a:1", (), ())
    assert decode_broker_info({"partitions": ""}) == BrokerInfoProps("", (), ())


@pytest.mark.parametrize(
    ("raw", "kept", "problem"),
    [
        ("1:L:4:H,junk,2:F:4:H", [1, 2], "malformed partition entry 'junk'"),
        ("1:X:4:H", [], "malformed"),
        ("1:L:4:Q", [], "malformed"),
        ("1:L:-4:H", [], "malformed"),
        ("+1:L:4:H", [], "malformed"),
        ("1:L:4:H:extra", [], "malformed"),
        ("1:L:4", [], "malformed"),
        (" 1:L:4:H", [], "malformed"),
        ("1:L:4:H,", [1], "malformed"),
        ("\u0661:L:4:H", [], "malformed"),  # Arabic-Indic digit one: int() would accept it
        ("0:L:4:H,8193:L:1:H", [], "out of range"),
        ("1:L:99999999999999999999:H", [], "malformed"),
        ("1:L:9999999999999999999:H", [], "out of range"),
        ("1:L:5:H,1:F:6:H", [1], "partition 1 listed twice"),
    ],
)
def test_garbage_partitions_are_skipped_not_raised(raw: str, kept: list[int], problem: str) -> None:
    info = decode_broker_info({"gateway": "g:1", "partitions": raw})
    assert info.gateway == "g:1"
    assert [p.partition_id for p in info.partitions] == kept
    assert info.problems and problem in info.problems[0]
    if raw.startswith("1:L:5:H,1:F"):
        assert info.partitions[0].role is PartitionRole.LEADER  # the first entry wins


def test_problems_are_capped() -> None:
    info = decode_broker_info({"partitions": ",".join(["x"] * 50)})
    assert info.partitions == ()
    assert len(info.problems) == 4 and info.problems[-1] == "and 47 more problems"


def test_huge_and_wrongly_typed_values() -> None:
    info = decode_broker_info({"gateway": "a" * 1000, "partitions": "1:L:1:H," * 9000})
    assert info.gateway == ""
    assert [p.partition_id for p in info.partitions] == [1]
    assert any("first 8192 read" in p for p in info.problems)
    info = decode_broker_info({"gateway": 5, "partitions": [1, 2]})
    assert info == BrokerInfoProps("", (), info.problems) and len(info.problems) == 2
    assert decode_broker_info(None).problems  # type: ignore[arg-type]


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=80)))
def test_decode_never_raises(props: dict[str, str]) -> None:
    info = decode_broker_info(props)
    assert all(isinstance(p, PartitionStatus) for p in info.partitions)


@given(st.lists(st.sampled_from(list("0123456789:,LFIHUD-x ")), max_size=60).map("".join))
def test_decode_never_raises_on_near_miss_strings(raw: str) -> None:
    info = decode_broker_info({"partitions": raw})
    ids = [p.partition_id for p in info.partitions]
    assert ids == sorted(set(ids))
