"""The decoders of bytes that are not peer frames: log segments, the topology file, the broker
info gossiped in membership properties. Whatever the bytes, each gives its documented answer:

* log: :func:`~trio_zeebe.log.record.scan` returns or raises LogCorruptionError;
  ``SegmentedLog.open`` recovers a prefix of what was written (cutting a torn tail) or raises
  LogCorruptionError; never another exception, never a record that was not written;
* topology file: ``decode_topology`` returns or raises ValueError, ``TopologyStore.load``
  returns a topology or None (reported and ignored);
* broker info: ``decode_broker_info`` never raises and keeps only well-formed entries.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire_fuzz import (
    DECODER_SETTINGS,
    documents,
    flip,
    msgpack_values,
    pack,
    splice,
    truncate,
)
from trio_zeebe.log import LogCorruptionError, LogRecord, SegmentedLog
from trio_zeebe.log.record import encode_batch, scan
from trio_zeebe.log.segmented import segment_name
from trio_zeebe.membership.topology_store import (
    PersistedTopology,
    TopologyStore,
    decode_topology,
    encode_topology,
)
from trio_zeebe.partitions.broker_info import decode_broker_info
from trio_zeebe.partitions.distribution import PartitionDistribution, round_robin
from trio_zeebe.testing.disk import SimDisk

D = "/data/p1"

records = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 255), st.binary(max_size=40)),
    min_size=1,
    max_size=8,
)


def _records(spec: list[tuple[int, int, bytes]], first: int = 1) -> list[LogRecord]:
    term, out = 1, []
    for i, (bump, kind, data) in enumerate(spec):
        term += bump
        out.append(LogRecord(first + i, term, kind, data))
    return out


mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(
        st.just("splice"), st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(1, 30))
    ),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=40)),
)


def mutate(data: bytes, how: tuple[str, Any]) -> bytes:
    kind, arg = how
    if not data:
        return bytes(arg) if isinstance(arg, bytes) else b"\x00"
    if kind == "flip":
        return flip(data, arg)
    if kind == "truncate":
        return truncate(data, arg)
    if kind == "splice":
        return splice(data, data[::-1], *arg)
    return data + arg


@DECODER_SETTINGS
@given(buf=st.binary(max_size=200), first=st.integers(0, 2**64 - 1))
def test_scan_of_any_bytes_returns_or_reports_corruption(buf: bytes, first: int) -> None:
    try:
        result = scan(buf, first, "seg")
    except LogCorruptionError:
        return
    assert result.end <= len(buf) and len(result.records) == len(result.offsets)


@DECODER_SETTINGS
@given(spec=records, how=st.lists(mutations, min_size=1, max_size=3), split=st.integers(0, 8))
def test_a_damaged_log_recovers_a_prefix_or_reports_corruption(
    spec: list[tuple[int, int, bytes]], how: list[tuple[str, Any]], split: int
) -> None:
    written = _records(spec)
    split = min(split, len(written))
    disk = SimDisk()
    disk.makedirs(D)
    # One or two segments; the damage lands in the last one or in an older one.
    parts = [written[:split], written[split:]] if 0 < split < len(written) else [written]
    target = len(parts) - 1 if how[0][0] != "flip" or len(parts) == 1 else how[0][1] % len(parts)
    prev_term = 0
    for k, part in enumerate(parts):
        data, _, _ = encode_batch(part, part[0].index, prev_term)
        prev_term = part[-1].term
        if k == target:
            for h in how:
                data = mutate(data, h)
        handle = disk.open_append(f"{D}/{segment_name(part[0].index)}")
        handle.write(data)
        handle.close()
    try:
        log = SegmentedLog.open(disk, D)
    except LogCorruptionError:
        return
    recovered = log.entries()
    assert recovered == written[: len(recovered)]  # never a record that was not written
    log.append([LogRecord(log.last_index + 1, max(log.last_term, 1), 0, b"next")])
    log.close()


def _topology(members: list[tuple[int, int]], extra: Any) -> PersistedTopology:
    return PersistedTopology(
        "cluster", tuple((n, f"node-{n}:{p}") for n, p in members), {"x": extra}
    )


topologies = st.builds(
    _topology,
    st.lists(st.tuples(st.integers(0, 2**63 - 1), st.integers(1, 65535)), max_size=4),
    documents,
)


def _with_crc(body: bytes) -> bytes:
    # A body damaged and then given a matching checksum: exercises the parser, not the CRC.
    return encode_topology(PersistedTopology("c"))[:5] + zlib.crc32(body).to_bytes(4, "big") + body


def _load(disk: SimDisk, data: bytes) -> PersistedTopology | None:
    disk.makedirs("/d")
    handle = disk.open_append("/d/topology.meta")
    handle.truncate(0)
    handle.write(data)
    handle.close()
    return TopologyStore(disk, "/d").load()


@DECODER_SETTINGS
@given(topology=topologies, how=mutations, crc_fixed=st.booleans())
def test_a_damaged_topology_file_is_a_value_error(
    topology: PersistedTopology, how: tuple[str, Any], crc_fixed: bool
) -> None:
    good = encode_topology(topology)
    assert decode_topology(good) == topology
    bad = _with_crc(mutate(good[9:], how)) if crc_fixed else mutate(good, how)
    try:
        back = decode_topology(bad)
    except ValueError:
        back = None
    assert _load(SimDisk(), bad) == back


@DECODER_SETTINGS
@given(body=msgpack_values())
def test_any_topology_body_is_a_value_error_or_a_valid_topology(body: Any) -> None:
    for candidate in (
        body,
        {"cluster_name": "c", "members": body},
        {"cluster_name": "c", "extra": body},
    ):
        try:
            topology = decode_topology(_with_crc(pack(candidate)))
        except ValueError:
            continue
        assert all(n >= 0 for n, _ in topology.members)
        raw = topology.extra.get("distribution")
        if raw is not None:  # what the broker reads from it at start
            try:
                PartitionDistribution.from_dict(raw)
            except ValueError:
                pass


@DECODER_SETTINGS
@given(raw=msgpack_values())
def test_a_partition_distribution_from_any_structure_is_read_or_refused(raw: Any) -> None:
    good = round_robin(range(3), 3, 2).to_dict()
    for candidate in (raw, {**good, "partitions": raw}, {**good, "version": raw}):
        try:
            PartitionDistribution.from_dict(candidate)
        except ValueError:
            pass


@pytest.mark.parametrize(
    "members",
    [[[-1, "a:1"]], [[1, "[::1"]], [[1, "host:"]], [[1, "a" * 5000 + ":1"]], [[1.5, "a:1"]]],
)
def test_a_topology_file_with_a_bad_member_is_ignored(members: list[list[Any]]) -> None:
    data = _with_crc(pack({"cluster_name": "c", "members": members, "extra": {}}))
    with pytest.raises(ValueError, match="malformed body"):
        decode_topology(data)
    assert _load(SimDisk(), data) is None


@DECODER_SETTINGS
@given(
    props=st.dictionaries(
        st.sampled_from(["gateway", "partitions", "other"]) | st.text(max_size=4),
        st.text(max_size=40) | st.sampled_from(["1:L:4:H,2:F:9:U", "[::1]:26500", "h:0"]),
    )
)
def test_broker_info_from_any_properties_never_raises(props: dict[str, str]) -> None:
    info = decode_broker_info(props)
    ids = [p.partition_id for p in info.partitions]
    assert ids == sorted(set(ids))
    assert len(info.problems) <= 4


@DECODER_SETTINGS
@given(props=st.dictionaries(st.text(max_size=10), msgpack_values(5), max_size=4))
def test_broker_info_from_properties_of_any_type_never_raises(props: dict[str, Any]) -> None:
    decode_broker_info(props)
