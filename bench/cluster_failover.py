"""Failover time of real broker processes: kill -9 of a leader -> new leader known elsewhere.

Each run starts three brokers (3 partitions, replication factor 3, mutual TLS, default Zeebe
timings unless --fast), waits until every partition has a leader, kills the broker leading
partition 1 with SIGKILL and polls another broker's gateway until it reports a different, alive
leader for that partition. Prints every run and the median. A benchmark, not a test.

    python bench/cluster_failover.py --runs 10 [--fast] [--show-status]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

from trio_zeebe.cli import format_topology
from trio_zeebe.testing.processes import FAST_RAFT, Brokers


def leaders(topology: object) -> dict[int, int]:
    return {
        p.partition_id: b.node_id
        for b in topology.brokers  # type: ignore[attr-defined]
        if b.state == "alive"
        for p in b.partitions
        if p.role == "leader"
    }


async def one_run(directory: Path, fast: bool, show: bool) -> float:
    brokers = Brokers(directory, partitions=3, replication_factor=3, env=FAST_RAFT if fast else {})
    if not fast:
        brokers.env = {}  # Zeebe's defaults: probe 1s/100ms, failure 10s, election 2.5s
    try:
        for i in range(3):
            brokers.start(i)
        with trio.fail_after(60):
            while True:
                topology = await brokers.topology(1)
                if topology is not None and len(set(leaders(topology).values())) == 3:
                    break
                await trio.sleep(0.1)
        if show:
            print("before:\n" + format_topology((await brokers.topology(1)).to_json()))  # type: ignore[union-attr]
        victim = leaders(topology)[1]
        observer = next(i for i in range(3) if i != victim)
        brokers.kill(victim)
        killed = time.monotonic()
        with trio.fail_after(60):
            while True:
                topology = await brokers.topology(observer)
                if topology is not None and leaders(topology).get(1, victim) != victim:
                    elapsed = time.monotonic() - killed
                    break
                await trio.sleep(0.01)
        if show:
            with trio.fail_after(60):  # until the others show the victim dead (failure timeout)
                while True:
                    topology = await brokers.topology(observer)
                    states = {b.node_id: b.state for b in topology.brokers} if topology else {}
                    if states.get(victim) == "dead" and len(leaders(topology)) == 3:
                        break
                    await trio.sleep(0.2)
            after = format_topology(topology.to_json())  # type: ignore[union-attr]
            print(f"after kill -9 of broker {victim}:\n{after}")
            out = await trio.run_process(
                [
                    sys.executable,
                    "-m",
                    "trio_zeebe",
                    "status",
                    "--json",
                    "--address",
                    brokers.gateways[observer],
                    "--ca",
                    brokers.ca,
                ],
                capture_stdout=True,
                check=False,
            )
            print(json.dumps(json.loads(out.stdout)))
        return elapsed
    finally:
        brokers.stop_all()


async def main(runs: int, fast: bool, show: bool) -> None:
    times = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            elapsed = await one_run(Path(tmp) / "dc", fast, show and i == 0)
        times.append(elapsed)
        print(f"run {i + 1}: new leader known after {elapsed:.2f}s", flush=True)
    print(
        f"failover over {runs} runs: median {statistics.median(times):.2f}s, "
        f"min {min(times):.2f}s, max {max(times):.2f}s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--fast", action="store_true", help="1s election timeout, fast probes")
    parser.add_argument("--show-status", action="store_true")
    args = parser.parse_args()
    trio.run(main, args.runs, args.fast, args.show_status)
