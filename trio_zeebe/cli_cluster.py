"""``status`` and ``rebalance``: the cluster as a gateway sees it, and leaders back home.

``status`` prints the topology (``--json``: one object with ``problems``) and exits 1 when the
cluster is unhealthy. ``rebalance`` asks the leaders that are not their partition's primary to
hand over, prints the requested transfers, then follows the topology until each partition is
led by its primary (``--wait-timeout``; ``--no-wait`` returns at once): exit 1 if some transfer
did not happen in time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .config import parse_duration

if TYPE_CHECKING:
    from .client import Client

T = TypeVar("T")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
REBALANCE_WAIT = 30.0
POLL_INTERVAL = 0.25

STALE_LEADER = "former_leader"
"""The role status shows for a leader claim older than the partition's newest one."""


@attrs.frozen
class Move:
    """One requested leadership transfer."""

    partition_id: int
    from_node: int
    to_node: int

    def to_json(self) -> dict[str, int]:
        return {"partition_id": self.partition_id, "from": self.from_node, "to": self.to_node}


def add_cluster_parsers(
    sub: Any,
    add_client_arguments: Callable[..., None],
    client_settings: Callable[[argparse.Namespace], dict[str, object]],
    add_output_arguments: Callable[[argparse.ArgumentParser], None],
) -> None:
    status = sub.add_parser("status", help="print the cluster topology seen by a gateway")
    add_client_arguments(status)
    add_output_arguments(status)
    status.set_defaults(handler=lambda args: _cmd_status(args, client_settings))

    rebalance = sub.add_parser(
        "rebalance",
        help="move each partition's leadership back to its primary broker and wait for it",
    )
    add_client_arguments(rebalance)
    add_output_arguments(rebalance)
    rebalance.add_argument(
        "--wait-timeout",
        default=f"{REBALANCE_WAIT:g}s",
        metavar="DURATION",
        help=(
            "how long to wait until every partition is led by its primary, e.g. 30s or 2m "
            f"(default {REBALANCE_WAIT:g}s); exit 1 if some is not by then"
        ),
    )
    rebalance.add_argument(
        "--no-wait",
        action="store_true",
        help="only request the transfers; do not wait for them",
    )
    rebalance.set_defaults(handler=lambda args: _cmd_rebalance(args, client_settings))


def _cmd_status(
    args: argparse.Namespace, client_settings: Callable[[argparse.Namespace], dict[str, object]]
) -> int:
    async def fetch(client: Client) -> dict[str, object]:
        return (await client.topology()).to_json()

    code, topology = _with_client("status", args, client_settings, fetch)
    if topology is None:
        return code
    problems = mark_stale_leaders(topology)
    if args.json:
        print(json.dumps({**topology, "problems": problems}))
    else:
        print(format_topology(topology))
    if problems:
        print(f"status: unhealthy: {'; '.join(problems)}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _cmd_rebalance(
    args: argparse.Namespace, client_settings: Callable[[argparse.Namespace], dict[str, object]]
) -> int:
    def say(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    async def run(client: Client) -> list[Move]:
        response = await client.rebalance()
        moves = [Move(m.partition_id, m.from_node, m.to_node) for m in response.moves]
        if args.json:
            print(json.dumps({"moves": [m.to_json() for m in moves]}), flush=True)
        elif not moves:
            say("leaders are already on their primaries")
        else:
            say(f"requested {len(moves)} leadership transfer(s):")
            for m in moves:
                say(f"  partition {m.partition_id}: leader {m.from_node} -> primary {m.to_node}")
        if args.no_wait or not moves:
            return []

        async def topology() -> dict[str, Any]:
            return (await client.topology()).to_json()

        left = await follow_moves(moves, topology, timeout=wait, report=say)
        if not left:
            say("rebalanced: every partition is led by its primary")
        return left

    try:
        wait = parse_duration(args.wait_timeout)
        if wait <= 0:
            raise ValueError("must be greater than 0")
    except ValueError as exc:
        print(f"rebalance: --wait-timeout: {exc}", file=sys.stderr)
        return EXIT_USAGE
    code, left = _with_client("rebalance", args, client_settings, run)
    if left is None:
        return code
    if left:
        pending = "; ".join(
            f"partition {m.partition_id} is not yet led by broker {m.to_node}" for m in left
        )
        print(
            f"rebalance: {len(left)} transfer(s) not done within {wait:g}s: {pending}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return EXIT_OK


def _with_client(
    name: str,
    args: argparse.Namespace,
    client_settings: Callable[[argparse.Namespace], dict[str, object]],
    use: Callable[[Client], Awaitable[T]],
) -> tuple[int, T | None]:
    """``(EXIT_OK, await use(client))`` on a client made from the flags; a client error or a
    bad setting is printed as ``<name>: ...`` and gives ``(its exit code, None)``."""
    import anyio

    from .cli_job import client_exit_code, one_line
    from .client import Client, ClientError

    async def run() -> T:
        async with Client(**settings) as client:  # type: ignore[arg-type]
            return await use(client)

    try:
        settings = client_settings(args)
        return EXIT_OK, anyio.run(run)
    except ClientError as exc:
        print(f"{name}: {one_line(str(exc))}", file=sys.stderr)
        return client_exit_code(exc), None
    except ValueError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE, None


async def follow_moves(
    moves: Sequence[Move],
    topology: Callable[[], Awaitable[dict[str, Any]]],
    *,
    timeout: float,  # noqa: ASYNC109 - a budget for the whole wait, reported in the result
    report: Callable[[str], None],
    poll: float = POLL_INTERVAL,
) -> list[Move]:
    """Poll ``topology`` until each move's partition is led by its target, reporting each one
    as it lands; the moves still not done after ``timeout`` seconds (``[]``: all done).

    A topology request that fails is retried at the next poll (a transfer can briefly leave the
    answering gateway without a route).
    """
    import anyio

    from .client import ClientError

    left = list(moves)
    with anyio.move_on_after(timeout):
        while left:
            try:
                t = await topology()
            except ClientError:
                t = None
            if t is not None:
                mark_stale_leaders(t)
                leaders = current_leaders(t)
                for m in list(left):
                    leader = leaders.get(m.partition_id)
                    if leader is not None and leader[0] == m.to_node:
                        node, term = leader
                        report(f"partition {m.partition_id}: broker {node} leads (term {term})")
                        left.remove(m)
            if left:
                await anyio.sleep(poll)
    return left


def current_leaders(topology: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """partition id -> (node id, term) of its leader, from a topology ``mark_stale_leaders``
    has marked (superseded claims are no longer "leader")."""
    found: dict[int, tuple[int, int]] = {}
    for b in topology.get("brokers", []):
        if b["state"] == "dead":
            continue
        for p in b["partitions"]:
            if p["role"] == "leader":
                found[p["partition_id"]] = (b["node_id"], p["term"])
    return found


def mark_stale_leaders(topology: dict[str, Any]) -> list[str]:
    """Demote superseded leader claims in ``topology`` (in place); return its problems.

    Each broker reports its partitions' roles as last gossiped: right after a leader dies, the
    dead broker's last report still says "leader" at the old term, next to the new leader's
    report at a higher term. Only the claim at the highest term (lowest node id on a tie, as
    the brokers' leader table decides) stays a leader; older ones become ``former_leader``.
    Problems: a dead or missing broker, an unhealthy (or dead) partition on a broker that is
    not dead, with its reason when the answering broker knows it (e.g. out of disk space), a
    partition without a leader.
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
            continue
        for p in b["partitions"]:
            if p["health"] != "healthy":
                why = f": {p['problem']}" if p.get("problem") else ""
                problems.append(
                    f"partition {p['partition_id']} on broker {b['node_id']} is {p['health']}{why}"
                )
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
