"""Many partitions at idle: CPU and memory of each broker process once every partition is led.

    python bench/idle_partitions.py --partitions 100 [--brokers 3] [--seconds 10]

Starts real broker processes (mutual TLS, replication factor 3, default timings), waits until
every partition has a leader, then samples /proc for CPU time and resident memory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import trio

from trio_zeebe.testing.processes import Brokers

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(brokers_count: int, partitions: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        brokers = Brokers(
            Path(tmp) / "dc",
            brokers=brokers_count,
            partitions=partitions,
            replication_factor=min(3, brokers_count),
        )
        brokers.env = {}  # default timings
        try:
            started = time.monotonic()
            for i in range(brokers_count):
                brokers.start(i)
            with trio.fail_after(300):
                while True:
                    topology = await brokers.topology(0)
                    led = {
                        p.partition_id
                        for b in (topology.brokers if topology else ())
                        if b.state == "alive"
                        for p in b.partitions
                        if p.role == "leader"
                    }
                    if len(led) == partitions:
                        break
                    brokers.check_running()
                    await trio.sleep(0.5)
            print(
                f"{partitions} partitions on {brokers_count} brokers: all led after "
                f"{time.monotonic() - started:.1f}s"
            )
            await trio.sleep(2)  # let the start-up burst settle
            pids = {i: p.pid for i, p in brokers.procs.items()}
            before = {i: cpu_seconds(pid) for i, pid in pids.items()}
            await trio.sleep(seconds)
            for i, pid in pids.items():
                cpu = (cpu_seconds(pid) - before[i]) / seconds * 100
                print(f"  broker {i}: {cpu:5.1f}% of one core at idle, RSS {rss_mib(pid):6.1f} MiB")
        finally:
            brokers.stop_all()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    trio.run(main, args.brokers, args.partitions, args.seconds)
