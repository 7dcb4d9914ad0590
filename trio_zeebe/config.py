"""Broker configuration: one TOML tree of frozen attrs classes, with Zeebe's defaults.

Key names mirror Zeebe's broker configuration in snake_case (``cluster.node_id``,
``cluster.membership.probe_timeout``, ...). Durations are strings such as ``"250ms"``, ``"2.5s"``,
``"10m"`` (a bare number means seconds); sizes are strings such as ``"32KB"``, ``"128MB"`` (a bare
number means bytes). ``conf/broker.toml`` lists every key with its default.

One tree, one default per knob: a section that tunes one component *is* that component's config
class (``cluster.raft`` is :class:`~trio_zeebe.raft.config.RaftConfig`, ``cluster.membership``
:class:`~trio_zeebe.membership.config.SwimConfig`, ``data``
:class:`~trio_zeebe.partitions.config.DataConfig`; ``network.internal_api`` is
:class:`~trio_zeebe.transport.config.TransportConfig` plus its port), so the broker hands the
section over as it is and the component's defaults and checks (:mod:`trio_zeebe.knobs`) are
the only ones. Sections that only this module reads (``cluster``, ``network``, ``security``)
are declared here the same way; checks across sections (node id below the cluster size, ports
that differ, TLS files that exist and match) run once the tree is built.

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
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

import attrs
import cattrs

from .codec import converter
from .gateway.grpc_config import NEW_WORK_PARTITIONS, GrpcServerConfig
from .keys import MAX_PARTITION, PARTITION_BITS
from .knobs import DURATION, SIZE, UNIT, KnobError, duration, non_negative, number, port, size
from .membership.config import SwimConfig
from .partitions.config import DataConfig
from .raft.config import RaftConfig
from .tlsfiles import TlsFileError, check_ca, check_chain_and_key
from .transport.api import check_host, join_address, split_address
from .transport.config import TransportConfig
from .transport.frames import DEFAULT_MAX_FRAME_BYTES

if TYPE_CHECKING:
    from attrs import AttrsInstance

T = TypeVar("T", bound="AttrsInstance")

ENV_PREFIX = "TRIO_ZEEBE_BROKER_"
INTERNAL = "internal"
"""Field metadata key: not a TOML key (set by the loader)."""
REMOVED_KEYS = {
    "cluster.raft.request_timeout": (
        "removed: Raft's appends are one-way messages without a timeout; the snapshot "
        "transfer's is cluster.raft.snapshot_request_timeout"
    ),
}
"""Keys earlier versions accepted, with what to use instead."""


class ConfigError(ValueError):
    """Invalid configuration; str() is a single line naming the key path."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")


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


def _host(_instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value or attribute.name == "host":  # advertised_host may be empty: then host is used
        try:
            check_host(value)
        except ValueError as exc:
            raise KnobError(attribute.name, str(exc)) from None


def _new_work(_instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in NEW_WORK_PARTITIONS:
        choices = " or ".join(repr(c) for c in NEW_WORK_PARTITIONS)
        raise KnobError(attribute.name, f"must be {choices}, got {value!r}")


@attrs.frozen
class ClusterConfig:
    node_id: int = number(0, check=non_negative)
    cluster_size: int = number(1)
    partitions_count: int = number(1)
    replication_factor: int = number(1)
    cluster_name: str = "zeebe-cluster"
    initial_contact_points: tuple[str, ...] = ()
    membership: SwimConfig = attrs.field(factory=SwimConfig)
    raft: RaftConfig = attrs.field(factory=RaftConfig)


@attrs.frozen
class PortConfig:
    port: int = attrs.field(default=0, validator=port)


@attrs.frozen
class InternalApiConfig(TransportConfig):
    """The internal API (gossip, Raft and inter-partition traffic between brokers, mutual TLS):
    its port, and the transport's knobs."""

    port: int = attrs.field(default=26502, validator=port)


@attrs.frozen
class GatewayApiConfig(GrpcServerConfig):
    """The gateway (Zeebe's gRPC API for clients): its port, and the gRPC server's knobs."""

    port: int = attrs.field(default=26500, validator=port)


@attrs.frozen
class NetworkConfig:
    """Ports as Zeebe's: 26500 gateway, 26502 internal (gossip + Raft), 9600 monitoring.

    ``port_offset`` shifts every port by 10 x offset, as Zeebe's ``network.portOffset``.
    """

    host: str = attrs.field(default="127.0.0.1", validator=_host)
    advertised_host: str = attrs.field(default="", validator=_host)
    port_offset: int = number(0, check=non_negative)
    max_message_size: int = size(DEFAULT_MAX_FRAME_BYTES)
    internal_api: InternalApiConfig = InternalApiConfig()
    gateway: GatewayApiConfig = GatewayApiConfig()
    monitoring: PortConfig = PortConfig(9600)
    request_timeout: float = duration(15.0)
    """How long the gateway re-resolves and retries a job request before DEADLINE_EXCEEDED."""
    max_inflight_per_partition: int = number(4096)
    """Job commands a partition leader runs at once; more are refused as RESOURCE_EXHAUSTED."""
    new_work_partitions: str = attrs.field(default="round-robin", validator=_new_work)
    """Where the gateway creates new work (process instances, jobs): ``round-robin`` over
    all partitions as Zeebe's gateway does, or ``local-first``: round-robin over the
    partitions this broker leads, the others only when none is led here or all refuse.
    ``ActivateJobs`` asks the partitions in the same order. With clients spread over every
    broker's gateway, ``local-first`` keeps the partitions as even and saves each request
    (and each completion of a job activated here) a forward to another broker and back."""

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


def _log_format(_instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("text", "json"):
        raise KnobError(attribute.name, f"{value!r} is not a log format (use text or json)")


@attrs.frozen
class LoggingConfig:
    """How the broker logs (the level is a command-line flag / TRIO_ZEEBE_LOG_LEVEL).

    ``format``: ``text`` lines, or ``json`` (one object per line, for log collectors);
    ``--log-format`` and ``TRIO_ZEEBE_LOG_FORMAT`` take precedence.
    """

    format: str = attrs.field(default="text", validator=_log_format)


@attrs.frozen
class BrokerConfig:
    cluster: ClusterConfig = ClusterConfig()
    network: NetworkConfig = NetworkConfig()
    data: DataConfig = attrs.field(factory=DataConfig)
    security: SecurityConfig = SecurityConfig()
    logging: LoggingConfig = LoggingConfig()
    base_dir: str = attrs.field(default=".", metadata={INTERNAL: True})
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
    _apply_environment(raw, os.environ if environ is None else environ)
    return config_from_dict(raw, base_dir=base_dir)


def config_from_dict(raw: Mapping[str, Any], *, base_dir: str = ".") -> BrokerConfig:
    config = _build(BrokerConfig, raw, "", base_dir=base_dir)
    _check_semantics(config)
    return config


def config_keys(section: Any = None, prefix: str = "") -> dict[str, Any]:
    """Every TOML key of ``section`` (default: the whole tree) by dotted path, with its value
    there (in the default tree: its default)."""
    section = BrokerConfig() if section is None else section
    keys: dict[str, Any] = {}
    for f in attrs.fields(type(section)):
        if f.metadata.get(INTERNAL):
            continue
        value = getattr(section, f.name)
        if attrs.has(type(value)):
            keys.update(config_keys(value, f"{prefix}{f.name}."))
        else:
            keys[f"{prefix}{f.name}"] = value
    return keys


def _build(cls: type[T], raw: Any, prefix: str, **internal: Any) -> T:
    """The section ``cls`` from its raw table: unknown keys, wrong types and failed checks are
    errors naming the key path."""
    if not isinstance(raw, Mapping):
        where = prefix.rstrip(".") or "config"
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}")
    fields = {f.name: f for f in attrs.fields(cls) if not f.metadata.get(INTERNAL)}
    hints = get_type_hints(cls)
    values: dict[str, Any] = dict(internal)
    for key, value in raw.items():
        field = fields.get(key)
        path = f"{prefix}{key}"
        if field is None:
            raise ConfigError(f"{path}: unknown key{_unknown_hint(prefix, key, fields)}")
        if attrs.has(hints[key]):
            values[key] = _build(hints[key], value, f"{path}.")
        else:
            values[key] = _value(value, field, hints[key], path)
    try:
        return cls(**values)
    except KnobError as exc:
        raise ConfigError(f"{prefix}{exc.key}: {exc.problem}") from None


def _unknown_hint(prefix: str, key: str, fields: Mapping[str, Any]) -> str:
    if (removed := REMOVED_KEYS.get(f"{prefix}{key}")) is not None:
        return f" ({removed})"
    # A misspelt key must never be silently ignored: say which one was meant.
    close = difflib.get_close_matches(key, fields, n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def _value(value: Any, field: attrs.Attribute[Any], type_: Any, path: str) -> Any:
    unit = field.metadata.get(UNIT)
    try:
        if unit == DURATION:
            return parse_duration(value)
        if unit == SIZE:
            return parse_size(value)
        return converter.structure(value, type_)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except cattrs.BaseValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}") from None


def _first_error(exc: cattrs.BaseValidationError) -> str:
    for message in cattrs.transform_error(exc, path="$", format_exception=_format_exception):
        text, _, where = message.rpartition(" @ ")
        return f"{text} (at {where.removeprefix('$')})" if where != "$" else text
    return str(exc)


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return f"invalid value ({type(exc).__name__})"


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
    if c.partitions_count > MAX_PARTITION:
        raise ConfigError(
            f"cluster.partitions_count: at most {MAX_PARTITION} partitions "
            f"({PARTITION_BITS} bits of every key)"
        )
    if not c.cluster_name:
        raise ConfigError("cluster.cluster_name: must not be empty")
    for i, address in enumerate(c.initial_contact_points):
        try:
            split_address(address)
        except ValueError as exc:
            raise ConfigError(f"cluster.initial_contact_points[{i}]: {exc}") from None
    n = config.network
    for name, shifted in (
        ("internal_api", n.internal_port),
        ("gateway", n.gateway_port),
        ("monitoring", n.monitoring_port),
    ):
        if shifted > 65535:
            raise ConfigError(f"network.{name}.port: {shifted} (after port_offset) exceeds 65535")
    ports = [p for p in (n.internal_port, n.gateway_port, n.monitoring_port) if p]
    if len(set(ports)) != len(ports):
        raise ConfigError("network: internal_api, gateway and monitoring ports must differ")
    s = config.security
    if s.enabled:
        for key in ("certificate_authority", "certificate_chain", "private_key"):
            _check_file(config, f"security.{key}", getattr(s, key))
    g = s.gateway
    # security.enabled = false turns all TLS off: brokers talk plain TCP, the gateway h2c.
    if gateway_tls(config):
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
    if gateway_tls(config):
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


def gateway_tls(config: BrokerConfig) -> bool:
    """Whether the gateway serves TLS (else h2c): ``security.enabled`` and
    ``security.gateway.enabled`` both."""
    return config.security.enabled and config.security.gateway.enabled


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
