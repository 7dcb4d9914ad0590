"""Config parsing: defaults, durations/sizes, environment overrides, and every error path."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, get_type_hints

import attrs
import pytest
import trio

from trio_zeebe.broker import Broker
from trio_zeebe.config import (
    BrokerConfig,
    ConfigError,
    config_from_dict,
    config_keys,
    load_config,
    parse_duration,
    parse_size,
)
from trio_zeebe.knobs import DURATION, SIZE, UNIT
from trio_zeebe.membership.config import SwimConfig
from trio_zeebe.partitions.config import DataConfig
from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.transport.config import TransportConfig
from trio_zeebe.transport.tls import DevCerts

from .conftest import repo_root

NO_TLS = {"security": {"enabled": False, "gateway": {"enabled": False}}}


def cfg(**sections: object) -> BrokerConfig:
    return config_from_dict({**NO_TLS, **sections})


def error_of(raw: dict[str, object], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        if environ is None:
            config_from_dict(raw)
        else:
            from trio_zeebe.config import _apply_environment

            data = dict(raw)
            _apply_environment(data, environ)
            config_from_dict(data)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_are_zeebes() -> None:
    c = cfg()
    m, r = c.cluster.membership, c.cluster.raft
    assert (m.probe_interval, m.probe_timeout, m.suspect_probes) == (1.0, 0.1, 3)
    assert (m.failure_timeout, m.gossip_interval, m.gossip_fanout, m.sync_interval) == (
        10.0,
        0.25,
        2,
        10.0,
    )
    assert (m.broadcast_updates, m.broadcast_disputes) == (False, True)
    assert (r.heartbeat_interval, r.election_timeout, r.enable_priority_election) == (
        0.25,
        2.5,
        True,
    )
    assert (r.max_appends_per_follower, r.max_append_batch_size) == (2, 32 * 1024)
    n = c.network
    assert (n.gateway_port, n.internal_port, n.monitoring_port) == (26500, 26502, 9600)
    assert c.data.log_segment_size == 128 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("2.5s", 2.5), ("1m", 60.0), ("2h", 7200.0), (3, 3.0), ("10", 10.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["abc", "1 fortnight", "-1s", True, [1]])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [("32KB", 32768), ("4MiB", 4 << 20), ("1GB", 1 << 30), (100, 100), ("10b", 10), ("2k", 2000)],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_port_offset_shifts_every_port() -> None:
    n = cfg(network={"port_offset": 2}).network
    assert (n.gateway_port, n.internal_port, n.monitoring_port) == (26520, 26522, 9620)


def test_misspelt_key_names_path_and_suggests() -> None:
    message = error_of({**NO_TLS, "cluster": {"nodeid": 1}})
    assert message == "cluster.nodeid: unknown key (did you mean 'cluster.node_id'?)"


def test_unknown_section() -> None:
    assert error_of({**NO_TLS, "clutser": {}}).startswith("clutser: unknown key")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"cluster": {"node_id": "one"}}, "cluster.node_id: expected int, got str"),
        ({"cluster": {"node_id": True}}, "cluster.node_id: expected int, got bool"),
        ({"cluster": {"node_id": 3, "cluster_size": 3}}, "cluster.node_id: 3 must be less"),
        ({"cluster": {"replication_factor": 2}}, "cluster.replication_factor: 2 exceeds"),
        ({"cluster": {"cluster_size": 0}}, "cluster.cluster_size: must be greater than 0"),
        ({"network": {"gateway": {"port": 70000}}}, "network.gateway.port: port 70000 is out"),
        ({"network": {"gateway": {"port": 26502}}}, "network: internal_api, gateway"),
        (
            {"network": {"new_work_partitions": "nearest"}},
            "network.new_work_partitions: must be 'round-robin' or 'local-first', got 'nearest'",
        ),
        ({"cluster": {"membership": {"probe_timeout": "soon"}}}, "cluster.membership.probe_t"),
        ({"cluster": {"raft": {"heartbeat_interval": "3s"}}}, "cluster.raft.heartbeat_interval"),
        ({"cluster": {"initial_contact_points": ["nohost"]}}, "cluster.initial_contact_points[0]"),
        (
            {"cluster": {"initial_contact_points": "a:1"}},
            "cluster.initial_contact_points: expected a l",
        ),
        ({"cluster": 5}, "cluster: expected a table"),
        ({"data": {"log_segment_size": "lots"}}, "data.log_segment_size: expected a size"),
    ],
)
def test_invalid_values_name_the_key(raw: dict[str, object], expected: str) -> None:
    assert error_of({**NO_TLS, **raw}).startswith(expected)


def test_missing_certificate_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    raw = {
        "security": {
            "certificate_authority": str(tmp_path / "ca.pem"),
            "certificate_chain": str(tmp_path / "missing.pem"),
            "private_key": str(tmp_path / "ca.pem"),
        }
    }
    assert error_of(raw).startswith("security.certificate_chain: no such file:")


def test_tls_without_files_is_an_error() -> None:
    assert error_of({}).startswith("security.certificate_authority: required")


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("[cluster]\ncluster_size = 3\nnode_id = 0\n[security]\nenabled = false\n")
    env = {
        "TRIO_ZEEBE_BROKER_CLUSTER__NODE_ID": "2",
        "TRIO_ZEEBE_BROKER_CLUSTER__MEMBERSHIP__PROBE_TIMEOUT": "200ms",
        "TRIO_ZEEBE_BROKER_CLUSTER__INITIAL_CONTACT_POINTS": '["10.0.0.1:26502"]',
        "TRIO_ZEEBE_BROKER_SECURITY__GATEWAY__ENABLED": "false",
        "TRIO_ZEEBE_BROKER_CLUSTER__CLUSTER_NAME": "prod",
        "UNRELATED": "1",
    }
    c = load_config(path, environ=env)
    assert c.cluster.node_id == 2
    assert c.cluster.membership.probe_timeout == pytest.approx(0.2)
    assert c.cluster.initial_contact_points == ("10.0.0.1:26502",)
    assert c.cluster.cluster_name == "prod"


def test_environment_override_with_unknown_key() -> None:
    message = error_of(NO_TLS, {"TRIO_ZEEBE_BROKER_CLUSTER__NODEID": "1"})
    assert message.startswith("cluster.nodeid: unknown key")


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "b.toml"
    path.parent.mkdir()
    path.write_text(
        '[data]\ndirectory = "d"\n[security]\nenabled = false\n'
        "[security.gateway]\nenabled = false\n"
    )
    c = load_config(path, environ={})
    assert c.path(c.data.directory) == tmp_path / "sub" / "d"


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("[cluster\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    "name", ["broker.toml", "cluster-0.toml", "cluster-1.toml", "cluster-2.toml"]
)
def test_shipped_configs_parse(name: str, tmp_path: Path) -> None:
    """conf/ files are valid once certificates exist (TLS file checks switched off here)."""
    env = {
        "TRIO_ZEEBE_BROKER_SECURITY__ENABLED": "false",
        "TRIO_ZEEBE_BROKER_SECURITY__GATEWAY__ENABLED": "false",
    }
    c = load_config(repo_root() / "conf" / name, environ=env)
    assert c.cluster.cluster_size in (1, 3)


def test_cli_exits_2_with_one_line_for_a_misspelt_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[cluster]\nnode_idd = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "trio_zeebe", "node", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config error: cluster.node_idd: unknown key (did you mean 'cluster.node_id'?)"
    ]


@pytest.fixture
def bad_files(tmp_path: Path, dev_certs: DevCerts) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a certificate\n")
    # The node's key, password-protected: OpenSSL would prompt on the terminal for it.
    key = serialization.load_pem_private_key(dev_certs.nodes[0][1].read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return {
        "ca": str(dev_certs.ca),
        "chain": str(dev_certs.nodes[0][0]),
        "key": str(dev_certs.nodes[0][1]),
        "other_key": str(dev_certs.nodes[1][1]),
        "garbage": str(garbage),
        "encrypted": str(encrypted),
        "dir": str(tmp_path),
    }


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        (
            {"certificate_authority": "garbage"},
            "security.certificate_authority: {garbage}: not a PEM",
        ),
        ({"certificate_authority": "dir"}, "security.certificate_authority: no such file: {dir}"),
        ({"certificate_chain": "garbage"}, "security.certificate_chain: {garbage}: not a PEM"),
        ({"certificate_chain": "key"}, "security.certificate_chain: {key}: not a PEM"),
        ({"private_key": "garbage"}, "security.private_key: {garbage}: not a PEM private key"),
        (
            {"private_key": "other_key"},
            "security.private_key: {other_key}: the private key does not match the certificate "
            "in {chain}",
        ),
        ({"private_key": "encrypted"}, "security.private_key: {encrypted}: the private key is enc"),
        (
            {"gateway": {"private_key": "other_key"}},
            "security.gateway.private_key: {other_key}: the private key does not match",
        ),
        (
            {"gateway": {"client_auth": True, "certificate_authority": "garbage"}},
            "security.gateway.certificate_authority: {garbage}: not a PEM",
        ),
    ],
)
def test_unusable_tls_files_are_one_line_naming_the_key(
    bad_files: dict[str, str], security: dict[str, object], expected: str
) -> None:
    def resolve(section: dict[str, object]) -> dict[str, object]:
        return {
            k: resolve(v) if isinstance(v, dict) else bad_files.get(str(v), v)
            for k, v in section.items()
        }

    good = {
        "certificate_authority": bad_files["ca"],
        "certificate_chain": bad_files["chain"],
        "private_key": bad_files["key"],
    }
    assert config_from_dict({"security": good}).security.enabled  # the good files load
    message = error_of({"security": {**good, **resolve(security)}})
    assert message.startswith(expected.format(**bad_files)), message


# --- one tree: every knob of every component reachable from TOML ----------------------------


def leaf_fields(cls: type[Any] = BrokerConfig, prefix: str = "") -> dict[str, attrs.Attribute[Any]]:
    """Dotted TOML key -> the attrs field that declares it."""
    out: dict[str, attrs.Attribute[Any]] = {}
    hints = get_type_hints(cls)
    for f in attrs.fields(cls):
        if f.metadata.get("internal"):
            continue
        if attrs.has(hints[f.name]):
            out.update(leaf_fields(hints[f.name], f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = f
    return out


#: Keys whose changed value needs another key changed too to stay valid.
COMPANIONS: dict[str, dict[str, object]] = {
    "cluster.node_id": {"cluster.cluster_size": 2},
    "cluster.replication_factor": {"cluster.cluster_size": 2},
}
#: Keys that take one of a few words: another one.
CHOICES = {"logging.format": "json", "network.new_work_partitions": "local-first"}
#: Keys not changed here, and where they are tested instead.
NOT_CHANGED = {
    "security.enabled": "TLS on needs certificate files: test_unusable_tls_files_...",
    "security.gateway.enabled": "same",
}


def changed(key: str, field: attrs.Attribute[Any], default: object) -> tuple[object, object]:
    """(TOML value, the value the component must then see) different from the default."""
    unit = field.metadata.get(UNIT)
    if key in CHOICES:
        return CHOICES[key], CHOICES[key]
    if isinstance(default, bool):
        return not default, not default
    if unit == DURATION:
        assert isinstance(default, float)
        return f"{default * 500:g}ms", default / 2  # halved: "shorter than" rules still hold
    if unit == SIZE:
        assert isinstance(default, int)
        return f"{default // 1024 + 1}KB", (default // 1024 + 1) * 1024
    if isinstance(default, int):
        return default + 1, default + 1
    if isinstance(default, tuple):
        return ["127.0.0.1:1"], ("127.0.0.1:1",)
    assert isinstance(default, str), key
    value = "localhost" if key.endswith("host") else f"{default}-changed"
    return value, value


def nested(flat: dict[str, object]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key, value in flat.items():
        *sections, last = key.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = value
    return raw


def without_tls(flat: dict[str, object]) -> dict[str, object]:
    return {"security.enabled": False, "security.gateway.enabled": False, **flat}


@pytest.mark.parametrize("key", sorted(set(leaf_fields()) - set(NOT_CHANGED)))
def test_every_knob_is_reachable_from_toml(key: str) -> None:
    field, default = leaf_fields()[key], config_keys()[key]
    toml_value, expected = changed(key, field, default)
    c = config_from_dict(nested(without_tls({key: toml_value, **COMPANIONS.get(key, {})})))
    assert config_keys(c)[key] == expected != default


def test_sections_are_the_component_configs_the_broker_hands_over() -> None:
    c = cfg()
    assert type(c.cluster.raft) is RaftConfig
    assert type(c.cluster.membership) is SwimConfig
    assert type(c.data) is DataConfig
    assert isinstance(c.network.internal_api, TransportConfig)


async def test_a_running_broker_runs_with_the_knobs_of_its_file(tmp_path: Path) -> None:
    """The broker passes each section on as it is: what the file says is what runs."""
    raw = nested(
        without_tls(
            {
                "cluster.raft.pre_vote": False,
                "cluster.raft.snapshot_chunk_size": "64KB",
                "cluster.raft.enable_priority_election": False,
                "cluster.membership.tombstone_timeout": "45s",
                "network.internal_api.handshake_timeout": "500ms",
                "network.internal_api.port": 0,
                "network.gateway.port": 0,
                "network.monitoring.port": 0,
                "data.directory": str(tmp_path / "data"),
                "data.snapshot_entries": 77,
                "data.log_segment_size": "2MB",
            }
        )
    )
    config = config_from_dict(raw)
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(Broker(config).run)
        assert broker.transport is not None and broker.membership is not None
        assert broker.transport.config.handshake_timeout == 0.5
        assert broker.membership.core.config.tombstone_timeout == 45.0
        assert broker.partitions is not None
        driver = broker.partitions.driver(1)
        processor = broker.partitions.processor(1)
        assert driver is not None and processor is not None
        assert driver.config.pre_vote is False
        assert driver.timer is None  # no priority election timer
        assert driver.snapshot_transfer.chunk_bytes == 64 * 1024
        assert driver.segment_bytes == 2 * 1024 * 1024
        assert processor.snapshot_every == 77
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"cluster": {"raft": {"election_timeout": "0s"}}},
            "cluster.raft.election_timeout: must be greater than 0, got 0.0",
        ),
        (
            {"cluster": {"raft": {"heartbeat_interval": "3s"}}},
            "cluster.raft.heartbeat_interval: must be shorter than election_timeout",
        ),
        (
            {"cluster": {"raft": {"commit_notice_delay": -1}}},
            "cluster.raft.commit_notice_delay: a duration cannot be negative",
        ),
        (
            {"cluster": {"raft": {"pre_vote": "no"}}},
            "cluster.raft.pre_vote: expected bool, got str",
        ),
        (
            {"cluster": {"membership": {"gossip_fanout": 0}}},
            "cluster.membership.gossip_fanout: must be greater than 0, got 0",
        ),
        (
            {"cluster": {"membership": {"probe_timeout": "2s"}}},
            "cluster.membership.probe_timeout: must be shorter than probe_interval",
        ),
        (
            {"network": {"internal_api": {"keepalive": "20s"}}},
            "network.internal_api.keepalive: must be shorter than idle_timeout",
        ),
        (
            {"network": {"internal_api": {"port": -1}}},
            "network.internal_api.port: port -1 is out of range 0..65535",
        ),
        (
            {"network": {"internal_api": {"handshak_timeout": "1s"}}},
            "network.internal_api.handshak_timeout: unknown key (did you mean "
            "'network.internal_api.handshake_timeout'?)",
        ),
        (
            {"data": {"snapshot_entries": 0}},
            "data.snapshot_entries: must be greater than 0, got 0",
        ),
        (
            {"data": {"disk": {"free_space_replication": "lots"}}},
            "data.disk.free_space_replication: expected a size",
        ),
        ({"network": {"host": ""}}, "network.host: "),
        ({"cluster": {"partitions_count": 8192}}, "cluster.partitions_count: at most 8191"),
    ],
)
def test_component_checks_are_one_line_naming_the_key(
    raw: dict[str, object], expected: str
) -> None:
    assert error_of({**NO_TLS, **raw}).startswith(expected)


def test_a_removed_key_is_unknown_and_names_its_replacement() -> None:
    message = error_of({**NO_TLS, "cluster": {"raft": {"request_timeout": "2.5s"}}})
    assert message.startswith("cluster.raft.request_timeout: unknown key (removed:")
    assert "cluster.raft.snapshot_request_timeout" in message


def test_environment_reaches_the_component_knobs() -> None:
    env = {
        "TRIO_ZEEBE_BROKER_CLUSTER__RAFT__PRE_VOTE": "false",
        "TRIO_ZEEBE_BROKER_CLUSTER__RAFT__MAX_UNCOMMITTED_BYTES": "1MB",
        "TRIO_ZEEBE_BROKER_CLUSTER__MEMBERSHIP__DYNAMIC_SUSPICION": "false",
        "TRIO_ZEEBE_BROKER_NETWORK__INTERNAL_API__PARTIAL_FRAME_TIMEOUT": "3s",
        "TRIO_ZEEBE_BROKER_SECURITY__ENABLED": "false",
        "TRIO_ZEEBE_BROKER_SECURITY__GATEWAY__ENABLED": "false",
    }
    c = load_config(None, environ=env)
    assert c.cluster.raft.pre_vote is False
    assert c.cluster.raft.max_uncommitted_bytes == 1024 * 1024
    assert c.cluster.membership.dynamic_suspicion is False
    assert c.network.internal_api.partial_frame_timeout == 3.0
    message = error_of(NO_TLS, {"TRIO_ZEEBE_BROKER_CLUSTER__RAFT__PRE_VOTE": "maybe"})
    assert message == "cluster.raft.pre_vote: expected bool, got str"


#: Keys conf/broker.toml sets to something else than the default, on purpose.
SHIPPED_NOT_DEFAULT = {
    "data.directory",
    "security.certificate_authority",
    "security.certificate_chain",
    "security.private_key",
}


def test_conf_broker_toml_documents_every_key_with_its_default() -> None:
    raw = tomllib.loads((repo_root() / "conf" / "broker.toml").read_text())

    def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in table.items():
            if isinstance(value, dict):
                out.update(flatten(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    shipped = flatten(raw)
    assert sorted(shipped) == sorted(config_keys())
    # TLS off only so that the certificate files need not exist; the file says true (default).
    assert shipped["security.enabled"] is shipped["security.gateway.enabled"] is True
    raw["security"]["enabled"] = raw["security"]["gateway"]["enabled"] = False
    loaded, defaults = config_keys(config_from_dict(raw)), config_keys()
    differs = {k for k in defaults if loaded[k] != defaults[k]}
    assert differs == SHIPPED_NOT_DEFAULT | {"security.enabled", "security.gateway.enabled"}
