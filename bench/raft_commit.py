"""Benchmark (not a test): proposals committed per second by a 3-replica Raft group over mutual
TLS with fsync on the real disk, and their latency, at several numbers of proposals in flight.

The nodes are real :class:`RaftDriver` s on real :class:`TcpTransport` s (loopback, mutual TLS
with throw-away trustme certificates) and :class:`RealDisk` (every ack waits for an fsync), wired
like :mod:`trio_zeebe.testing.raft_group`. Each proposal is one ~100-byte record awaited with
``driver.propose`` on the leader; "in flight" is the number of client tasks proposing at once.

Modes:
  (default)      all three nodes and the load generator in one trio process (one core);
  --processes    three OS processes (one node each), the leader's process runs the load.

Run: python bench/raft_commit.py [--processes] [--seconds 5] [--levels 1,8,64,256]
     [--profile out.html --levels 64] (pyinstrument if installed, else cProfile; in-process
     mode profiles the whole process, --processes mode the leader's process)
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from typing import Any

import trio

from trio_zeebe.disk import RealDisk
from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.raft.driver import RaftDriver
from trio_zeebe.raft.errors import Backpressure, ProposalDropped
from trio_zeebe.raft.router import RaftRouter
from trio_zeebe.transport.api import Peer
from trio_zeebe.transport.tcp import TcpTransport
from trio_zeebe.transport.tls import client_context, server_context, write_dev_certs

SIZE = 3
RECORD_BYTES = 100
WARMUP = 0.5


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


async def start_node(
    nursery: trio.Nursery, node: int, addresses: dict[int, str], certs: str, data: str
) -> RaftDriver:
    ca, cert, key = f"{certs}/ca.pem", f"{certs}/node-{node}.pem", f"{certs}/node-{node}.key"
    transport = TcpTransport(
        Peer(node, addresses[node]),
        "bench",
        server_context(ca, cert, key),
        client_context(ca, cert, key),
    )
    await nursery.start(transport.run)
    driver = RaftDriver(
        partition=1,
        config=RaftConfig(),
        node_id=node,
        voters=sorted(addresses),
        addresses=addresses,
        router=RaftRouter(transport),
        disk=RealDisk(),
        directory=f"{data}/node-{node}/partition-1",
        rng=random.Random(node),
    )
    await nursery.start(driver.run)
    return driver


async def wait_leader(drivers: list[RaftDriver], within: float = 15.0) -> RaftDriver:
    with trio.fail_after(within):
        while True:
            for d in drivers:
                if d.is_leader:
                    return d
            await trio.sleep(0.01)


async def load(driver: RaftDriver, inflight: int, seconds: float) -> dict[str, Any]:
    """``inflight`` tasks propose back to back; only proposals started after the warm-up and
    finished before the end count."""
    latencies: list[float] = []
    errors = 0
    pad = b"x" * (RECORD_BYTES - 12)
    start = time.perf_counter()
    measure_from = start + WARMUP
    stop_at = measure_from + seconds

    async def worker(w: int) -> None:
        nonlocal errors
        n = 0
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            n += 1
            try:
                await driver.propose(b"%04d%08d" % (w % 10000, n % 10**8) + pad)
            except Backpressure:
                errors += 1
                await trio.sleep(0.001)
                continue
            except ProposalDropped:
                errors += 1
                continue
            if t0 >= measure_from:
                latencies.append(time.perf_counter() - t0)

    async with trio.open_nursery() as nursery:
        for w in range(inflight):
            nursery.start_soon(worker, w)
        await trio.sleep(WARMUP)
        fsyncs0, index0 = driver.fsyncs, driver.core.log.last_index if driver.core else 0
        t_begin, cpu0 = time.perf_counter(), time.process_time()
    elapsed = time.perf_counter() - t_begin
    cpu = time.process_time() - cpu0
    index1 = driver.core.log.last_index if driver.core else 0
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return math.nan
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "inflight": inflight,
        "commits_per_s": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "entries_per_s": (index1 - index0) / elapsed,
        "fsyncs_per_s": (driver.fsyncs - fsyncs0) / elapsed,
        "cpu_pct": 100 * cpu / elapsed,
        "cpu_us_per_commit": 1e6 * cpu / max(1, len(latencies)),
        "errors": errors,
    }


async def run_levels(
    leader: RaftDriver, levels: list[int], seconds: float, profile: str | None
) -> list[dict[str, Any]]:
    results = []
    profiler = _Profiler(profile)
    for inflight in levels:
        with profiler:
            results.append(await load(leader, inflight, seconds))
    profiler.save()
    return results


class _Profiler:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.impl: Any = None
        if path is None:
            return
        try:
            import pyinstrument

            self.impl = pyinstrument.Profiler(async_mode="disabled")
        except ImportError:
            import cProfile

            self.impl = cProfile.Profile()

    def __enter__(self) -> None:
        if self.impl is not None:
            self.impl.__enter__() if hasattr(self.impl, "__enter__") else self.impl.enable()

    def __exit__(self, *exc: object) -> None:
        if self.impl is not None:
            self.impl.__exit__(*exc) if hasattr(self.impl, "__exit__") else self.impl.disable()

    def save(self) -> None:
        if self.impl is None or self.path is None:
            return
        if hasattr(self.impl, "output_html"):
            with open(self.path, "w") as f:
                f.write(self.impl.output_html())
            with open(self.path + ".txt", "w") as f:
                f.write(self.impl.output_text(unicode=False, color=False, show_all=False))
        else:
            self.impl.dump_stats(self.path)


# -- mode (a): one process ----------------------------------------------------------------


async def in_process(args: argparse.Namespace, root: str) -> list[dict[str, Any]]:
    ports = free_ports(SIZE)
    addresses = {i: f"127.0.0.1:{ports[i]}" for i in range(SIZE)}
    async with trio.open_nursery() as nursery:
        drivers = [
            await start_node(nursery, i, addresses, f"{root}/certs", f"{root}/data")
            for i in range(SIZE)
        ]
        drivers[0].campaign()
        leader = await wait_leader(drivers)
        results = await run_levels(leader, args.levels, args.seconds, args.profile)
        nursery.cancel_scope.cancel()
    return results


# -- mode (b): three processes ------------------------------------------------------------


def node_process(
    node: int,
    addresses: dict[int, str],
    root: str,
    args: argparse.Namespace,
    results: multiprocessing.Queue[Any],
) -> None:
    # Peers dial each other before all have bound their ports: those first refusals are noise.
    logging.basicConfig(level=logging.ERROR)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            driver = await start_node(nursery, node, addresses, f"{root}/certs", f"{root}/data")
            if node == 0:
                driver.campaign()
            try:
                await wait_leader([driver], within=10.0)
            except trio.TooSlowError:
                await trio.sleep_forever()  # a follower: serve until the parent ends us
            results.put(await run_levels(driver, args.levels, args.seconds, args.profile))
            nursery.cancel_scope.cancel()

    trio.run(main)


def processes(args: argparse.Namespace, root: str) -> list[dict[str, Any]]:
    ports = free_ports(SIZE)
    addresses = {i: f"127.0.0.1:{ports[i]}" for i in range(SIZE)}
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[Any] = ctx.Queue()
    procs = [
        ctx.Process(target=node_process, args=(i, addresses, root, args, results))
        for i in range(SIZE)
    ]
    for p in procs:
        p.start()
    try:
        timeout = 30 + len(args.levels) * (args.seconds + WARMUP + 5)
        out: list[dict[str, Any]] = results.get(timeout=timeout)
        return out
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", action="store_true", help="one OS process per node")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per level")
    parser.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 8, 64, 256],
        help="proposals in flight, comma separated",
    )
    parser.add_argument("--profile", help="write a profile of the measured runs here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = tempfile.mkdtemp(prefix="tz-raft-bench-", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        write_dev_certs(f"{root}/certs", SIZE)
        run = processes if args.processes else lambda a, r: trio.run(in_process, a, r)
        results = run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    mode = "3 processes" if args.processes else "1 process"
    print(
        f"3 replicas, mutual TLS, fsync, {RECORD_BYTES}-byte records, {mode}, "
        f"{args.seconds:g}s per level, python {sys.version.split()[0]}"
    )
    print(
        f"{'in flight':>9} {'commits/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'entries/s':>10} {'fsyncs/s':>9} {'cpu %':>6} {'cpu us/commit':>13} {'errors':>6}"
    )
    for r in results:
        print(
            f"{r['inflight']:>9} {r['commits_per_s']:>10.0f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['entries_per_s']:>10.0f} {r['fsyncs_per_s']:>9.0f} "
            f"{r['cpu_pct']:>6.0f} {r['cpu_us_per_commit']:>13.0f} {r['errors']:>6}"
        )


if __name__ == "__main__":
    main()
