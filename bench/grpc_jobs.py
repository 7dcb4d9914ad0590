"""Jobs and process instances through Zeebe's gRPC API: the project's client against a 3-broker
cluster (3 partitions, replication factor 3, TLS, fsync). A benchmark, not a test.

* create: standalone jobs created (the extension's CreateJob) with 1, 64 and 256 requests in
  flight (``--inflight``);
* cycle: jobs created and activated+completed by workers at the same time, the same bounds;
* instances: CreateProcessInstance of a one-task process, 64 in flight;
* whole instances: CreateProcessInstanceWithResult, 64 in flight, while workers complete the
  task: create -> activate -> complete -> completed, counted when the result arrives.

    python bench/grpc_jobs.py [--jobs 3000] [--inflight 1,64,256] [--json]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jobs_throughput import create_phase, cycle_phase, wait_ready

from trio_zeebe import Client, ClientError, Job
from trio_zeebe.testing.processes import Brokers

BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="http://x">
  <bpmn:process id="bench" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements><zeebe:taskDefinition type="bench-task"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


async def instances_phase(clients: list[Client], count: int, inflight: int) -> float:
    numbers = iter(range(count))
    failed = 0

    async def creator(c: Client) -> None:
        nonlocal failed
        for n in numbers:
            try:
                await c.create_process_instance("bench", variables={"n": n})
            except ClientError:
                failed += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(inflight):
            tg.start_soon(creator, clients[i % len(clients)])
    if failed:
        print(f"  ({failed} instance creates failed)", file=sys.stderr)
    return count / (time.perf_counter() - started)


async def whole_phase(clients: list[Client], count: int, inflight: int) -> float:
    numbers = iter(range(count))
    done = failed = 0

    async def handle(job: Job) -> dict[str, Any]:
        return {"done": True}

    async def creator(c: Client) -> None:
        nonlocal done, failed
        for n in numbers:
            try:
                await c.create_process_instance_with_result(
                    "bench", variables={"n": n}, request_timeout=60
                )
                done += 1
            except ClientError:
                failed += 1

    per_worker = max(1, inflight // len(clients))
    started = time.perf_counter()
    async with anyio.create_task_group() as workers:
        for c in clients:
            workers.start_soon(
                c.worker("bench-task", handle, max_jobs=per_worker, concurrency=per_worker).run
            )
        async with anyio.create_task_group() as tg:
            for i in range(inflight):
                tg.start_soon(creator, clients[i % len(clients)])
        elapsed = time.perf_counter() - started
        workers.cancel_scope.cancel()
    if failed:
        print(f"  ({failed} instances failed)", file=sys.stderr)
    return done / elapsed


async def measure(addresses: list[str], ca: str, jobs: int, inflights: list[int]) -> dict[str, Any]:
    await wait_ready(addresses, ca)
    result: dict[str, Any] = {"jobs": jobs, "gateways": len(addresses)}
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(Client([a, *addresses], ca=ca, request_timeout=30))
            for a in addresses
        ]
        await clients[0].deploy_resource(("bench.bpmn", BPMN))
        await create_phase(clients, "bench-warm", min(jobs, 500), 64)
        for inflight in inflights:
            count = jobs if inflight > 1 else max(200, jobs // 10)
            result[f"create_{inflight}"] = round(
                await create_phase(clients, f"bench-create-{inflight}", count, inflight)
            )
            result[f"cycle_{inflight}"] = round(
                await cycle_phase(clients, f"bench-cycle-{inflight}", count, inflight)
            )
        await anyio.sleep(1.0)  # the deployment reached every partition long ago; settle
        result["instances_64"] = round(await instances_phase(clients, jobs, 64))
        result["whole_instances_64"] = round(await whole_phase(clients, jobs // 2, 64))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--inflight", default="1,64,256")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    inflights = [int(x) for x in args.inflight.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        brokers = Brokers(Path(tmp) / "dc", partitions=3, replication_factor=3)
        try:
            for i in range(3):
                brokers.start(i)
            result = anyio.run(measure, brokers.gateways, brokers.ca, args.jobs, inflights)
        finally:
            brokers.terminate_all()
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"gRPC API, {result['gateways']} gateways, {result['jobs']} per phase (per second):")
    for inflight in inflights:
        print(
            f"  {inflight:>3} in flight: created {result[f'create_{inflight}']:>6}   "
            f"created+activated+completed {result[f'cycle_{inflight}']:>6}"
        )
    print(f"   64 in flight: process instances created {result['instances_64']:>6}")
    print(f"   64 in flight: one-task instances completed {result['whole_instances_64']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
