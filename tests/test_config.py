"""Config parsing: defaults, durations/sizes, environment overrides, and every error path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trio_zeebe.config import (
    BrokerConfig,
    ConfigError,
    config_from_dict,
    load_config,
    parse_duration,
    parse_size,
)
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
