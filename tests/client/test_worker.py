"""Worker against real gateways (a one-broker cluster running the process engine), under trio
and asyncio."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from trio_zeebe import Client, Job, JobError, Unimplemented, Worker
from trio_zeebe.client.worker import retry_backoff
from trio_zeebe.engine.runtime.values import Job as EngineJob
from trio_zeebe.grpc.status import GrpcError, StatusCode

from .conftest import eventually
from .fake import FakeGateways, Forward

Run = Callable[[Callable[[], Awaitable[Any]]], Any]


def client_for(gateways: FakeGateways) -> Client:
    return Client(gateways.addresses, insecure=True, request_timeout=5, connect_timeout=2)


def sent(gateways: FakeGateways, rpc: str) -> list[Any]:
    return gateways.sent(rpc)


async def engine_job(gateways: FakeGateways, key: int) -> EngineJob | None:
    return await anyio.to_thread.run_sync(gateways.job, key)


def test_worker_completes_jobs_with_the_handlers_variables(
    run: Run, gateways: FakeGateways
) -> None:
    seen: list[int] = []

    async def double(job: Job) -> dict[str, Any]:
        seen.append(job.key)
        return {"doubled": job.variables["n"] * 2}

    def sync_none(job: Job) -> None:  # plain functions work too; None completes with nothing
        seen.append(job.key)

    async def main() -> None:
        async with client_for(gateways) as client:
            keys = [await client.create_job("double", variables={"n": n}) for n in range(50)]
            await client.create_job("other")
            async with client.worker("double", double, max_jobs=8) as worker:
                await eventually(lambda: worker.completed == 50)
            assert sorted(seen) == sorted(keys) and worker.failed == 0
            async with client.worker("other", sync_none) as worker:
                await eventually(lambda: worker.completed == 1)

    run(main)
    completes = {c.jobKey: json.loads(c.variables or "{}") for c in sent(gateways, "CompleteJob")}
    assert len(completes) == 51
    assert sorted(v["doubled"] for v in completes.values() if v) == [2 * n for n in range(50)]


def test_a_raising_handler_fails_the_job_with_retries_minus_one_and_back_off(
    run: Run, gateways: FakeGateways
) -> None:
    calls: dict[int, int] = {}

    async def flaky(job: Job) -> dict[str, Any]:
        calls[job.key] = calls.get(job.key, 0) + 1
        if calls[job.key] <= 2:
            raise ValueError(f"boom {calls[job.key]}")
        return {}

    async def main() -> None:
        async with client_for(gateways) as client:
            key = await client.create_job("flaky", retries=3)
            async with client.worker("flaky", flaky, backoff_base=0.5, backoff_max=0.75) as w:
                await eventually(lambda: w.failed == 1)
                job = await engine_job(gateways, key)
                assert job is not None and (job.state, job.retries) == ("FAILED", 2)
                assert job.error_message == "boom 1"
                await anyio.to_thread.run_sync(
                    gateways.tick, 1.0
                )  # the back-off is over: activatable again
                await eventually(lambda: w.failed == 2)
                await anyio.to_thread.run_sync(gateways.tick, 1.0)
                await eventually(lambda: w.completed == 1)

    run(main)
    fails = sent(gateways, "FailJob")
    assert [(f.retries, f.errorMessage, f.retryBackOff) for f in fails] == [
        (2, "boom 1", 500),  # milliseconds on the wire
        (1, "boom 2", 750),  # 0.5 * 2, capped at 0.75
    ]


def test_the_last_retry_leaves_an_incident_and_business_errors_are_thrown(
    run: Run, gateways: FakeGateways
) -> None:
    async def handler(job: Job) -> None:
        if job.type == "declined":
            raise JobError("NO_FUNDS", "card declined")
        raise RuntimeError()

    async def main() -> None:
        async with client_for(gateways) as client:
            last = await client.create_job("broken", retries=1)
            declined = await client.create_job("declined")
            async with (
                client.worker("broken", handler) as w1,
                client.worker("declined", handler) as w2,
            ):
                await eventually(lambda: w1.failed == 1 and w2.thrown == 1)
            job = await engine_job(gateways, last)
            assert job is not None and (job.state, job.retries) == ("FAILED", 0)
            assert job.error_message == "RuntimeError"  # no text: the exception's name
            thrown = await engine_job(gateways, declined)
            assert thrown is not None and thrown.state == "ERROR_THROWN"
            assert (thrown.error_code, thrown.error_message) == ("NO_FUNDS", "card declined")

    run(main)
    assert [t.errorCode for t in sent(gateways, "ThrowError")] == ["NO_FUNDS"]


def test_concurrency_bound_is_respected(run: Run, gateways: FakeGateways) -> None:
    running = peak = done = 0

    async def slow(job: Job) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.01)
        running -= 1
        done += 1

    async def main() -> None:
        async with client_for(gateways) as client:
            for _ in range(60):
                await client.create_job("slow")
            async with client.worker("slow", slow, concurrency=4, max_jobs=32) as worker:
                await eventually(lambda: worker.completed == 60)

    run(main)
    assert peak == 4 and done == 60
    # The worker asked only for jobs it had room for: none waited activated for a slot.
    assert max(r.maxJobsToActivate for r in sent(gateways, "ActivateJobs")) == 4


def test_cancellation_stops_polling_and_handlers(run: Run, gateways: FakeGateways) -> None:
    cancelled: list[int] = []

    async def main() -> None:
        started = anyio.Event()

        async def stuck(job: Job) -> None:
            started.set()
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.append(job.key)

        async with client_for(gateways) as client:
            key = await client.create_job("stuck")
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(client.worker("stuck", stuck).run)
                    tg.start_soon(client.worker("idle", stuck, poll_timeout=30).run)
                    await started.wait()
                    scope.cancel()
            assert cancelled == [key]
            job = await engine_job(gateways, key)  # re-offered when its lease ends
            assert job is not None and job.state == "ACTIVATED"

    run(main)
    assert sent(gateways, "CompleteJob") == [] and sent(gateways, "FailJob") == []


def test_a_worker_the_gateway_cannot_serve_ends_with_that_error(
    run: Run, gateways: FakeGateways
) -> None:
    async def unimplemented(
        fake: FakeGateways, i: int, rpc: str, request: Any, forward: Forward
    ) -> bytes:
        raise GrpcError(StatusCode.UNIMPLEMENTED, "no jobs here")

    gateways.handlers[0] = unimplemented

    async def main() -> None:
        async with client_for(gateways) as client:
            with pytest.raises(Unimplemented, match="no jobs here"):
                await client.worker("t", lambda job: None).run()
            with pytest.raises(Unimplemented):
                async with client.worker("t", lambda job: None):
                    await anyio.sleep_forever()

    run(main)


def test_transient_activation_errors_are_retried(run: Run, gateways: FakeGateways) -> None:
    refusals = 0

    async def busy_then_fine(
        fake: FakeGateways, i: int, rpc: str, request: Any, forward: Forward
    ) -> bytes:
        nonlocal refusals
        if rpc == "ActivateJobs" and refusals < 3:
            refusals += 1
            raise GrpcError(StatusCode.RESOURCE_EXHAUSTED, "busy")
        return await forward()

    gateways.handlers[0] = busy_then_fine

    async def main() -> None:
        async with client_for(gateways) as client:
            await client.create_job("t")
            async with client.worker("t", lambda job: None, poll_pause_max=0.05) as worker:
                await eventually(lambda: worker.completed == 1)

    run(main)
    assert refusals == 3


def test_retry_backoff_is_capped_exponential() -> None:
    assert [retry_backoff(n, 1.0, 10.0) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert retry_backoff(10_000, 1.0, 60.0) == 60.0
    with pytest.raises(ValueError):
        Worker(Client(insecure=True), "t", lambda job: None, concurrency=0)
