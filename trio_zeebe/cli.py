"""Command line: ``python -m trio_zeebe node|status|job|certs|dev-cluster``.

Each sub-command is a thin wrapper: the broker, client and dev cluster live in their modules.
Exit codes: 0 success; 1 runtime failure (a request refused or timed out, an unhealthy cluster in
``status``, a broker that died); 2 what the operator must fix: bad flags, config or certificate
files, a gateway address nothing answers on or that speaks the other TLS mode, a data directory
in use. Every error is one line on stderr (argparse adds its usage line), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cli_job import client_exit_code
from .config import ConfigError, load_config

log = logging.getLogger("trio_zeebe.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_CLIENT_TIMEOUT = 10.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        code = 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trio_zeebe",
        description="A Zeebe-style clustered broker on Trio.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    node = sub.add_parser("node", help="run one broker")
    node.add_argument("--config", "-c", help="broker TOML file (see conf/)")
    node.add_argument(
        "--log-level",
        # argparse converts a string default with ``type`` but checks ``choices`` only for
        # values given on the command line: _log_level checks the environment's value too.
        type=_log_level,
        choices=LOG_LEVELS,
        default=os.environ.get("TRIO_ZEEBE_LOG_LEVEL", "INFO"),
        help="log level (env TRIO_ZEEBE_LOG_LEVEL; default INFO)",
    )
    node.set_defaults(handler=_cmd_node)

    status = sub.add_parser("status", help="print the cluster topology seen by a gateway")
    _add_client_arguments(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_cmd_status)

    from .cli_job import add_job_parser

    add_job_parser(sub, _add_client_arguments, _client_settings)

    rebalance = sub.add_parser(
        "rebalance", help="move each partition's leadership back to its primary broker"
    )
    _add_client_arguments(rebalance)
    rebalance.add_argument("--json", action="store_true", help="machine-readable output")
    rebalance.set_defaults(handler=_cmd_rebalance)

    certs = sub.add_parser(
        "certs", help="write a DEVELOPMENT CA plus broker and client certificates"
    )
    certs.add_argument("directory")
    certs.add_argument("--nodes", type=int, default=3)
    certs.add_argument(
        "--host",
        action="append",
        default=None,
        help="host name / IP the certificates are valid for (repeatable; default: loopback)",
    )
    certs.set_defaults(handler=_cmd_certs)

    dev = sub.add_parser("dev-cluster", help="start a local cluster of broker processes")
    dev.add_argument("--brokers", type=int, default=3)
    dev.add_argument("--partitions", type=int, default=3)
    dev.add_argument("--replication-factor", type=int, default=3)
    dev.add_argument("--dir", default="dev-cluster", help="configs, certificates, data, logs")
    dev.add_argument("--json", action="store_true", help="one JSON line per broker")
    dev.add_argument("--no-tls", action="store_true", help="plain TCP (experiments only)")
    dev.set_defaults(handler=_cmd_dev_cluster)
    return parser


def _add_client_arguments(p: argparse.ArgumentParser, *, request_timeout: bool = True) -> None:
    env = os.environ.get
    p.add_argument(
        "--address",
        default=env("TRIO_ZEEBE_ADDRESS", "127.0.0.1:26500"),
        help="gateway host:port, comma-separated for fail-over (env TRIO_ZEEBE_ADDRESS)",
    )
    p.add_argument(
        "--ca",
        default=env("TRIO_ZEEBE_CA_CERTIFICATE_PATH"),
        help="CA certificate to verify the gateway (env TRIO_ZEEBE_CA_CERTIFICATE_PATH)",
    )
    # Not dest "key"/"cert": ``job complete KEY`` has a positional job key of that name.
    p.add_argument(
        "--cert",
        dest="client_cert",
        default=env("TRIO_ZEEBE_CLIENT_CERTIFICATE_PATH"),
        help="client certificate, if the gateway asks (env TRIO_ZEEBE_CLIENT_CERTIFICATE_PATH)",
    )
    p.add_argument(
        "--key",
        dest="client_key",
        default=env("TRIO_ZEEBE_CLIENT_KEY_PATH"),
        help="the client certificate's private key (env TRIO_ZEEBE_CLIENT_KEY_PATH)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        default=env("TRIO_ZEEBE_INSECURE_CONNECTION", "").lower() in ("1", "true", "yes"),
        help="plain TCP without TLS (env TRIO_ZEEBE_INSECURE_CONNECTION)",
    )
    if request_timeout:
        p.add_argument(
            "--timeout",
            dest="client_timeout",
            type=float,
            default=DEFAULT_CLIENT_TIMEOUT,
            help="request timeout in seconds",
        )


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level (use one of {', '.join(LOG_LEVELS)}; "
            "also checked in TRIO_ZEEBE_LOG_LEVEL)"
        )
    return level


def _setup_logging(level: str, node_id: int | None = None) -> None:
    prefix = f"node-{node_id} " if node_id is not None else ""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)-5s {prefix}%(name)s: %(message)s",
        stream=sys.stderr,
    )


def _cmd_node(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _setup_logging(args.log_level, config.cluster.node_id)
    from .broker import run_until_signalled

    return run_until_signalled(config)


def _client_settings(args: argparse.Namespace) -> dict[str, object]:
    """The Client's keyword arguments from the client flags; ValueError (one line naming the
    flag) for anything the client could not use."""
    from .client_connection import client_ssl_context
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
    # ``job activate`` has no client timeout flag (its --timeout is the lease): it sets its own.
    timeout: float = getattr(args, "client_timeout", DEFAULT_CLIENT_TIMEOUT)
    if not 0 < timeout < math.inf:
        raise ValueError(f"--timeout: must be a number of seconds above 0, got {timeout:g}")
    if args.client_key and not args.client_cert:
        raise ValueError("--key: needs --cert (env TRIO_ZEEBE_CLIENT_CERTIFICATE_PATH)")
    ssl_context = None
    if not args.insecure:
        try:
            ssl_context = client_ssl_context(args.ca, args.client_cert, args.client_key)
        except TlsFileError as exc:
            flag = {"ca": "--ca", "chain": "--cert", "key": "--key"}[exc.role]
            raise ValueError(f"{flag} {exc}") from None
    return {
        "addresses": addresses,
        "insecure": args.insecure,
        "ssl_context": ssl_context,
        "request_timeout": timeout,
    }


def _cmd_status(args: argparse.Namespace) -> int:
    import anyio

    from .client import Client, ClientError

    async def fetch() -> dict[str, object]:
        async with Client(**settings) as client:  # type: ignore[arg-type]
            return (await client.topology()).to_json()

    try:
        settings = _client_settings(args)
        topology = anyio.run(fetch)
    except ClientError as exc:
        print(f"status: {_one_line(str(exc))}", file=sys.stderr)
        return client_exit_code(exc)
    except ValueError as exc:
        print(f"status: {exc}", file=sys.stderr)
        return EXIT_USAGE
    problems = mark_stale_leaders(topology)
    if args.json:
        print(json.dumps({**topology, "problems": problems}))
    else:
        print(format_topology(topology))
    if problems:
        print(f"status: unhealthy: {'; '.join(problems)}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _cmd_rebalance(args: argparse.Namespace) -> int:
    import anyio

    from .client import Client, ClientError

    async def ask() -> list[dict[str, int]]:
        async with Client(**settings) as client:  # type: ignore[arg-type]
            response = await client.rebalance()
        return [
            {"partition_id": m.partition_id, "from": m.from_node, "to": m.to_node}
            for m in response.moves
        ]

    try:
        settings = _client_settings(args)
        moves = anyio.run(ask)
    except ClientError as exc:
        print(f"rebalance: {_one_line(str(exc))}", file=sys.stderr)
        return client_exit_code(exc)
    except ValueError as exc:
        print(f"rebalance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"moves": moves}))
    elif not moves:
        print("leaders are already on their primaries")
    else:
        for m in moves:
            print(f"partition {m['partition_id']}: leader {m['from']} -> primary {m['to']}")
    return EXIT_OK


STALE_LEADER = "former_leader"
"""The role status shows for a leader claim older than the partition's newest one."""


def mark_stale_leaders(topology: dict[str, Any]) -> list[str]:
    """Demote superseded leader claims in ``topology`` (in place); return its problems.

    Each broker reports its partitions' roles as last gossiped: right after a leader dies, the
    dead broker's last report still says "leader" at the old term, next to the new leader's
    report at a higher term. Only the claim at the highest term (lowest node id on a tie, as
    the brokers' leader table decides) stays a leader; older ones become ``former_leader``.
    Problems: a dead or missing broker, a partition without a leader.
    """
    problems: list[str] = []
    brokers = topology.get("brokers", [])
    best: dict[int, tuple[int, int]] = {}  # partition -> (term, -node id) of the chosen leader
    for b in brokers:
        for p in b["partitions"]:
            if p["role"] == "leader":
                claim = (p["term"], -b["node_id"])
                best[p["partition_id"]] = max(best.get(p["partition_id"], claim), claim)
    for b in brokers:
        for p in b["partitions"]:
            chosen = best.get(p["partition_id"])
            if p["role"] == "leader" and chosen != (p["term"], -b["node_id"]):
                p["role"] = STALE_LEADER
                assert chosen is not None
                p["superseded_by"] = {"node_id": -chosen[1], "term": chosen[0]}
    known = {b["node_id"] for b in brokers}
    for node in range(int(topology.get("cluster_size", 0))):
        if node not in known:
            problems.append(f"broker {node} is not known to the answering gateway")
    for b in brokers:
        if b["state"] == "dead":
            problems.append(f"broker {b['node_id']} is dead")
    for pid in range(1, int(topology.get("partitions_count", 0)) + 1):
        if pid not in best:
            problems.append(f"partition {pid} has no leader")
    return problems


def format_topology(t: dict[str, Any]) -> str:
    lines = [
        f"Cluster size: {t['cluster_size']}  Partitions: {t['partitions_count']}  "
        f"Replication factor: {t['replication_factor']}",
    ]
    for b in t["brokers"]:
        lines.append(
            f"Broker {b['node_id']} - {b['address']} (gateway {b['gateway']}) [{b['state']}]"
        )
        for p in b["partitions"]:
            if p["role"] == STALE_LEADER:
                newer = p["superseded_by"]
                role = (
                    f"Former leader (term {p['term']}; broker {newer['node_id']} "
                    f"leads at term {newer['term']})"
                )
            else:
                role = f"{p['role'].capitalize()} (term {p['term']})"
            lines.append(f"    Partition {p['partition_id']}: {role}, {p['health'].capitalize()}")
    return "\n".join(lines)


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
        level = _log_level(os.environ.get("TRIO_ZEEBE_LOG_LEVEL", "WARNING"))
    except argparse.ArgumentTypeError as exc:
        print(f"dev-cluster: TRIO_ZEEBE_LOG_LEVEL: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _setup_logging(level)
    try:
        return run_dev_cluster(
            Path(args.dir),
            brokers=args.brokers,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            as_json=args.json,
            tls=not args.no_tls,
        )
    except DevClusterError as exc:
        print(f"dev-cluster: {exc}", file=sys.stderr)
        return exc.exit_code


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _one_line(text: str) -> str:
    return " ".join(text.split())
