"""The gRPC server against grpcio, the reference client (blocking API, in a worker thread)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

import grpc
import pytest
import trio

from trio_zeebe.gateway.grpc_config import GrpcServerConfig
from trio_zeebe.gateway.health import NOT_SERVING, SERVING, HealthService
from trio_zeebe.proto import gateway_pb2, health_pb2, status_pb2

from .support import (
    BLOCK,
    BOOM,
    DEADLINE,
    ECHO,
    FAIL,
    STREAM,
    Certs,
    Probe,
    build_registry,
    serving,
)

T = TypeVar("T")
MIB = 1024 * 1024
OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.max_receive_message_length", 8 * 1024 * 1024)]


async def in_thread(fn: Callable[[], T], limit: float = 20) -> T:
    with trio.fail_after(limit):
        return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)


@contextmanager
def insecure(port: int) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=OPTIONS) as channel:
        yield channel


@contextmanager
def secure(port: int, certs: Certs, *, client_cert: bool = False) -> Iterator[grpc.Channel]:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certs.ca_pem.read_bytes(),
        private_key=certs.client_key.read_bytes() if client_cert else None,
        certificate_chain=certs.client_chain.read_bytes() if client_cert else None,
    )
    with grpc.secure_channel(f"localhost:{port}", credentials, options=OPTIONS) as channel:
        yield channel


def rpc_error(fn: Callable[[], Any]) -> grpc.RpcError:
    try:
        fn()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded")


def basic_calls(channel: grpc.Channel) -> tuple[bytes, list[bytes]]:
    echo = channel.unary_unary(ECHO)(b"hello", timeout=10)
    streamed = list(channel.unary_stream(STREAM)(b"3", timeout=10))
    return echo, streamed


async def test_unary_and_server_streaming_over_h2c(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server:

        def calls() -> tuple[bytes, list[bytes]]:
            with insecure(server.port) as channel:
                return basic_calls(channel)

        assert await in_thread(calls) == (b"hello", [b"0", b"1", b"2"])
    assert probe.calls[0].method == ECHO
    assert probe.calls[0].peer.startswith("ipv4:127.0.0.1:")
    user_agent = dict(probe.calls[0].metadata).get("user-agent")
    assert isinstance(user_agent, str) and "grpc-python" in user_agent


@pytest.mark.parametrize("client_certs", [False, True])
async def test_unary_and_server_streaming_over_tls_with_alpn(
    probe: Probe, certs: Certs, client_certs: bool
) -> None:
    context = certs.server_context(client_certs=client_certs)
    async with serving(build_registry(probe), ssl_context=context) as server:

        def calls() -> tuple[bytes, list[bytes]]:
            with secure(server.port, certs, client_cert=client_certs) as channel:
                return basic_calls(channel)

        assert await in_thread(calls) == (b"hello", [b"0", b"1", b"2"])
    certificate = probe.calls[0].peer_certificate
    assert (certificate is not None) == client_certs


async def test_tls_refuses_a_client_without_a_required_certificate(
    probe: Probe, certs: Certs
) -> None:
    context = certs.server_context(client_certs=True)
    async with serving(build_registry(probe), ssl_context=context) as server:

        def call() -> grpc.RpcError:
            with secure(server.port, certs) as channel:
                return rpc_error(lambda: channel.unary_unary(ECHO)(b"x", timeout=5))

        error = await in_thread(call)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert not probe.calls


@pytest.mark.parametrize("alpn", [None, ["http/1.1"]])
async def test_tls_client_that_negotiates_no_h2_is_told_and_closed(
    probe: Probe, certs: Certs, alpn: list[str] | None
) -> None:
    context = certs.server_context()
    async with serving(build_registry(probe), ssl_context=context) as server:

        def http11_client() -> bytes:
            client = ssl.create_default_context(cafile=str(certs.ca_pem))
            if alpn:
                client.set_alpn_protocols(alpn)
            with (
                socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
                client.wrap_socket(raw, server_hostname="localhost") as tls,
            ):
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                received = b""
                while chunk := tls.recv(4096):
                    received += chunk
                return received

        answer = await in_thread(http11_client)
    assert answer.startswith(b"HTTP/1.1 426 ")
    assert b"gRPC endpoint" in answer and b"ALPN h2" in answer


async def test_tls_handshake_that_never_comes_is_closed_after_the_timeout(
    probe: Probe, certs: Certs
) -> None:
    config = GrpcServerConfig(handshake_timeout=0.3)
    context = certs.server_context()
    async with serving(build_registry(probe), ssl_context=context, config=config) as server:
        silent = await trio.open_tcp_stream("127.0.0.1", server.port)
        with trio.fail_after(10):
            assert await silent.receive_some(100) == b""  # closed by the server
        await silent.aclose()
        assert server.connections == 0


async def test_typed_method_through_a_generated_stub(
    probe: Probe, stubs: dict[str, ModuleType]
) -> None:
    async with serving(build_registry(probe)) as server:

        def topology() -> gateway_pb2.TopologyResponse:
            with insecure(server.port) as channel:
                stub = stubs["gateway"].GatewayStub(channel)
                return stub.Topology(gateway_pb2.TopologyRequest(), timeout=10)

        response = await in_thread(topology)
    assert response.clusterSize == 1 and response.brokers[0].partitions[0].partitionId == 1


async def test_deadline_reaches_the_handler_and_cancels_it(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server:

        def calls() -> tuple[bytes, grpc.RpcError]:
            with insecure(server.port) as channel:
                remaining = channel.unary_unary(DEADLINE)(b"", timeout=5)
                error = rpc_error(lambda: channel.unary_unary(BLOCK)(b"", timeout=0.5))
                return remaining, error

        remaining, error = await in_thread(calls)
        # grpc-core rounds the grpc-timeout it sends up to a coarser unit (5 s may say 5010m)
        assert 3.0 < float(remaining) <= 5.1, remaining
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (error.code(), error.details())
        with trio.fail_after(5):
            await probe.cancelled.wait()


async def test_client_cancelling_mid_stream_cancels_the_handler(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server:

        def stream_then_cancel() -> list[bytes]:
            with insecure(server.port) as channel:
                call = channel.unary_stream(STREAM)(b"2:block", timeout=30)
                first = [next(call), next(call)]
                call.cancel()
                return first

        assert await in_thread(stream_then_cancel) == [b"0", b"1"]
        with trio.fail_after(5):
            await probe.cancelled.wait()


async def test_message_size_limit_is_zeebes_4_mb(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server:

        def calls() -> tuple[int, grpc.RpcError]:
            with insecure(server.port) as channel:
                echo = channel.unary_unary(ECHO)
                ok = len(echo(b"x" * int(3.9 * MIB), timeout=20))
                too_large = rpc_error(lambda: echo(b"x" * int(4.1 * MIB), timeout=20))
                return ok, too_large

        ok, error = await in_thread(calls)
    assert ok == int(3.9 * MIB)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "4194304" in error.details()


async def test_unknown_method_and_unknown_service_are_unimplemented(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server:

        def calls() -> list[grpc.RpcError]:
            with insecure(server.port) as channel:
                return [
                    rpc_error(lambda: channel.unary_unary("/test.Echo/Nope")(b"", timeout=5)),
                    rpc_error(lambda: channel.unary_unary("/no.Such/Thing")(b"", timeout=5)),
                ]

        errors = await in_thread(calls)
    assert [e.code() for e in errors] == [grpc.StatusCode.UNIMPLEMENTED] * 2
    assert errors[0].details() == "Method not found: test.Echo/Nope"


async def test_error_messages_round_trip_with_percent_encoding_and_rich_details(
    probe: Probe,
) -> None:
    message = "50% done\nnext line: é, 日本, tab\tend"
    async with serving(build_registry(probe)) as server:

        def call() -> grpc.RpcError:
            with insecure(server.port) as channel:
                return rpc_error(lambda: channel.unary_unary(FAIL)(message.encode(), timeout=5))

        error = await in_thread(call)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == message
    trailers = dict(error.trailing_metadata())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert status.message == message
    detail = gateway_pb2.TopologyResponse()
    assert status.details[0].Unpack(detail) and detail.clusterSize == 7


async def test_handler_bug_is_internal_and_the_server_keeps_serving(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(build_registry(probe)) as server:

        def calls() -> tuple[grpc.RpcError, bytes]:
            with insecure(server.port) as channel:
                error = rpc_error(lambda: channel.unary_unary(BOOM)(b"", timeout=5))
                return error, channel.unary_unary(ECHO)(b"still here", timeout=5)

        error, echo = await in_thread(calls)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert echo == b"still here"
    assert "a bug in a handler" in caplog.text


async def test_health_check_and_watch(probe: Probe, stubs: dict[str, ModuleType]) -> None:
    health = HealthService()
    health.set("", NOT_SERVING)
    async with serving(build_registry(probe, health)) as server:

        def client() -> tuple[int, grpc.RpcError, list[int]]:
            with insecure(server.port) as channel:
                stub = stubs["health"].HealthStub(channel)
                whole = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
                unknown = rpc_error(
                    lambda: stub.Check(health_pb2.HealthCheckRequest(service="x.Y"), timeout=5)
                )
                watch = stub.Watch(
                    health_pb2.HealthCheckRequest(service="gateway_protocol.Gateway"), timeout=20
                )
                seen = [next(watch).status]
                trio.from_thread.run_sync(health.set, "gateway_protocol.Gateway", SERVING)
                seen.append(next(watch).status)
                trio.from_thread.run_sync(health.enter_shutdown)
                seen.append(next(watch).status)
                watch.cancel()
                return whole, unknown, seen

        whole, unknown, seen = await in_thread(client)
    assert whole == NOT_SERVING
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert seen == [
        health_pb2.HealthCheckResponse.SERVICE_UNKNOWN,
        SERVING,
        NOT_SERVING,
    ]


async def test_graceful_shutdown_finishes_calls_in_flight_and_refuses_new_ones(
    probe: Probe,
) -> None:
    async with serving(build_registry(probe)) as server, trio.open_nursery() as nursery:
        results: list[object] = []

        answered = trio.Event()

        def in_flight() -> None:
            with insecure(server.port) as channel:
                results.append(channel.unary_unary(BLOCK)(b"", timeout=20))

        async def client() -> None:
            await in_thread(in_flight)
            answered.set()

        nursery.start_soon(client)
        with trio.fail_after(10):
            await probe.entered.wait()
        done = trio.Event()

        async def shut_down() -> None:
            await server.shutdown(grace=15)
            done.set()

        nursery.start_soon(shut_down)
        await trio.sleep(0.2)  # the GOAWAY is out; the listener is closed

        def new_call() -> grpc.RpcError:
            with insecure(server.port) as channel:
                return rpc_error(lambda: channel.unary_unary(ECHO)(b"", timeout=3))

        refused = await in_thread(new_call)
        assert refused.code() == grpc.StatusCode.UNAVAILABLE
        assert not done.is_set()
        probe.release.set()
        with trio.fail_after(10):
            await done.wait()
            await answered.wait()
        assert results == [b"released"]
        assert not probe.cancelled.is_set()


async def test_shutdown_grace_period_ends_with_the_calls_cancelled(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server, trio.open_nursery() as nursery:
        errors: list[grpc.RpcError] = []

        def in_flight() -> None:
            with insecure(server.port) as channel:
                errors.append(rpc_error(lambda: channel.unary_unary(BLOCK)(b"", timeout=20)))

        nursery.start_soon(in_thread, in_flight)
        with trio.fail_after(10):
            await probe.entered.wait()
        with trio.fail_after(10):
            await server.shutdown(grace=0.3)
        assert probe.cancelled.is_set()
    assert errors[0].code() == grpc.StatusCode.UNAVAILABLE


async def test_many_concurrent_calls_on_one_connection(probe: Probe) -> None:
    config = GrpcServerConfig(max_concurrent_streams=1000)
    async with serving(build_registry(probe), config=config) as server:

        def calls() -> list[bytes]:
            with insecure(server.port) as channel:
                echo = channel.unary_unary(ECHO)
                futures = [echo.future(b"%d" % i, timeout=30) for i in range(300)]
                return [f.result() for f in futures]

        results = await in_thread(calls, limit=60)
    assert results == [b"%d" % i for i in range(300)]
    assert server.connections_served == 1
