"""Client against real gateways of a one-broker cluster, under trio and asyncio: typed results,
one exception class per error kind, failover between gateway addresses, deadlines."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trio

import trio_zeebe
from trio_zeebe import (
    Client,
    ClientError,
    ConnectionFailed,
    DeadlineExceeded,
    GatewayUnreachable,
    Internal,
    InvalidArgument,
    InvalidState,
    Job,
    NotFound,
    RequestError,
    ResourceExhausted,
    Unavailable,
    Unimplemented,
)
from trio_zeebe.grpc.status import GrpcError, StatusCode

from .conftest import eventually
from .fake import FakeGateways, Forward

Run = Callable[[Callable[[], Awaitable[Any]]], Any]


def client_for(gateways: FakeGateways, **kw: Any) -> Client:
    kw.setdefault("request_timeout", 5.0)
    kw.setdefault("connect_timeout", 2.0)
    return Client(gateways.addresses, insecure=True, **kw)


def test_job_commands_return_typed_results(run: Run, gateways: FakeGateways) -> None:
    async def main() -> None:
        async with client_for(gateways) as client:
            key = await client.create_job(
                "pay", retries=2, variables={"amount": 12}, custom_headers={"h": "v"}
            )
            assert isinstance(key, int) and key >> 51 == 1
            started = anyio.current_time()
            jobs = await client.activate_jobs("pay", worker="w1", max_jobs=5, timeout=30)
            assert [type(j) for j in jobs] == [Job]
            job = jobs[0]
            assert (job.key, job.state, job.worker, job.retries) == (key, "ACTIVATED", "w1", 2)
            assert (job.variables, job.custom_headers) == ({"amount": 12}, {"h": "v"})
            assert job.deadline is not None and 25 < job.deadline - gateways.clock() <= 30.5
            assert job.process_instance_key == -1 and job.bpmn_process_id == ""  # standalone
            await client.update_job_timeout(key, 60)
            engine_job = await anyio.to_thread.run_sync(gateways.job, key)
            assert engine_job is not None and engine_job.state == "ACTIVATED"
            await client.fail_job(key, retries=1, error_message="nope")
            engine_job = await anyio.to_thread.run_sync(gateways.job, key)
            assert engine_job is not None
            assert (engine_job.retries, engine_job.error_message) == (1, "nope")
            await client.update_job_retries(key, 5)
            again = await client.activate_jobs("pay", worker="w2", fetch_variables=["x"])
            assert [j.key for j in again] == [key] and again[0].variables == {}
            assert again[0].retries == 5
            assert await client.complete_job(key, {"paid": True}) is None
            assert await anyio.to_thread.run_sync(gateways.job, key) is None  # completed: gone
            with pytest.raises(NotFound) as info:
                await client.complete_job(key)
            assert info.value.code == "NOT_FOUND" and isinstance(info.value, ClientError)
            assert info.value.message == (
                f"Command 'COMPLETE' rejected with code 'NOT_FOUND': Expected to complete job "
                f"with key '{key}', but no such job was found"
            )
            assert anyio.current_time() - started < 5

            other = await client.create_job("pay")
            await client.throw_error(other, "NO_FUNDS", "card declined")
            with pytest.raises(InvalidState):
                await client.complete_job(other)

    run(main)


def test_activate_long_polls_until_a_job_appears_or_the_request_timeout(
    run: Run, gateways: FakeGateways
) -> None:
    async def main() -> None:
        async with client_for(gateways) as client:
            started = anyio.current_time()
            assert await client.activate_jobs("idle", worker="w", request_timeout=0.2) == []
            assert anyio.current_time() - started >= 0.2

            found: list[Job] = []

            async def poll() -> None:
                found.extend(await client.activate_jobs("late", worker="w", request_timeout=30))

            async with anyio.create_task_group() as tg:
                tg.start_soon(poll)
                await eventually(
                    lambda: any(r.type == "late" for r in gateways.sent("ActivateJobs"))
                )
                key = await client.create_job("late")
            assert [j.key for j in found] == [key]

    run(main)


ERRORS = [
    ("NOT_FOUND", NotFound),
    ("FAILED_PRECONDITION", InvalidState),
    ("INVALID_ARGUMENT", InvalidArgument),
    ("DEADLINE_EXCEEDED", DeadlineExceeded),
    ("RESOURCE_EXHAUSTED", ResourceExhausted),
    ("UNAVAILABLE", Unavailable),
    ("UNIMPLEMENTED", Unimplemented),
    ("INTERNAL", Internal),
]


@pytest.mark.parametrize(("code", "kind"), ERRORS)
def test_each_error_code_raises_its_own_class(
    run: Run, gateways: FakeGateways, code: str, kind: type[ClientError]
) -> None:
    async def refuse(fake: FakeGateways, i: int, rpc: str, request: Any, forward: Forward) -> bytes:
        raise GrpcError(StatusCode[code], f"refused {rpc}")

    gateways.handlers[0] = refuse

    async def main() -> None:
        async with client_for(gateways) as client:
            with pytest.raises(kind, match="refused CompleteJob") as info:
                await client.complete_job(1 << 51)
            assert type(info.value) is kind and info.value.code == code
            assert isinstance(info.value, ClientError)
            assert getattr(trio_zeebe, kind.__name__) is kind

    run(main)
    # An error answer is an answer: never retried on the other gateway.
    assert [i for i, _, _ in gateways.requests] == [0]


def test_unknown_error_code_is_a_request_error(run: Run, gateways: FakeGateways) -> None:
    async def refuse(fake: FakeGateways, i: int, rpc: str, request: Any, forward: Forward) -> bytes:
        raise GrpcError(StatusCode.ABORTED, "from the future")

    gateways.handlers[0] = refuse

    async def main() -> None:
        async with client_for(gateways) as client:
            with pytest.raises(RequestError, match="ABORTED: from the future"):
                await client.create_job("x")

    run(main)


def test_bad_arguments_are_refused_before_sending(run: Run, gateways: FakeGateways) -> None:
    async def main() -> None:
        async with client_for(gateways) as client:
            with pytest.raises(InvalidArgument, match="max_jobs"):
                await client.activate_jobs("t", worker="w", max_jobs=0)
            with pytest.raises(InvalidArgument, match="retries"):
                await client.create_job("t", retries=-1)
            with pytest.raises(InvalidArgument, match="timeout"):
                await client.update_job_timeout(1, float("nan"))
            with pytest.raises(InvalidArgument, match="type"):
                await client.create_job("")

    run(main)
    assert gateways.requests == []


def test_fails_over_when_the_first_address_is_down(run: Run, gateways: FakeGateways) -> None:
    gateways.stop_gateway(0)

    async def main() -> None:
        async with client_for(gateways) as client:
            key = await client.create_job("t")
            assert [j.key for j in await client.activate_jobs("t", worker="w")] == [key]

    run(main)
    assert {i for i, _, _ in gateways.requests} == {1}


def test_no_reachable_gateway_is_connection_failed_at_once(run: Run) -> None:
    with FakeGateways(2) as gateways:
        gateways.stop_gateway(0)
        gateways.stop_gateway(1)

        async def main() -> None:
            async with client_for(gateways, request_timeout=30) as client:
                with anyio.fail_after(5), pytest.raises(ConnectionFailed) as info:
                    await client.create_job("t")
                assert isinstance(info.value, Unavailable)
                assert "cannot reach any gateway" in str(info.value)

        run(main)


def _dies_on(kind: str) -> Callable[[FakeGateways, int, str, Any, Forward], Awaitable[bytes]]:
    """A gateway that receives the request and then dies before answering it."""

    async def handler(
        fake: FakeGateways, i: int, rpc: str, request: Any, forward: Forward
    ) -> bytes:
        if rpc == kind:
            fake.stop_gateway(i)
            await trio.sleep_forever()
        return await forward()

    return handler


def test_gateway_dying_mid_request_is_retried_on_the_next(run: Run, gateways: FakeGateways) -> None:
    async def main() -> None:
        async with client_for(gateways) as client:
            key = await client.create_job("t")
            await client.activate_jobs("t", worker="w")
            gateways.handlers[0] = _dies_on("CompleteJob")
            await client.complete_job(key)
            assert await anyio.to_thread.run_sync(gateways.job, key) is None
            assert client.failovers == 1

    run(main)
    assert [(i, rpc) for i, rpc, _ in gateways.requests[-2:]] == [
        (0, "CompleteJob"),
        (1, "CompleteJob"),
    ]


def test_a_sent_copy_makes_a_later_unreachable_gateway_maybe_applied(
    run: Run, gateways: FakeGateways
) -> None:
    """CompleteJob reached gateway 0, which died before answering, and gateway 1 is down too:
    the caller must hear "maybe applied", not "nothing was delivered"."""

    async def main() -> None:
        async with client_for(gateways) as client:
            key = await client.create_job("t")
            await client.activate_jobs("t", worker="w")
            await anyio.to_thread.run_sync(gateways.stop_gateway, 1)
            gateways.handlers[0] = _dies_on("CompleteJob")
            with pytest.raises(ConnectionFailed, match="may or may not") as info:
                await client.complete_job(key)
            assert not isinstance(info.value, GatewayUnreachable)

    run(main)
    assert [rpc for _, rpc, _ in gateways.requests].count("CompleteJob") == 1


def test_create_job_is_not_retried_once_sent(run: Run, gateways: FakeGateways) -> None:
    gateways.handlers[0] = _dies_on("CreateJob")

    async def main() -> None:
        async with client_for(gateways) as client:
            with pytest.raises(ConnectionFailed, match="may or may not") as info:
                await client.create_job("t")
            assert isinstance(info.value, Unavailable)
            # The client itself carries on with the next gateway.
            assert isinstance(await client.create_job("t"), int)

    run(main)
    assert [(i, rpc) for i, rpc, _ in gateways.requests] == [
        (0, "CreateJob"),
        (1, "CreateJob"),
    ]


def test_create_job_is_retried_when_it_never_left(run: Run, gateways: FakeGateways) -> None:
    async def main() -> None:
        async with client_for(gateways) as client:
            await client.create_job("t")  # connected to gateway 0
            channel = client._conns.current
            assert channel is not None
            await anyio.to_thread.run_sync(gateways.stop_gateway, 0)
            await eventually(lambda: channel.closed)
            await client.create_job("t")  # written to no socket: safe on gateway 1

    run(main)
    assert [(i, rpc) for i, rpc, _ in gateways.requests] == [
        (0, "CreateJob"),
        (1, "CreateJob"),
    ]


def test_no_answer_in_time_is_deadline_exceeded_and_the_client_goes_on(
    run: Run, gateways: FakeGateways
) -> None:
    async def stall_creates(
        fake: FakeGateways, i: int, rpc: str, request: Any, forward: Forward
    ) -> bytes:
        if rpc == "CreateJob" and request.type == "stall":
            await trio.sleep_forever()
        return await forward()

    gateways.handlers[0] = stall_creates

    async def main() -> None:
        async with client_for(gateways, request_timeout=0.3) as client:
            started = anyio.current_time()
            with pytest.raises(DeadlineExceeded) as info:
                await client.create_job("stall")
            assert 0.3 <= anyio.current_time() - started < 2
            assert info.value.code == "DEADLINE_EXCEEDED"
            assert isinstance(await client.create_job("fine"), int)  # same connection
            assert client.failovers == 0

    run(main)


def test_many_requests_in_flight_share_one_connection(run: Run, gateways: FakeGateways) -> None:
    keys: list[int] = []

    async def main() -> None:
        async with client_for(gateways) as client:

            async def create(n: int) -> None:
                keys.append(await client.create_job("bulk", variables={"n": n}))

            async with anyio.create_task_group() as tg:
                for n in range(200):
                    tg.start_soon(create, n)
            jobs = await client.activate_jobs("bulk", worker="w", max_jobs=500)
            assert sorted(j.key for j in jobs) == sorted(keys)
            assert sorted(j.variables["n"] for j in jobs) == list(range(200))

    run(main)
    assert len(set(keys)) == 200


def test_the_client_imports_neither_trio_nor_the_broker() -> None:
    import subprocess
    import sys

    code = (
        "import sys, trio_zeebe.client; print('trio' in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith('trio_zeebe.') and m.split('.')[1] in "
        "('broker', 'gateway', 'raft', 'transport', 'membership', 'partitions', 'processing', "
        "'engine')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False []"
