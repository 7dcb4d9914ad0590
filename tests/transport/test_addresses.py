"""Peer addresses are checked strictly wherever they enter: config, the transport, gossip.

A host is an IPv4 address, an IPv6 address (in brackets inside ``host:port``) or a DNS name
(labels of 1-63 letters, digits and inner hyphens, at most 253 characters); a port is 1..65535
(0 only for binding). From config a bad address is a one-line error naming the key (exit 2);
from the network it is a dropped message with a counter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.transport.conftest import Certs, Note, make, running
from trio_zeebe import codec
from trio_zeebe.config import ConfigError, config_from_dict
from trio_zeebe.membership.messages import Member
from trio_zeebe.transport.api import NotSent, check_host, join_address, split_address

BAD_ADDRESSES = [
    "[::1",  # unbalanced bracket
    "::1]:80",
    "host:",  # no port
    ":80",  # no host
    "host",
    "h" * 5000 + ":1",  # far too long
    "a" * 64 + ":1",  # a label longer than 63
    ".".join(["a" * 63] * 4) + ":1",  # 255 characters
    "::1:80",  # IPv6 without brackets
    "[1.2.3.4]:80",  # brackets around IPv4
    "256.1.1.1:80",
    "1.2.3:80",
    "-host:80",
    "host-:80",
    "ho_st:80",
    "ho st:80",
    "h\u00e9:80",
    "a..b:80",
    "host:0",
    "host:65536",
    "host:-1",
    "host:8O",
    "host:1:2",
]
GOOD_ADDRESSES = {
    "127.0.0.1:26502": ("127.0.0.1", 26502),
    "[::1]:26502": ("::1", 26502),
    "[fe80::1%eth0]:1": ("fe80::1%eth0", 1),
    "localhost:65535": ("localhost", 65535),
    "zeebe-0.zeebe-broker.default.svc.cluster.local:26502": (
        "zeebe-0.zeebe-broker.default.svc.cluster.local",
        26502,
    ),
    "node-1:1": ("node-1", 1),
    "1a.example:80": ("1a.example", 80),
    ".".join(["a" * 63] * 3) + "." + "b" * 61 + ":9": (
        ".".join(["a" * 63] * 3) + "." + "b" * 61,
        9,
    ),
}


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="address") as info:
        split_address(address)
    assert len(str(info.value)) < 200 and "\n" not in str(info.value)


@pytest.mark.parametrize(("address", "parts"), GOOD_ADDRESSES.items())
def test_well_formed_addresses_split_and_join_back(address: str, parts: tuple[str, int]) -> None:
    assert split_address(address) == parts
    assert join_address(*parts) == address


def test_port_zero_only_where_binding_allows_it() -> None:
    assert split_address("127.0.0.1:0", allow_port_zero=True) == ("127.0.0.1", 0)
    assert join_address("127.0.0.1", 0) == "127.0.0.1:0"
    with pytest.raises(ValueError, match="port"):
        join_address("127.0.0.1", 65536)
    with pytest.raises(ValueError):
        join_address("[::1", 1)


def test_bare_ipv6_is_a_host_but_not_an_address() -> None:
    assert check_host("::1") == "::1"
    with pytest.raises(ValueError):
        check_host("")


@pytest.mark.parametrize("address", ["[::1", "host:", ":80", "h" * 5000 + ":1"])
def test_a_bad_contact_point_is_a_one_line_config_error(address: str) -> None:
    raw = {
        "security": {"enabled": False, "gateway": {"enabled": False}},
        "cluster": {"initial_contact_points": ["127.0.0.1:26502", address]},
    }
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    message = str(info.value)
    assert message.startswith("cluster.initial_contact_points[1]: address ")
    assert "\n" not in message and len(message) < 250


@pytest.mark.parametrize("key", ["advertised_host", "host"])
@pytest.mark.parametrize("host", ["[::1", "host:", "h" * 300, "-x", "a b", "256.0.0.1"])
def test_a_bad_host_is_a_one_line_config_error(key: str, host: str) -> None:
    raw = {
        "security": {"enabled": False, "gateway": {"enabled": False}},
        "network": {key: host},
    }
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert str(info.value).startswith(f"network.{key}: host")
    assert "\n" not in str(info.value)


def test_hosts_that_are_fine_in_config() -> None:
    base = {"security": {"enabled": False, "gateway": {"enabled": False}}}
    for host in ["0.0.0.0", "::", "::1", "broker-0.example", "10.1.2.3"]:
        c = config_from_dict({**base, "network": {"host": "127.0.0.1", "advertised_host": host}})
        assert split_address(c.internal_address) == (host, 26502)


def test_the_cli_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[cluster]\ninitial_contact_points = ["[::1"]\n'
        "[security]\nenabled = false\n[security.gateway]\nenabled = false\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "trio_zeebe", "node", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "config error: cluster.initial_contact_points[0]: address '[::1'"
    )


async def test_the_transport_drops_messages_to_a_malformed_address(certs: Certs) -> None:
    a = make(certs, 0)
    async with running(a):
        for address in ["[::1", "host:", "h" * 5000 + ":1"]:
            a.send(address, Note(1))
            with pytest.raises(NotSent, match="address"):
                await a.request(address, Note(2), timeout=1)
        stats = a.stats()
        assert stats["dropped_bad_address"] == 6
        assert stats.get("dial_failures", 0) == 0  # nothing was dialled


def test_a_member_record_takes_only_a_valid_address() -> None:
    assert Member(1, "[::1]:26502", 1).address == "[::1]:26502"
    with pytest.raises(ValueError):
        Member(1, "[::1", 1)
    gossip = ["m.gossip", {"source": {"node_id": 1, "address": "host:", "incarnation": 1}}]
    with pytest.raises(codec.DecodeError, match="source: ValueError: address 'host:'"):
        codec.from_wire([gossip[0], {**gossip[1], "updates": []}])
