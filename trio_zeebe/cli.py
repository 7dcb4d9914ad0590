"""Command line: ``python -m trio_zeebe node|status|job|certs|dev-cluster``.

Each sub-command is a thin wrapper: the broker, client and dev cluster live in their modules.
Exit codes: 0 success, 1 runtime failure (e.g. cannot reach the gateway), 2 usage/config error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import ConfigError, load_config

log = logging.getLogger("trio_zeebe.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


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
    node.add_argument("--log-level", default=os.environ.get("TRIO_ZEEBE_LOG_LEVEL", "INFO"))
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
    p.add_argument("--cert", default=env("TRIO_ZEEBE_CLIENT_CERTIFICATE_PATH"))
    p.add_argument("--key", default=env("TRIO_ZEEBE_CLIENT_KEY_PATH"))
    p.add_argument(
        "--insecure",
        action="store_true",
        default=env("TRIO_ZEEBE_INSECURE_CONNECTION", "").lower() in ("1", "true", "yes"),
        help="plain TCP without TLS (env TRIO_ZEEBE_INSECURE_CONNECTION)",
    )
    if request_timeout:
        p.add_argument("--timeout", type=float, default=10.0, help="request timeout in seconds")


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
    return {
        "addresses": [a.strip() for a in args.address.split(",") if a.strip()],
        "ca": args.ca,
        "cert": args.cert,
        "key": args.key,
        "insecure": args.insecure,
        "request_timeout": args.timeout,
    }


def _cmd_status(args: argparse.Namespace) -> int:
    import anyio

    from .client import Client, ClientError

    async def fetch() -> dict[str, object]:
        async with Client(**_client_settings(args)) as client:  # type: ignore[arg-type]
            return (await client.topology()).to_json()

    try:
        topology = anyio.run(fetch)
    except ClientError as exc:
        print(f"status: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except ValueError as exc:
        print(f"status: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(topology))
    else:
        print(format_topology(topology))
    return EXIT_OK


def _cmd_rebalance(args: argparse.Namespace) -> int:
    import anyio

    from .client import Client, ClientError

    async def ask() -> list[dict[str, int]]:
        async with Client(**_client_settings(args)) as client:  # type: ignore[arg-type]
            response = await client.rebalance()
        return [
            {"partition_id": m.partition_id, "from": m.from_node, "to": m.to_node}
            for m in response.moves
        ]

    try:
        moves = anyio.run(ask)
    except ClientError as exc:
        print(f"rebalance: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps({"moves": moves}))
    elif not moves:
        print("leaders are already on their primaries")
    else:
        for m in moves:
            print(f"partition {m['partition_id']}: leader {m['from']} -> primary {m['to']}")
    return EXIT_OK


def format_topology(t: dict[str, object]) -> str:
    lines = [
        f"Cluster size: {t['cluster_size']}  Partitions: {t['partitions_count']}  "
        f"Replication factor: {t['replication_factor']}",
    ]
    for b in t["brokers"]:  # type: ignore[attr-defined]
        lines.append(
            f"Broker {b['node_id']} - {b['address']} (gateway {b['gateway']}) [{b['state']}]"
        )
        for p in b["partitions"]:
            lines.append(
                f"    Partition {p['partition_id']}: {p['role'].capitalize()} "
                f"(term {p['term']}), {p['health'].capitalize()}"
            )
    return "\n".join(lines)


def _cmd_certs(args: argparse.Namespace) -> int:
    from .transport.tls import write_dev_certs

    if args.nodes < 1:
        print("certs: --nodes must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    hosts = args.host or ["localhost", "127.0.0.1", "::1"]
    certs = write_dev_certs(Path(args.directory), args.nodes, hosts)
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
    _setup_logging(os.environ.get("TRIO_ZEEBE_LOG_LEVEL", "WARNING"))
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
        return EXIT_FAILURE
