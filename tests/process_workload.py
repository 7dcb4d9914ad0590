"""A seeded process workload for the simulated cluster (real brokers running the process
engine), driven through the brokers' gateways the way a Zeebe client drives them, while brokers
crash (with or without power loss), the network splits and leaderships move.

The process: a service task, a message catch whose correlation key (the instance's ``key``)
hashes to some partition (usually another one than the instance's), a timer, a second catch of
the same message name, and a last service task::

    start -> work -> catch "pay" (first) -> timer PT3S -> catch "pay" (second) -> finish -> end

Two messages are published per instance (``<key>-A``, ``<key>-B``, TTL one hour), some before
the instance exists, some while it waits. What is checked (:class:`Workload.violations`):

* every acknowledged instance completes (its ``finish`` job was seen and the instance left the
  state) or, if the run ends first, is still active: none disappears;
* each instance got both of its messages, one per catch: a message is never correlated twice to
  one instance and none is lost while its TTL lasts;
* a job whose completion was acknowledged is never handed out again;
* replicas are byte-identical: every replica's engine snapshot at a sampled applied index equals
  every other replica's at that index (restarted ones and ones rebuilt from a snapshot included),
  and all replicas of a partition end with the same bytes.

A call through a broker's gateway ends when that broker crashes (a client's connection would
break); calls whose outcome is unknown are not retried for creates (a maybe-created instance's
key is not used again), and are retried with the same message id for publishes.

Everything random comes from the seed (trio's scheduling included): ``run_workload(seed)``
replays a failing run exactly; the seed is in every failure message.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import trio
from google.protobuf.message import Message

from trio_zeebe.engine.engine import Engine
from trio_zeebe.grpc.status import GrpcError, StatusCode
from trio_zeebe.keys import message_partition
from trio_zeebe.processing.processor import PartitionProcessor
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.raft_group import wait_until

ET = 2.5
GATEWAY = "/gateway_protocol.Gateway/"
PROCESS_ID = "order"
TTL_MS = 3_600_000
CREATORS = 2  # clients creating instances at the same time
SAMPLE_EVERY = 4  # sample each replica's engine snapshot at every 4th applied entry


def order_process() -> bytes:
    return (
        ProcessBuilder(PROCESS_ID)
        .start_event("start")
        .service_task("work", job_type="work")
        .intermediate_catch_event(
            "first_payment", message="pay", correlation_key="=key", outputs={"first": "=mid"}
        )
        .intermediate_catch_event("cool_down", timer_duration="PT3S")
        .intermediate_catch_event(
            "second_payment", message="pay", correlation_key="=key", outputs={"second": "=mid"}
        )
        .service_task("finish", job_type="finish")
        .end_event("end")
        .done()
    )


_RPC: dict[type[Message], tuple[str, type[Message]]] = {
    gw.DeployResourceRequest: ("DeployResource", gw.DeployResourceResponse),
    gw.CreateProcessInstanceRequest: ("CreateProcessInstance", gw.CreateProcessInstanceResponse),
    gw.CreateProcessInstanceWithResultRequest: (
        "CreateProcessInstanceWithResult",
        gw.CreateProcessInstanceWithResultResponse,
    ),
    gw.PublishMessageRequest: ("PublishMessage", gw.PublishMessageResponse),
    gw.CompleteJobRequest: ("CompleteJob", gw.CompleteJobResponse),
    gw.FailJobRequest: ("FailJob", gw.FailJobResponse),
}


@attrs.define
class Settings:
    brokers: int = 3
    partitions: int = 3
    instances: int = 24
    fault_phase: float = 40.0  # seconds of simulated time with faults
    drain_within: float = 240.0  # then everything acknowledged must complete within this
    snapshot_entries: int = 30
    faults: bool = True
    with_result: float = 0.25  # share of instances created with CreateProcessInstanceWithResult


@attrs.define
class Tracked:
    """One correlation key: its instance (if acknowledged) and what happened to it."""

    key: str
    instance: int | None = None
    messages: set[str] = attrs.Factory(set)  # acknowledged publishes
    finish: dict[str, Any] | None = None  # the finish job's variables, once activated
    finished: bool = False  # the finish job's completion was acknowledged


class Workload:
    def __init__(self, seed: int, settings: Settings | None = None) -> None:
        self.seed = seed
        self.settings = settings or Settings()
        self.rng = random.Random(seed ^ 0x5EED)
        self.violations: list[str] = []
        self.keys: dict[str, Tracked] = {}
        self.by_instance: dict[int, Tracked] = {}
        self.unknown_creates = 0
        self.awaiting_results = 0  # CreateProcessInstanceWithResult calls not answered yet
        self.with_result = 0  # instances acknowledged with their result
        self.acked_completions: dict[int, float] = {}  # job key -> when it was acknowledged
        self.samples: dict[tuple[int, int], tuple[str, int]] = {}  # (pid, index) -> digest, node
        self.sampled = 0
        self.faults: list[str] = []
        self.calls = 0
        self.errors: dict[str, int] = {}
        self._hooked: set[int] = set()
        self.faults_over = not self.settings.faults  # the faulter finished (and healed)
        # The calls under way through each broker's gateway: a client's connection to a broker
        # breaks when the broker dies, so they end with it (they would hang otherwise).
        self._via: dict[int, set[trio.CancelScope]] = {}
        s = self.settings
        self.cluster = SimCluster(
            seed,
            s.brokers,
            s.partitions,
            3,
            overrides={"data": {"snapshot_entries": s.snapshot_entries}},
        )

    # --- plumbing -------------------------------------------------------------------------

    def violation(self, text: str) -> None:
        self.violations.append(f"seed {self.seed}: {text}")

    def gateway_node(self) -> int | None:
        running = sorted(self.cluster.running)
        return self.rng.choice(running) if running else None

    async def call(self, request: Message, timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        """One request through a random running broker's gateway: the response or GrpcError."""
        node = self.gateway_node()
        if node is None:  # every broker is down
            await trio.sleep(0.5)
            return GrpcError(StatusCode.UNAVAILABLE, "no broker is running")
        gateway = self.cluster.brokers[node].gateway
        assert gateway is not None
        name, response = _RPC[type(request)]
        self.calls += 1
        data = None
        try:
            with self.connection(node), trio.fail_after(timeout + 5):
                data = await gateway.call(
                    GATEWAY + name, request.SerializeToString(), timeout=timeout
                )
        except GrpcError as error:
            self.count(error.code.name)
            return error
        except trio.TooSlowError:
            self.count("TIMEOUT")
            return GrpcError(StatusCode.DEADLINE_EXCEEDED, "the call timed out")
        if data is None:
            self.count("BROKER_DIED")
            return GrpcError(StatusCode.UNAVAILABLE, f"the connection to broker {node} broke")
        return response.FromString(data)

    def count(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @contextmanager
    def connection(self, node: int) -> Iterator[None]:
        """A client connection to ``node``'s gateway: it breaks (the call inside ends) when
        the broker dies."""
        scope = trio.CancelScope()
        via = self._via.setdefault(node, set())
        via.add(scope)
        try:
            with scope:
                yield
        finally:
            via.discard(scope)

    async def activate(self, job_type: str, lease: float) -> list[gw.ActivatedJob]:
        node = self.gateway_node()
        if node is None:
            await trio.sleep(0.5)
            return []
        gateway = self.cluster.brokers[node].gateway
        assert gateway is not None
        request = gw.ActivateJobsRequest(
            type=job_type,
            worker=f"w{node}",
            maxJobsToActivate=4,
            timeout=int(lease * 1000),
            requestTimeout=1000,
        )
        sent: list[bytes] = []
        try:
            with self.connection(node), trio.fail_after(10):
                sent = await gateway.call_stream(
                    GATEWAY + "ActivateJobs", request.SerializeToString(), timeout=5
                )
        except (GrpcError, trio.TooSlowError):
            return []
        jobs: list[gw.ActivatedJob] = []
        for message in sent:
            jobs.extend(gw.ActivateJobsResponse.FromString(message).jobs)
        return jobs

    # --- replicas -------------------------------------------------------------------------

    def processors(self, pid: int) -> dict[int, PartitionProcessor]:
        found = {}
        for node in sorted(self.cluster.running):
            manager = self.cluster.brokers[node].partitions
            proc = manager.processor(pid) if manager is not None else None
            if proc is not None:
                found[node] = proc
        return found

    def engine(self, pid: int) -> Engine | None:
        """The engine of the partition's serving leader."""
        node = self.cluster.leaders().get(pid)
        proc = self.processors(pid).get(node) if node is not None else None
        if proc is None or not proc.serving or not isinstance(proc.machine, Engine):
            return None
        return proc.machine

    def hook_replicas(self) -> None:
        """Sample every replica's snapshot bytes at the same applied indexes (new processors
        after each restart get the hook too)."""
        for pid in range(1, self.settings.partitions + 1):
            for node, proc in self.processors(pid).items():
                if id(proc) not in self._hooked:
                    self._hooked.add(id(proc))
                    proc.on_applied.append(self._sampler(pid, node, proc))

    def _sampler(self, pid: int, node: int, proc: PartitionProcessor) -> Callable[[], None]:
        def sample() -> None:
            index = proc.applied_index
            if index % SAMPLE_EVERY:
                return
            digest = hashlib.blake2b(proc.machine.snapshot(), digest_size=16).hexdigest()
            self.sampled += 1
            seen = self.samples.setdefault((pid, index), (digest, node))
            if seen[0] != digest:
                self.violation(
                    f"partition {pid}: replicas differ at applied index {index}: node {seen[1]} "
                    f"has {seen[0]}, node {node} has {digest}"
                )

        return sample

    # --- the clients ----------------------------------------------------------------------

    async def deploy(self) -> None:
        request = gw.DeployResourceRequest(
            resources=[gw.Resource(name="order.bpmn", content=order_process())]
        )
        for _ in range(100):
            if isinstance(await self.call(request), gw.DeployResourceResponse):
                return
            await trio.sleep(0.5)
        raise AssertionError(f"seed {self.seed}: the deployment was never acknowledged")

    async def creators(self) -> None:
        async with trio.open_nursery() as nursery:
            for which in range(CREATORS):
                nursery.start_soon(self.creator, which, nursery)

    async def creator(self, which: int, nursery: trio.Nursery) -> None:
        n = 0
        created = 0
        while created < self.settings.instances // CREATORS:
            key = f"s{self.seed}-c{which}-k{n}"
            n += 1
            tracked = self.keys[key] = Tracked(key)
            if self.settings.with_result and self.rng.random() < self.settings.with_result:
                # Answered when the instance completes: both messages wait for it.
                self.awaiting_results += 1
                nursery.start_soon(self.create_with_result, tracked, n)
                created += 1
                continue
            if self.rng.random() < 0.3:  # a message waits for the instance
                await self.publish(tracked, "A")
            request = gw.CreateProcessInstanceRequest(
                bpmnProcessId=PROCESS_ID, version=-1, variables=json.dumps({"key": key, "n": n})
            )
            while True:
                answer = await self.call(request)
                if isinstance(answer, gw.CreateProcessInstanceResponse):
                    tracked.instance = answer.processInstanceKey
                    self.by_instance[answer.processInstanceKey] = tracked
                    created += 1
                    break
                if answer.code is StatusCode.NOT_FOUND:  # not distributed there yet
                    await trio.sleep(0.2)
                    continue
                # The outcome is unknown (maybe created): that key is not used again.
                self.unknown_creates += 1
                break
            await trio.sleep(self.rng.uniform(0.0, 1.0))

    async def create_with_result(self, tracked: Tracked, n: int) -> None:
        try:
            await self.publish(tracked, "A")
            await self.publish(tracked, "B")
            create = gw.CreateProcessInstanceRequest(
                bpmnProcessId=PROCESS_ID,
                version=-1,
                variables=json.dumps({"key": tracked.key, "n": n}),
            )
            request = gw.CreateProcessInstanceWithResultRequest(
                request=create, requestTimeout=300_000
            )
            while True:
                answer = await self.call(request, timeout=300)
                if isinstance(answer, gw.CreateProcessInstanceWithResultResponse):
                    tracked.instance = answer.processInstanceKey
                    self.by_instance[answer.processInstanceKey] = tracked
                    tracked.finish = json.loads(answer.variables)
                    tracked.finished = True
                    self.with_result += 1
                    return
                if answer.code is not StatusCode.NOT_FOUND:
                    self.unknown_creates += 1  # maybe created (maybe even completed)
                    return
                await trio.sleep(0.2)
        finally:
            self.awaiting_results -= 1

    async def publisher(self) -> None:
        """Publishes each acknowledged instance's messages, some at once, some later."""
        while True:
            for tracked in list(self.keys.values()):
                if tracked.instance is None:
                    continue
                for which in "AB":
                    if f"{tracked.key}-{which}" not in tracked.messages and self.rng.random() < 0.2:
                        await self.publish(tracked, which)
            await trio.sleep(self.rng.uniform(0.2, 1.0))

    async def publish(self, tracked: Tracked, which: str) -> None:
        mid = f"{tracked.key}-{which}"
        request = gw.PublishMessageRequest(
            name="pay",
            correlationKey=tracked.key,
            timeToLive=TTL_MS,
            messageId=mid,
            variables=json.dumps({"mid": mid}),
        )
        for _ in range(50):
            answer = await self.call(request)
            if isinstance(answer, gw.PublishMessageResponse) or (
                answer.code is StatusCode.ALREADY_EXISTS  # an earlier attempt got through
            ):
                tracked.messages.add(mid)
                return
            await trio.sleep(0.3)

    async def worker(self, job_type: str) -> None:
        while True:
            lease = self.rng.uniform(1.0, 6.0)
            asked = trio.current_time()
            jobs = await self.activate(job_type, lease)
            if not jobs:
                await trio.sleep(self.rng.uniform(0.1, 0.5))
                continue
            for job in jobs:
                acked = self.acked_completions.get(job.key)
                if acked is not None and acked < asked:
                    # (An activation that was under way when the completion was acknowledged
                    # may have been applied before it.)
                    self.violation(
                        f"job {job.key} ({job_type}) was completed (acknowledged at {acked:.3f}) "
                        f"and then activated again by a request sent at {asked:.3f}"
                    )
                tracked = self.by_instance.get(job.processInstanceKey)
                variables = json.loads(job.variables)
                if job_type == "finish" and tracked is not None:
                    tracked.finish = variables
                roll = self.rng.random()
                if roll < 0.1:
                    continue  # the worker dies: the lease runs out
                if roll < 0.2:
                    fail = gw.FailJobRequest(
                        jobKey=job.key,
                        retries=job.retries,
                        errorMessage="try later",
                        retryBackOff=500,
                    )
                    await self.call(fail)
                    continue
                complete = gw.CompleteJobRequest(
                    jobKey=job.key, variables=json.dumps({f"{job_type}_done": True})
                )
                answer = await self.call(complete)
                if isinstance(answer, gw.CompleteJobResponse):
                    self.acked_completions[job.key] = trio.current_time()
                    if job_type == "finish" and tracked is not None:
                        tracked.finished = True

    def crash(self, node: int, *, power_loss: bool) -> None:
        self.cluster.crash(node, power_loss=power_loss)
        for scope in self._via.pop(node, set()):
            scope.cancel()

    async def faulter(self) -> None:
        rng, cluster = self.rng, self.cluster
        until = trio.current_time() + self.settings.fault_phase
        while trio.current_time() < until:
            await trio.sleep(rng.uniform(1.0, 5.0))
            roll = rng.random()
            if roll < 0.1:
                # Every broker loses power at once: only what was synced survives, and every
                # acknowledged command was synced on a quorum.
                self.faults.append(f"{trio.current_time():.1f} blackout")
                for node in range(cluster.size):
                    self.crash(node, power_loss=True)
                await trio.sleep(rng.uniform(0.0, 5.0))
                for node in range(cluster.size):
                    await cluster.start(node)
            elif roll < 0.2:
                # A quorum is gone: partitions are leaderless for a while (timers fall due).
                down = rng.sample(range(cluster.size), 2)
                self.faults.append(f"{trio.current_time():.1f} crash {down}")
                for node in down:
                    self.crash(node, power_loss=rng.random() < 0.5)
                await trio.sleep(rng.uniform(0.5, 8.0))
                for node in down:
                    await cluster.start(node)
            elif roll < 0.5:
                victim = rng.randrange(cluster.size)
                power_loss = rng.random() < 0.7
                self.faults.append(f"{trio.current_time():.1f} crash {victim} pl={power_loss}")
                self.crash(victim, power_loss=power_loss)
                await trio.sleep(rng.choice([0.0, rng.uniform(0.2, 5.0)]))
                await cluster.start(victim)
            elif roll < 0.75:
                lonely = rng.randrange(cluster.size)
                rest = [n for n in range(cluster.size) if n != lonely]
                self.faults.append(f"{trio.current_time():.1f} partition {lonely}")
                cluster.partition([lonely], rest)
                await trio.sleep(rng.uniform(0.5, 6.0))
                cluster.heal()
            else:
                leaders = cluster.leaders()
                if leaders:
                    pid = rng.choice(sorted(leaders))
                    to = rng.choice([n for n in sorted(cluster.running) if n != leaders[pid]])
                    self.faults.append(f"{trio.current_time():.1f} transfer {pid} -> {to}")
                    manager = cluster.brokers[leaders[pid]].partitions
                    assert manager is not None
                    manager.transfer_leadership(pid, to)
        self.faults_over = True

    async def hooker(self) -> None:
        while True:
            self.hook_replicas()
            await trio.sleep(0.05)

    # --- the run --------------------------------------------------------------------------

    def pending(self) -> list[Tracked]:
        return [t for t in self.keys.values() if t.instance is not None and not self.done(t)]

    def done(self, tracked: Tracked) -> bool:
        assert tracked.instance is not None
        pid = tracked.instance >> 51
        engine = self.engine(pid)
        return (
            tracked.finished and engine is not None and tracked.instance not in engine.instances()
        )

    async def run(self) -> None:
        s = self.settings
        async with trio.open_nursery() as nursery:
            cluster: SimCluster = await nursery.start(self.cluster.run)
            nursery.start_soon(self.hooker)
            await wait_until(
                lambda: all(self.engine(p) is not None for p in range(1, s.partitions + 1)),
                6 * ET,
            )
            await self.deploy()
            async with trio.open_nursery() as clients:
                clients.start_soon(self.publisher)
                for job_type in ("work", "work", "finish"):
                    clients.start_soon(self.worker, job_type)
                if s.faults:
                    clients.start_soon(self.faulter)
                await self.creators()
                if s.faults:
                    await wait_until(lambda: len(self.faults) > 0, s.fault_phase + 10)
                # the faulter ends with its phase; then everything acknowledged completes
                with trio.move_on_after(s.fault_phase + s.drain_within):
                    await wait_until(
                        lambda: (
                            not self.pending() and not self.awaiting_results and self.faulter_done()
                        ),
                        s.fault_phase + s.drain_within,
                    )
                clients.cancel_scope.cancel()
            self.check_instances()
            await self.check_replicas()
            nursery.cancel_scope.cancel()
        assert cluster is self.cluster

    def faulter_done(self) -> bool:
        return self.faults_over and len(self.cluster.running) == self.cluster.size

    def check_instances(self) -> None:
        for tracked in self.keys.values():
            if tracked.instance is None:
                continue
            where = f"instance {tracked.instance} (key {tracked.key})"
            pid = tracked.instance >> 51
            engine = self.engine(pid)
            active = engine is not None and tracked.instance in engine.instances()
            if not active and tracked.finish is None:
                self.violation(f"{where} is gone without reaching its finish task")
            if active:
                assert engine is not None
                instance = engine.instances()[tracked.instance]
                self.violation(
                    f"{where} did not complete: {instance!r}; messages acknowledged: "
                    f"{sorted(tracked.messages)}"
                )
                continue
            if tracked.finish is not None:
                got = (tracked.finish.get("first"), tracked.finish.get("second"))
                if sorted(map(str, got)) != [f"{tracked.key}-A", f"{tracked.key}-B"]:
                    self.violation(f"{where} correlated {got}, expected its A and B once each")

    async def check_replicas(self) -> None:
        for pid in range(1, self.settings.partitions + 1):

            def same(pid: int = pid) -> bool:
                procs = self.processors(pid)
                if len(procs) != self.cluster.size:
                    return False
                if len({p.applied_index for p in procs.values()}) != 1:
                    return False
                return len({p.machine.snapshot() for p in procs.values()}) == 1

            try:
                await wait_until(same, 30)
            except trio.TooSlowError:
                procs = self.processors(pid)
                raft = {n: p.driver.status().raft for n, p in procs.items()}
                self.violation(
                    f"partition {pid}: replicas did not converge: applied "
                    f"{ {n: p.applied_index for n, p in procs.items()} }, halted "
                    f"{ {n: p.halted for n, p in procs.items()} }, raft {raft}"
                )

    def cross_partition(self) -> int:
        """Acknowledged instances whose messages live on another partition than they do."""
        count = self.settings.partitions
        return sum(
            1
            for t in self.keys.values()
            if t.instance is not None and message_partition(t.key, count) != t.instance >> 51
        )

    def summary(self) -> str:
        acked = sum(1 for t in self.keys.values() if t.instance is not None)
        return (
            f"seed {self.seed}: {acked} instances acknowledged ({self.cross_partition()} with "
            f"their messages on another partition, {self.with_result} with their result), "
            f"{self.unknown_creates} "
            f"creates of unknown outcome, {len(self.acked_completions)} job completions, "
            f"{self.sampled} replica samples, {self.calls} calls, errors {self.errors}, "
            f"faults {self.faults}"
        )


async def run_workload(seed: int, settings: Settings | None = None) -> Workload:
    workload = Workload(seed, settings)
    print(f"process workload seed {seed} (replay: run_workload({seed}) under MockClock)")
    await workload.run()
    print(workload.summary())
    return workload
