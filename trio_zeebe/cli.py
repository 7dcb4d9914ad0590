"""Command line: ``python -m trio_zeebe`` (or the ``trio-zeebe`` script) ``node|status|rebalance|
job|deploy|create|cancel|publish|evaluate|set|resolve|certs|dev-cluster``.

Each sub-command is a thin wrapper: the broker, client and dev cluster live in their modules;
``status``/``rebalance`` in :mod:`trio_zeebe.cli_cluster`, ``job ...`` in
:mod:`trio_zeebe.cli_job`, the process commands (``deploy``, ``create instance``, ...) in
:mod:`trio_zeebe.cli_process`, logging setup in :mod:`trio_zeebe.logs`. Flag names follow
zbctl's where zbctl has the same thing (``--certPath``, ``--requestTimeout``,
``--errorMessage``, ... are accepted as aliases). Exit codes: 0 success; 1 runtime failure (a
request refused or timed out, an unhealthy cluster in ``status``, a broker that died); 2 what
the operator must fix: bad flags, config or certificate files, a gateway address nothing
answers on or that speaks the other TLS mode, a data directory in use. Every error is one line
on stderr (argparse adds its usage line), never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .cli_cluster import format_topology, mark_stale_leaders
from .config import ConfigError, load_config, parse_duration
from .logs import (
    ENV_LOG_FORMAT,
    ENV_LOG_LEVEL,
    LOG_FORMATS,
    LOG_LEVELS,
    check_format,
    check_level,
    setup_logging,
)

__all__ = ["format_topology", "main", "mark_stale_leaders", "program_name"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_CLIENT_TIMEOUT = 10.0
DEFAULT_PROG = "trio-zeebe"
MODULE_PROG = "python -m trio_zeebe"


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run one command; its exit code. ``prog`` is how the user invoked us (the usage lines
    and hints name it); ``python -m trio_zeebe`` passes its own, the console script derives it
    from ``sys.argv[0]``."""
    prog = prog or program_name()
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        code = 130
    return code


def program_name(argv0: str | None = None) -> str:
    """The name the console script was started by (``trio-zeebe``), from ``sys.argv[0]``."""
    if argv0 is None:
        argv0 = sys.argv[0] if sys.argv else ""
    name = os.path.basename(argv0).removesuffix(".exe")
    if name == "__main__.py":
        return MODULE_PROG
    if not name or name.startswith("-") or name.endswith(".py"):
        return DEFAULT_PROG
    return name


def build_parser(prog: str = DEFAULT_PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A Zeebe-style clustered broker on Trio.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    parser.set_defaults(prog=prog)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    node = sub.add_parser("node", help="run one broker")
    node.add_argument("--config", "-c", metavar="FILE", help="broker TOML file (see conf/)")
    node.add_argument(
        "--log-level",
        # argparse converts a string default with ``type`` but checks ``choices`` only for
        # values given on the command line: the type checks the environment's value too.
        type=_log_level,
        choices=LOG_LEVELS,
        default=os.environ.get(ENV_LOG_LEVEL, "INFO"),
        help=f"least severe level logged (env {ENV_LOG_LEVEL}; default INFO)",
    )
    _add_log_format(node, "log line format (default: the config's logging.format, text)")
    node.set_defaults(handler=_cmd_node)

    from .cli_cluster import add_cluster_parsers
    from .cli_job import add_job_parser
    from .cli_process import add_process_parsers

    add_cluster_parsers(sub, _add_client_arguments, _client_settings, add_output_arguments)
    add_job_parser(sub, _add_client_arguments, _client_settings, add_output_arguments)
    add_process_parsers(sub, _add_client_arguments, _client_settings, add_output_arguments)

    certs = sub.add_parser(
        "certs", help="write a DEVELOPMENT CA plus broker and client certificates"
    )
    certs.add_argument("directory", help="where to write ca.pem, node-N.pem/.key, client.pem/.key")
    certs.add_argument(
        "--nodes", type=int, default=3, help="how many broker certificates (default 3)"
    )
    certs.add_argument(
        "--host",
        action="append",
        default=None,
        help="host name / IP the certificates are valid for (repeatable; default: loopback)",
    )
    certs.set_defaults(handler=_cmd_certs)

    dev = sub.add_parser("dev-cluster", help="start a local cluster of broker processes")
    dev.add_argument("--brokers", type=int, default=3, help="broker processes (default 3)")
    dev.add_argument("--partitions", type=int, default=3, help="partitions (default 3)")
    dev.add_argument(
        "--replication-factor",
        type=int,
        default=3,
        help="replicas of each partition, at most --brokers (default 3)",
    )
    dev.add_argument("--dir", default="dev-cluster", help="configs, certificates, data, logs")
    dev.add_argument("--json", action="store_true", help="one JSON line per broker once all are up")
    dev.add_argument(
        "--no-tls",
        "--insecure",
        dest="no_tls",
        action="store_true",
        help="no TLS: plain TCP between brokers, h2c gRPC for clients (zbctl --insecure)",
    )
    dev.add_argument(
        "--ports",
        choices=("free", "zeebe"),
        default="free",
        help="free loopback ports (default), or Zeebe's 26500/26502/9600 shifted by "
        "network.port_offset per broker (10 per broker)",
    )
    _add_log_format(dev, "format of the brokers' logs and of this command's own (default text)")
    dev.set_defaults(handler=_cmd_dev_cluster)
    return parser


def _add_log_format(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument(
        "--log-format",
        type=_log_format,
        choices=LOG_FORMATS,
        default=os.environ.get(ENV_LOG_FORMAT) or None,
        help=f"{help_text}; json: one object per line (env {ENV_LOG_FORMAT})",
    )


class _OutputAction(argparse.Action):
    """zbctl's ``-o/--output human|json``, the same switch as ``--json``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values == "json")


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (one JSON object)")
    p.add_argument(
        "-o",
        "--output",
        dest="json",
        choices=("human", "json"),
        action=_OutputAction,
        default=argparse.SUPPRESS,
        help="zbctl's spelling: -o json is --json",
    )


def _add_client_arguments(
    p: argparse.ArgumentParser,
    *,
    timeout_flags: Sequence[str] = ("--timeout", "--request-timeout", "--requestTimeout"),
) -> None:
    """The gateway connection flags; ``timeout_flags`` name the request timeout (none for
    ``job activate``, whose --timeout is the lease and --request-timeout the long poll)."""
    env = os.environ.get
    p.add_argument(
        "--address",
        default=env("TRIO_ZEEBE_ADDRESS", "127.0.0.1:26500"),
        help="gateway host:port, comma-separated for fail-over (env TRIO_ZEEBE_ADDRESS)",
    )
    p.add_argument(
        "--ca",
        "--certPath",
        dest="ca",
        metavar="FILE",
        default=env("TRIO_ZEEBE_CA_CERTIFICATE_PATH"),
        help="CA certificate to verify the gateway (env TRIO_ZEEBE_CA_CERTIFICATE_PATH)",
    )
    # Not dest "key"/"cert": ``job complete KEY`` has a positional job key of that name.
    p.add_argument(
        "--cert",
        dest="client_cert",
        metavar="FILE",
        default=env("TRIO_ZEEBE_CLIENT_CERTIFICATE_PATH"),
        help="client certificate, if the gateway asks (env TRIO_ZEEBE_CLIENT_CERTIFICATE_PATH)",
    )
    p.add_argument(
        "--key",
        dest="client_key",
        metavar="FILE",
        default=env("TRIO_ZEEBE_CLIENT_KEY_PATH"),
        help="the client certificate's private key (env TRIO_ZEEBE_CLIENT_KEY_PATH)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        default=env("TRIO_ZEEBE_INSECURE_CONNECTION", "").lower() in ("1", "true", "yes"),
        help="plain TCP without TLS (env TRIO_ZEEBE_INSECURE_CONNECTION)",
    )
    if timeout_flags:
        p.add_argument(
            *timeout_flags,
            dest="client_timeout",
            metavar="DURATION",
            default=f"{DEFAULT_CLIENT_TIMEOUT:g}s",
            help=(
                "how long a request may take, failover included, e.g. 10s or 500ms; a bare "
                f"number is seconds (default {DEFAULT_CLIENT_TIMEOUT:g}s)"
            ),
        )
        p.set_defaults(client_timeout_flag=timeout_flags[0])


def _log_level(text: str) -> str:
    try:
        return check_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; also checked in {ENV_LOG_LEVEL}") from None


def _log_format(text: str) -> str:
    try:
        return check_format(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; also checked in {ENV_LOG_FORMAT}") from None


def _cmd_node(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(
        args.log_level, args.log_format or config.logging.format, node=config.cluster.node_id
    )
    from .broker import run_until_signalled

    return run_until_signalled(config)


def _client_settings(args: argparse.Namespace) -> dict[str, object]:
    """The Client's keyword arguments from the client flags; ValueError (one line naming the
    flag) for anything the client could not use."""
    from .client import client_ssl_context
    from .tlsfiles import TlsFileError
    from .transport.api import split_address

    addresses = [a.strip() for a in args.address.split(",") if a.strip()]
    if not addresses:
        raise ValueError("--address: no gateway address given (env TRIO_ZEEBE_ADDRESS)")
    for address in addresses:
        try:
            split_address(address)
        except ValueError as exc:
            raise ValueError(f"--address: {exc}") from None
    # ``job activate`` has no client timeout flag (its --timeout is the lease).
    raw: Any = getattr(args, "client_timeout", DEFAULT_CLIENT_TIMEOUT)
    flag = getattr(args, "client_timeout_flag", "--timeout")
    try:
        timeout = parse_duration(raw)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None
    if not 0 < timeout < math.inf:
        raise ValueError(f"{flag}: must be a number of seconds above 0, got {timeout:g}")
    if args.client_key and not args.client_cert:
        raise ValueError("--key: needs --cert (env TRIO_ZEEBE_CLIENT_CERTIFICATE_PATH)")
    if not args.insecure:
        try:  # the Client would raise the same, but here the error can name the flag
            client_ssl_context(args.ca, args.client_cert, args.client_key)
        except TlsFileError as exc:
            option = {"ca": "--ca", "chain": "--cert", "key": "--key"}[exc.role]
            raise ValueError(f"{option} {exc}") from None
    return {
        "addresses": addresses,
        "ca": args.ca,
        "cert": args.client_cert,
        "key": args.client_key,
        "insecure": args.insecure,
        "request_timeout": timeout,
    }


def _cmd_certs(args: argparse.Namespace) -> int:
    from .transport.tls import write_dev_certs

    if args.nodes < 1:
        print("certs: --nodes must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    hosts = args.host or ["localhost", "127.0.0.1", "::1"]
    try:
        certs = write_dev_certs(Path(args.directory), args.nodes, hosts)
    except OSError as exc:
        print(f"certs: cannot write to {args.directory}: {_os_reason(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except ValueError as exc:
        print(f"certs: --host: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote DEVELOPMENT-ONLY certificates (do not use in production) to {args.directory}:")
    print(f"  CA:     {certs.ca}")
    for i, (chain, key) in enumerate(certs.nodes):
        print(f"  node {i}: {chain} {key}")
    print(f"  client: {certs.client[0]} {certs.client[1]}")
    return EXIT_OK


def _cmd_dev_cluster(args: argparse.Namespace) -> int:
    from .devcluster import DevClusterError, run_dev_cluster

    if args.brokers < 1 or args.partitions < 1 or args.replication_factor < 1:
        print("dev-cluster: counts must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.replication_factor > args.brokers:
        print("dev-cluster: --replication-factor exceeds --brokers", file=sys.stderr)
        return EXIT_USAGE
    try:
        # The brokers inherit the variable: a bad value must stop here, not in each of them.
        level = check_level(os.environ.get(ENV_LOG_LEVEL, "WARNING"))
    except ValueError as exc:
        print(f"dev-cluster: {ENV_LOG_LEVEL}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    fmt = args.log_format or "text"
    setup_logging(level, fmt)
    try:
        return run_dev_cluster(
            Path(args.dir),
            brokers=args.brokers,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            as_json=args.json,
            tls=not args.no_tls,
            zeebe_ports=args.ports == "zeebe",
            prog=args.prog,
            broker_env={ENV_LOG_FORMAT: fmt},
        )
    except DevClusterError as exc:
        print(f"dev-cluster: {exc}", file=sys.stderr)
        return exc.exit_code


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
