"""Broker configuration: TOML -> frozen attrs classes, with Zeebe's defaults.

Key names mirror Zeebe's broker configuration in snake_case (``cluster.node_id``,
``cluster.membership.probe_timeout``, ...). Durations are strings such as ``"250ms"``, ``"2.5s"``,
``"10m"`` (a bare number means seconds); sizes are strings such as ``"32KB"``, ``"128MB"`` (a bare
number means bytes).

Every key can be overridden from the environment: ``TRIO_ZEEBE_BROKER_`` + the key path in
upper case with ``__`` between sections, e.g. ``TRIO_ZEEBE_BROKER_CLUSTER__NODE_ID=2`` or
``TRIO_ZEEBE_BROKER_CLUSTER__MEMBERSHIP__PROBE_TIMEOUT=200ms``. The value is read as a TOML value
when it parses as one (``3``, ``true``, ``["127.0.0.1:26502"]``), else as a plain string.

Anything wrong raises :class:`ConfigError` whose message is one line naming the key path.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NewType, get_type_hints

import attrs
import cattrs

from .codec import converter
from .tlsfiles import TlsFileError, check_ca, check_chain_and_key
from .transport.api import check_host, join_address, split_address

Duration = NewType("Duration", float)
"""Seconds, written in config files as "250ms", "2.5s", "1m"."""
ByteSize = NewType("ByteSize", int)
"""Bytes, written in config files as "32KB", "4MiB", "1GB"."""

ENV_PREFIX = "TRIO_ZEEBE_BROKER_"


class ConfigError(ValueError):
    """Invalid configuration; str() is a single line naming the key path."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def parse_duration(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '250ms' or '2.5s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as '250ms' or '2.5s', got {value!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_size(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a size such as '32KB' or '4MiB'")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        unit = (m.group(2) or "").lower()
        base = 1024 if "i" in unit else 1000
        # "KB" is commonly meant as KiB in broker configs (Zeebe: 32KB = 32768); follow that.
        if unit.endswith("b") and len(unit) == 2:
            base = 1024
        power = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3}[unit[:1]]
        size = int(float(m.group(1)) * base**power)
    else:
        raise ValueError(f"expected a size such as '32KB' or '4MiB', got {value!r}")
    if size < 0:
        raise ValueError("a size cannot be negative")
    return size


converter.register_structure_hook(Duration, lambda v, _: Duration(parse_duration(v)))
converter.register_structure_hook(ByteSize, lambda v, _: ByteSize(parse_size(v)))


# Range checks live in field metadata and run after structuring, so that the error can name the
# full key path (an attrs validator only knows its own class).
def _port(value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port {value} is out of range 0..65535")


def _positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value}")


def _non_negative(value: float) -> None:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")


def _host(value: str) -> None:
    check_host(value)


def _optional_host(value: str) -> None:
    if value:
        check_host(value)


_port_field = {"check": _port}
_positive_field = {"check": _positive}
_non_negative_field = {"check": _non_negative}


@attrs.frozen
class MembershipConfig:
    """SWIM membership; defaults are Zeebe's broker defaults (reference §1.1)."""

    broadcast_updates: bool = False
    broadcast_disputes: bool = True
    notify_suspect: bool = True
    gossip_interval: Duration = attrs.field(default=Duration(0.25), metadata=_positive_field)
    gossip_fanout: int = attrs.field(default=2, metadata=_positive_field)
    probe_interval: Duration = attrs.field(default=Duration(1.0), metadata=_positive_field)
    probe_timeout: Duration = attrs.field(default=Duration(0.1), metadata=_positive_field)
    suspect_probes: int = attrs.field(default=3, metadata=_positive_field)
    failure_timeout: Duration = attrs.field(default=Duration(10.0), metadata=_positive_field)
    sync_interval: Duration = attrs.field(default=Duration(10.0), metadata=_positive_field)


@attrs.frozen
class RaftConfig:
    """Raft per partition; defaults are Zeebe's (reference §3.1)."""

    heartbeat_interval: Duration = attrs.field(default=Duration(0.25), metadata=_positive_field)
    election_timeout: Duration = attrs.field(default=Duration(2.5), metadata=_positive_field)
    enable_priority_election: bool = True
    max_appends_per_follower: int = attrs.field(default=2, metadata=_positive_field)
    max_append_batch_size: ByteSize = attrs.field(
        default=ByteSize(32 * 1024), metadata=_positive_field
    )
    request_timeout: Duration = attrs.field(default=Duration(2.5), metadata=_positive_field)


@attrs.frozen
class ClusterConfig:
    node_id: int = attrs.field(default=0, metadata=_non_negative_field)
    cluster_size: int = attrs.field(default=1, metadata=_positive_field)
    partitions_count: int = attrs.field(default=1, metadata=_positive_field)
    replication_factor: int = attrs.field(default=1, metadata=_positive_field)
    cluster_name: str = "zeebe-cluster"
    initial_contact_points: tuple[str, ...] = ()
    membership: MembershipConfig = MembershipConfig()
    raft: RaftConfig = RaftConfig()


@attrs.frozen
class PortConfig:
    port: int = attrs.field(default=0, metadata=_port_field)


@attrs.frozen
class NetworkConfig:
    """Ports as Zeebe's: 26500 gateway, 26502 internal (gossip + Raft), 9600 monitoring.

    ``port_offset`` shifts every port by 10 x offset, as Zeebe's ``network.portOffset``.
    """

    host: str = attrs.field(default="127.0.0.1", metadata={"check": _host})
    advertised_host: str = attrs.field(default="", metadata={"check": _optional_host})
    port_offset: int = attrs.field(default=0, metadata=_non_negative_field)
    max_message_size: ByteSize = attrs.field(
        default=ByteSize(4 * 1024 * 1024), metadata=_positive_field
    )
    internal_api: PortConfig = PortConfig(26502)
    gateway: PortConfig = PortConfig(26500)
    monitoring: PortConfig = PortConfig(9600)
    request_timeout: Duration = attrs.field(default=Duration(15.0), metadata=_positive_field)
    """How long the gateway re-resolves and retries a job request before DEADLINE_EXCEEDED."""
    max_inflight_per_partition: int = attrs.field(default=4096, metadata=_positive_field)
    """Job commands a partition leader runs at once; more are refused as RESOURCE_EXHAUSTED."""

    @property
    def advertised(self) -> str:
        return self.advertised_host or self.host

    def _shift(self, port: int) -> int:
        return port + 10 * self.port_offset if port else 0

    @property
    def internal_port(self) -> int:
        return self._shift(self.internal_api.port)

    @property
    def gateway_port(self) -> int:
        return self._shift(self.gateway.port)

    @property
    def monitoring_port(self) -> int:
        return self._shift(self.monitoring.port)


@attrs.frozen
class DiskConfig:
    """After a partition failed on a full disk it restarts only once this much space is free
    (Zeebe's ``data.disk.freeSpace.replication``)."""

    free_space_replication: ByteSize = attrs.field(
        default=ByteSize(1024**3), metadata=_non_negative_field
    )


@attrs.frozen
class DataConfig:
    directory: str = "data"
    log_segment_size: ByteSize = attrs.field(
        default=ByteSize(128 * 1024 * 1024), metadata=_positive_field
    )
    snapshot_period: Duration = attrs.field(default=Duration(300.0), metadata=_positive_field)
    snapshot_entries: int = attrs.field(default=10_000, metadata=_positive_field)
    """Also snapshot after this many log entries were applied since the last snapshot."""
    disk: DiskConfig = DiskConfig()


@attrs.frozen
class GatewaySecurityConfig:
    """TLS for clients on the gateway port: server-authenticated by default.

    Certificate and key default to the broker's own; ``client_auth`` additionally requires client
    certificates signed by ``certificate_authority`` (default: the cluster CA).
    """

    enabled: bool = True
    certificate_chain: str = ""
    private_key: str = ""
    client_auth: bool = False
    certificate_authority: str = ""


@attrs.frozen
class SecurityConfig:
    """Mutual TLS between brokers. Disabling it is for experiments only (warned at startup)."""

    enabled: bool = True
    certificate_authority: str = ""
    certificate_chain: str = ""
    private_key: str = ""
    gateway: GatewaySecurityConfig = GatewaySecurityConfig()


def _log_format(value: str) -> None:
    if value not in ("text", "json"):
        raise ValueError(f"{value!r} is not a log format (use text or json)")


@attrs.frozen
class LoggingConfig:
    """How the broker logs (the level is a command-line flag / TRIO_ZEEBE_LOG_LEVEL).

    ``format``: ``text`` lines, or ``json`` (one object per line, for log collectors);
    ``--log-format`` and ``TRIO_ZEEBE_LOG_FORMAT`` take precedence.
    """

    format: str = attrs.field(default="text", metadata={"check": _log_format})


@attrs.frozen
class BrokerConfig:
    cluster: ClusterConfig = ClusterConfig()
    network: NetworkConfig = NetworkConfig()
    data: DataConfig = DataConfig()
    security: SecurityConfig = SecurityConfig()
    logging: LoggingConfig = LoggingConfig()
    base_dir: str = attrs.field(default=".", metadata={"internal": True})
    """Directory that relative paths in the file are resolved against (the file's directory)."""

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def internal_address(self) -> str:
        return join_address(self.network.advertised, self.network.internal_port)

    @property
    def gateway_address(self) -> str:
        return join_address(self.network.advertised, self.network.gateway_port)


# --- loading -------------------------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> BrokerConfig:
    """Read a TOML file (optional), apply environment overrides, validate."""
    raw: dict[str, Any] = {}
    base_dir = "."
    if path is not None:
        file = Path(path)
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{file}: no such config file") from None
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        base_dir = str(file.resolve().parent)
    if "base_dir" in raw:
        raise ConfigError("base_dir: unknown key")
    _apply_environment(raw, os.environ if environ is None else environ)
    return config_from_dict(raw, base_dir=base_dir)


def config_from_dict(raw: Mapping[str, Any], *, base_dir: str = ".") -> BrokerConfig:
    _check_keys(raw, BrokerConfig, "")
    try:
        config = converter.structure({**raw, "base_dir": base_dir}, BrokerConfig)
    except cattrs.ClassValidationError as exc:
        raise ConfigError(_first_error(exc)) from None
    _run_checks(config, "")
    _check_semantics(config)
    return config


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        key = ".".join(parts)
        if not all(parts):
            raise ConfigError(f"{name}: malformed environment override")
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{key}: environment override {name} targets a non-table")
            node = child
        node[parts[-1]] = _env_value(environ[name])


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _check_keys(raw: Mapping[str, Any], cls: type[Any], prefix: str) -> None:
    """Unknown keys are errors (a misspelt key must never be silently ignored)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table")
    hints = get_type_hints(cls)
    known = {f.name for f in attrs.fields(cls) if not f.metadata.get("internal")}
    for key, value in raw.items():
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f" (did you mean '{prefix}{hint[0]}'?)" if hint else ""
            raise ConfigError(f"{prefix}{key}: unknown key{suggestion}")
        field_type = hints[key]
        if attrs.has(field_type):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{prefix}{key}: expected a table, got {type(value).__name__}")
            _check_keys(value, field_type, f"{prefix}{key}.")


def _run_checks(obj: Any, prefix: str) -> None:
    for f in attrs.fields(type(obj)):
        value = getattr(obj, f.name)
        check = f.metadata.get("check")
        if check is not None:
            try:
                check(value)
            except ValueError as exc:
                raise ConfigError(f"{prefix}{f.name}: {exc}") from None
        if attrs.has(type(value)):
            _run_checks(value, f"{prefix}{f.name}.")


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required key is missing"
    return f"invalid value ({type(exc).__name__})"


def _first_error(exc: cattrs.ClassValidationError) -> str:
    for message in cattrs.transform_error(exc, path="$", format_exception=_format_exception):
        text, _, where = message.rpartition(" @ ")
        key = where.removeprefix("$").lstrip(".") or "config"
        return f"{key}: {text}"
    return str(exc)


def _check_semantics(config: BrokerConfig) -> None:
    c = config.cluster
    if c.node_id >= c.cluster_size:
        raise ConfigError(
            f"cluster.node_id: {c.node_id} must be less than "
            f"cluster.cluster_size ({c.cluster_size})"
        )
    if c.replication_factor > c.cluster_size:
        raise ConfigError(
            f"cluster.replication_factor: {c.replication_factor} exceeds "
            f"cluster.cluster_size ({c.cluster_size})"
        )
    if c.partitions_count > 8192:
        raise ConfigError("cluster.partitions_count: at most 8192 partitions (13 key bits)")
    if not c.cluster_name:
        raise ConfigError("cluster.cluster_name: must not be empty")
    for i, address in enumerate(c.initial_contact_points):
        try:
            split_address(address)
        except ValueError as exc:
            raise ConfigError(f"cluster.initial_contact_points[{i}]: {exc}") from None
    r = c.raft
    if r.heartbeat_interval >= r.election_timeout:
        raise ConfigError(
            "cluster.raft.heartbeat_interval: must be shorter than cluster.raft.election_timeout"
        )
    m = c.membership
    if m.probe_timeout >= m.probe_interval:
        raise ConfigError(
            "cluster.membership.probe_timeout: must be shorter than "
            "cluster.membership.probe_interval"
        )
    n = config.network
    for name, port in (
        ("internal_api", n.internal_port),
        ("gateway", n.gateway_port),
        ("monitoring", n.monitoring_port),
    ):
        if port > 65535:
            raise ConfigError(f"network.{name}.port: {port} (after port_offset) exceeds 65535")
    ports = [p for p in (n.internal_port, n.gateway_port, n.monitoring_port) if p]
    if len(set(ports)) != len(ports):
        raise ConfigError("network: internal_api, gateway and monitoring ports must differ")
    s = config.security
    if s.enabled:
        for key in ("certificate_authority", "certificate_chain", "private_key"):
            _check_file(config, f"security.{key}", getattr(s, key))
    g = s.gateway
    if g.enabled:
        _check_file(
            config, "security.gateway.certificate_chain", g.certificate_chain or s.certificate_chain
        )
        _check_file(config, "security.gateway.private_key", g.private_key or s.private_key)
        if g.client_auth:
            _check_file(
                config,
                "security.gateway.certificate_authority",
                g.certificate_authority or s.certificate_authority,
            )
    # Every file exists; now what is in them (a garbage or mismatched file must be one line
    # here, not an ssl traceback when the listeners start).
    if s.enabled:
        _check_ca(config, "security.certificate_authority", s.certificate_authority)
        _check_pair(
            config,
            ("security.certificate_chain", s.certificate_chain),
            ("security.private_key", s.private_key),
        )
    if g.enabled:
        chain_file = ("security.gateway.certificate_chain", g.certificate_chain)
        if not g.certificate_chain:
            chain_file = ("security.certificate_chain", s.certificate_chain)
        key_file = ("security.gateway.private_key", g.private_key)
        if not g.private_key:
            key_file = ("security.private_key", s.private_key)
        if not s.enabled or g.certificate_chain or g.private_key:  # else checked just above
            _check_pair(config, chain_file, key_file)
        if g.client_auth and (g.certificate_authority or not s.enabled):
            ca_key = "security.gateway.certificate_authority"
            if not g.certificate_authority:
                ca_key = "security.certificate_authority"
            _check_ca(config, ca_key, g.certificate_authority or s.certificate_authority)


def _check_file(config: BrokerConfig, key: str, value: str) -> None:
    if not value:
        raise ConfigError(
            f"{key}: required when TLS is enabled (or set the 'enabled' key to false)"
        )
    path = config.path(value)
    if not path.is_file():
        raise ConfigError(f"{key}: no such file: {path}")


def _check_ca(config: BrokerConfig, key: str, value: str) -> None:
    try:
        check_ca(config.path(value))
    except TlsFileError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _check_pair(config: BrokerConfig, chain: tuple[str, str], key: tuple[str, str]) -> None:
    try:
        check_chain_and_key(config.path(chain[1]), config.path(key[1]))
    except TlsFileError as exc:
        raise ConfigError(f"{chain[0] if exc.role == 'chain' else key[0]}: {exc}") from None


def gateway_tls_files(config: BrokerConfig) -> tuple[Path, Path, Path | None]:
    """(chain, key, client CA or None) for the gateway listener, defaults resolved."""
    s = config.security
    g = s.gateway
    ca = config.path(g.certificate_authority or s.certificate_authority) if g.client_auth else None
    return (
        config.path(g.certificate_chain or s.certificate_chain),
        config.path(g.private_key or s.private_key),
        ca,
    )


def dump_toml(config: BrokerConfig) -> dict[str, Any]:
    """The config as a TOML-ready dict (durations in seconds, sizes in bytes)."""
    data = converter.unstructure(config)
    data.pop("base_dir", None)
    return _tuples_to_lists(data)  # type: ignore[no-any-return]


def _tuples_to_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _tuples_to_lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tuples_to_lists(v) for v in value]
    return value
