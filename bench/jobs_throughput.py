"""Job throughput through the gateways: creates/s, and created+activated+completed jobs/s.

Starts a 3-broker cluster (3 partitions, replication factor 3, mutual TLS, fsync) with
trio_zeebe.testing.processes, or uses a running one (``--address a,b,c --ca ca.pem``, e.g. a
``dev-cluster``). One client per gateway; requests are spread over them. A benchmark, not a test.

* create: ``--jobs`` CreateJobs, ``--inflight`` (64) requests in flight at any time.
* cycle: the same number of jobs created and processed at once: ``--inflight / 2`` creators and
  workers (one per gateway) whose concurrency adds up to ``--inflight / 2``, so CreateJob and
  CompleteJob requests in flight total ``--inflight`` (plus the workers' long polls). The rate is
  jobs whose completion was acknowledged per second, from the first create to the last complete.

    python bench/jobs_throughput.py [--jobs 5000] [--inflight 64] [--backend asyncio]
    python bench/jobs_throughput.py --address HOST:PORT,HOST:PORT --ca dev-cluster/certs/ca.pem
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio

from trio_zeebe import Client, ClientError, Job
from trio_zeebe.testing.processes import Brokers


async def wait_ready(addresses: Sequence[str], ca: str, limit: float = 60.0) -> None:
    """Until a CreateJob succeeds through every gateway (every partition led, routing up)."""
    with anyio.fail_after(limit):
        for address in addresses:
            async with Client([address], ca=ca, request_timeout=2, connect_timeout=1) as c:
                ok = 0
                while ok < 3:
                    try:
                        await c.create_job("bench-warm-up")
                        ok += 1
                    except ClientError:
                        await anyio.sleep(0.1)


async def create_phase(clients: list[Client], job_type: str, jobs: int, inflight: int) -> float:
    numbers = iter(range(jobs))
    failed = 0

    async def creator(c: Client) -> None:
        nonlocal failed
        for n in numbers:
            try:
                await c.create_job(job_type, variables={"n": n})
            except ClientError:
                failed += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(inflight):
            tg.start_soon(creator, clients[i % len(clients)])
    elapsed = time.perf_counter() - started
    if failed:
        print(f"  ({failed} creates failed)", file=sys.stderr)
    return jobs / elapsed


async def cycle_phase(clients: list[Client], job_type: str, jobs: int, inflight: int) -> float:
    done = anyio.Event()
    completed = 0

    async def handle(job: Job) -> None:
        return None

    creators = max(1, inflight // 2)
    per_worker = max(1, (inflight - creators) // len(clients))
    workers = [
        c.worker(job_type, handle, max_jobs=per_worker, concurrency=per_worker, timeout=60)
        for c in clients
    ]

    async def watch() -> None:
        nonlocal completed
        while True:
            completed = sum(w.completed for w in workers)
            if completed >= jobs:
                done.set()
                return
            await anyio.sleep(0.01)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for w in workers:
            tg.start_soon(w.run)
        tg.start_soon(create_phase, clients, job_type, jobs, creators)
        tg.start_soon(watch)
        await done.wait()
        elapsed = time.perf_counter() - started
        tg.cancel_scope.cancel()
    return completed / elapsed


async def measure(addresses: list[str], ca: str, jobs: int, inflight: int) -> dict[str, Any]:
    await wait_ready(addresses, ca)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(Client([a, *addresses], ca=ca, request_timeout=30))
            for a in addresses
        ]
        await create_phase(clients, "bench-warm", min(jobs, 500), inflight)  # connections, JIT-ish
        create = await create_phase(clients, "bench-create", jobs, inflight)
        cycle = await cycle_phase(clients, "bench-cycle", jobs, inflight)
    return {
        "jobs": jobs,
        "inflight": inflight,
        "gateways": len(addresses),
        "created_per_s": round(create),
        "created_activated_completed_per_s": round(cycle),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", help="comma-separated gateways of a running cluster")
    parser.add_argument("--ca", help="the running cluster's CA certificate")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    def run(addresses: list[str], ca: str) -> dict[str, Any]:
        result: dict[str, Any] = anyio.run(
            measure, addresses, ca, args.jobs, args.inflight, backend=args.backend
        )
        return {**result, "backend": args.backend}

    if args.address:
        if not args.ca:
            parser.error("--address needs --ca")
        result = run([a.strip() for a in args.address.split(",") if a.strip()], args.ca)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            brokers = Brokers(Path(tmp) / "dc", partitions=3, replication_factor=3)
            try:
                for i in range(3):
                    brokers.start(i)
                result = run(brokers.gateways, brokers.ca)
            finally:
                brokers.terminate_all()
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['jobs']} jobs, {result['inflight']} requests in flight, "
            f"{result['gateways']} gateways, {result['backend']}:\n"
            f"  created:                      {result['created_per_s']:>7} jobs/s\n"
            f"  created+activated+completed:  {result['created_activated_completed_per_s']:>7}"
            " jobs/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
