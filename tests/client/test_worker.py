"""Worker against fake gateways (a real job engine behind them), under trio and asyncio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from trio_zeebe import Client, Job, JobError, Unimplemented, Worker
from trio_zeebe.engine.records import CompleteJob, FailJob, JobState, ThrowError
from trio_zeebe.gateway.messages import ActivateJobsRequest
from trio_zeebe.gateway.server import GatewayRequestError
from trio_zeebe.worker import retry_backoff

from .conftest import eventually
from .fake import FakeGateways

Run = Callable[[Callable[[], Awaitable[Any]]], Any]


def client_for(gateways: FakeGateways) -> Client:
    return Client(gateways.addresses, insecure=True, request_timeout=5, connect_timeout=2)


def sent(gateways: FakeGateways, kind: type) -> list[Any]:
    return [r for _, r in gateways.requests if isinstance(r, kind)]


async def engine_job(gateways: FakeGateways, key: int) -> Job | None:
    return await anyio.to_thread.run_sync(gateways.call, lambda: gateways.engine.job(key))  # type: ignore[no-any-return]


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
    completes = {c.key: c.variables for c in sent(gateways, CompleteJob)}
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
                assert job is not None and (job.state, job.retries) == (JobState.FAILED, 2)
                assert job.error_message == "boom 1"
                await anyio.to_thread.run_sync(
                    gateways.tick, 1.0
                )  # the back-off is over: activatable again
                await eventually(lambda: w.failed == 2)
                await anyio.to_thread.run_sync(gateways.tick, 1.0)
                await eventually(lambda: w.completed == 1)

    run(main)
    fails = sent(gateways, FailJob)
    assert [(f.retries, f.error_message, f.retry_backoff) for f in fails] == [
        (2, "boom 1", 0.5),
        (1, "boom 2", 0.75),  # 0.5 * 2, capped at 0.75
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
            assert thrown is not None and thrown.state == JobState.ERROR_THROWN
            assert (thrown.error_code, thrown.error_message) == ("NO_FUNDS", "card declined")

    run(main)
    assert [t.error_code for t in sent(gateways, ThrowError)] == ["NO_FUNDS"]


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
    assert max(r.command.max_jobs for r in sent(gateways, ActivateJobsRequest)) == 4


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
            assert job is not None and job.state == JobState.ACTIVATED

    run(main)
    assert sent(gateways, CompleteJob) == [] and sent(gateways, FailJob) == []


def test_a_worker_the_gateway_cannot_serve_ends_with_that_error(
    run: Run, gateways: FakeGateways
) -> None:
    async def unimplemented(fake: FakeGateways, i: int, request: Any) -> Any:
        raise GatewayRequestError("UNIMPLEMENTED", "no jobs here")  # type: ignore[arg-type]

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

    async def busy_then_fine(fake: FakeGateways, i: int, request: Any) -> Any:
        nonlocal refusals
        if isinstance(request, ActivateJobsRequest) and refusals < 3:
            refusals += 1
            raise GatewayRequestError("RESOURCE_EXHAUSTED", "busy")  # type: ignore[arg-type]
        return await fake.engine_handler(i, request)

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
