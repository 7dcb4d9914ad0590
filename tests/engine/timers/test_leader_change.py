"""A timer that falls due while its partition has no leader fires once, after the new leader is
up: time enters the log only through the leader's time records, so nothing fires while nobody
leads, and the new leader's processor appends the record that fires it (simulated cluster of
real brokers running the process engine)."""

from __future__ import annotations

import json

import trio
import trio.testing

from trio_zeebe.engine.commands import AnswerStatus, CommandType, command, decode_answer
from trio_zeebe.engine.engine import Engine
from trio_zeebe.processing.processor import PartitionProcessor
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.raft.errors import NotLeader, ProposalDropped
from trio_zeebe.testing.bpmn import ProcessBuilder
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.raft_group import wait_until

C = CommandType
ET = 2.5  # the simulated cluster's election timeout scale


def engine(partition_id: int) -> Engine:
    return Engine(partition_id, 1)


def serving(cluster: SimCluster) -> PartitionProcessor | None:
    node = cluster.leaders().get(1)
    if node is None:
        return None
    manager = cluster.brokers[node].partitions
    proc = manager.processor(1) if manager is not None else None
    return proc if proc is not None and proc.serving else None


def replicas(cluster: SimCluster) -> dict[int, Engine]:
    found: dict[int, Engine] = {}
    for node in sorted(cluster.running):
        manager = cluster.brokers[node].partitions
        proc = manager.processor(1) if manager is not None else None
        if proc is not None and isinstance(proc.machine, Engine):
            found[node] = proc.machine
    return found


async def send(cluster: SimCluster, kind: CommandType, request: object) -> object:
    proc = serving(cluster)
    assert proc is not None
    try:
        answer = decode_answer(await proc.submit(command(kind, request)))  # type: ignore[arg-type]
    except (NotLeader, ProposalDropped) as error:
        raise AssertionError(f"the leader did not take the command: {error!r}") from None
    assert answer.status is AnswerStatus.OK, answer.body
    return answer.response(kind)


async def test_a_timer_due_while_the_partition_is_leaderless_fires_once_after_the_new_leader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    xml = (
        ProcessBuilder("p")
        .start_event()
        .intermediate_catch_event("wait", timer_duration="PT30S")
        .service_task("after", job_type="after")
        .end_event()
        .done()
    )
    async with trio.open_nursery() as nursery:
        sim = SimCluster(611, 3, 1, 3, state_machine=engine)
        cluster: SimCluster = await nursery.start(sim.run)
        await wait_until(lambda: serving(cluster) is not None, 6 * ET)
        deploy = gw.DeployResourceRequest(resources=[gw.Resource(name="p.bpmn", content=xml)])
        await send(cluster, C.DEPLOY_RESOURCE, deploy)
        created = await send(
            cluster,
            C.CREATE_PROCESS_INSTANCE,
            gw.CreateProcessInstanceRequest(bpmnProcessId="p", version=-1, variables="{}"),
        )
        created_at = trio.current_time()
        assert isinstance(created, gw.CreateProcessInstanceResponse)
        await wait_until(lambda: all(len(e.timers()) == 1 for e in replicas(cluster).values()), 5)
        (timer,) = next(iter(replicas(cluster).values())).timers().values()

        # The leader goes away a moment before the timer is due; the others elect a new one.
        await trio.sleep(29.5 - (trio.current_time() - created_at))
        old = cluster.leaders()[1]
        cluster.crash(old, power_loss=False)
        crashed_at = trio.current_time()
        await wait_until(lambda: serving(cluster) is not None, 10 * ET)
        new_leader_at = trio.current_time()
        assert cluster.leaders()[1] != old
        assert new_leader_at * 1000 > timer.due_date, "the timer fell due while leaderless"
        assert new_leader_at - crashed_at < 10 * ET

        # The new leader's time record fires it: the instance goes on to its task, once.
        def passed() -> bool:
            engines = replicas(cluster)
            return len(engines) == 2 and all(
                not e.timers() and len(e.jobs()) == 1 for e in engines.values()
            )

        await wait_until(passed, 5)
        fired_after = trio.current_time() - new_leader_at
        assert fired_after < 2.0  # promptly, not after some long back-off
        (job,) = next(iter(replicas(cluster).values())).jobs().values()
        assert (job.type, job.process_instance_key) == ("after", created.processInstanceKey)

        # The old leader comes back and replays the same log: the same single firing.
        await cluster.start(old)
        await wait_until(lambda: len(replicas(cluster)) == 3, 10 * ET)
        await wait_until(
            lambda: len({e.snapshot() for e in replicas(cluster).values()}) == 1, 10 * ET
        )
        for replica in replicas(cluster).values():
            assert list(replica.jobs()) == [job.key] and not replica.timers()
        # nothing else fires later
        await trio.sleep(60)
        activated = await send(
            cluster,
            C.ACTIVATE_JOBS,
            gw.ActivateJobsRequest(type="after", worker="w", timeout=10_000, maxJobsToActivate=5),
        )
        assert isinstance(activated, gw.ActivateJobsResponse)
        assert [j.key for j in activated.jobs] == [job.key]
        assert json.loads(activated.jobs[0].variables) == {}
        nursery.cancel_scope.cancel()
