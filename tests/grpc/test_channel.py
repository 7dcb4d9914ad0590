"""The anyio client channel against the gRPC server, under trio and under asyncio."""

from __future__ import annotations

import asyncio
import ssl
from functools import partial

import pytest
import trio
import trio.testing

from trio_zeebe.gateway.grpc_call import ServerCall
from trio_zeebe.gateway.grpc_config import GrpcServerConfig
from trio_zeebe.gateway.grpc_services import Send, Service, ServiceRegistry
from trio_zeebe.grpc.channel import ChannelError, client_ssl_context, open_channel
from trio_zeebe.grpc.status import GrpcError, StatusCode
from trio_zeebe.proto import gateway_pb2

from .support import (
    BLOCK,
    DEADLINE,
    ECHO,
    FAIL,
    STREAM,
    Certs,
    Probe,
    build_registry,
    serving,
)

MIB = 1024 * 1024
FLOOD = "/test.Flood/Flood"


async def test_unary_stream_and_errors_over_h2c(probe: Probe) -> None:
    async with (
        serving(build_registry(probe)) as server,
        open_channel("127.0.0.1", server.port) as channel,
    ):
        assert await channel.unary(ECHO, b"hello", timeout=5) == b"hello"
        async with channel.server_stream(STREAM, b"3", timeout=5) as stream:
            assert [m async for m in stream] == [b"0", b"1", b"2"]
        with pytest.raises(GrpcError) as info:
            await channel.unary("/test.Echo/Nope", b"")
        assert info.value.code == StatusCode.UNIMPLEMENTED
        assert info.value.message == "Method not found: test.Echo/Nope"
        message = "50% done\nline two: é 日本"
        with pytest.raises(GrpcError) as info:
            await channel.unary(FAIL, message.encode(), timeout=5)
        assert info.value.code == StatusCode.FAILED_PRECONDITION
        assert info.value.message == message
        status = info.value.status()
        assert status is not None
        detail = gateway_pb2.TopologyResponse()
        assert status.details[0].Unpack(detail) and detail.clusterSize == 7
        remaining = float(await channel.unary(DEADLINE, b"", timeout=3))
        assert 1.5 < remaining <= 3.0
        assert await channel.unary(DEADLINE, b"") == b"none"
        # An error leaving the channel's block is the error itself, not an ExceptionGroup.
        with pytest.raises(GrpcError):
            async with open_channel("127.0.0.1", server.port) as other:
                await other.unary("/test.Echo/Nope", b"")


async def test_tls_with_alpn_and_client_certificate(probe: Probe, certs: Certs) -> None:
    context = certs.server_context(client_certs=True)
    client = client_ssl_context(certs.ca_pem, certs.client_chain, certs.client_key)
    async with (
        serving(build_registry(probe), ssl_context=context) as server,
        open_channel(
            "127.0.0.1", server.port, ssl_context=client, server_hostname="localhost"
        ) as channel,
    ):
        assert await channel.unary(ECHO, b"secure", timeout=5) == b"secure"
    assert probe.calls[0].peer_certificate is not None


async def test_a_server_that_does_not_negotiate_h2_is_refused_before_any_call(
    probe: Probe, certs: Certs
) -> None:
    no_alpn = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    no_alpn.load_cert_chain(str(certs.server_chain), str(certs.server_key))
    async with serving(build_registry(probe), ssl_context=no_alpn) as server:
        with pytest.raises(ChannelError, match="did not negotiate HTTP/2") as info:
            async with open_channel(
                "127.0.0.1",
                server.port,
                ssl_context=client_ssl_context(certs.ca_pem),
                server_hostname="localhost",
            ):
                pass
    assert info.value.sent is False


async def test_deadline_and_caller_cancellation_reset_the_call(probe: Probe) -> None:
    async with (
        serving(build_registry(probe)) as server,
        open_channel("127.0.0.1", server.port) as channel,
    ):
        with pytest.raises(GrpcError) as info:
            await channel.unary(BLOCK, b"", timeout=0.3)
        assert info.value.code == StatusCode.DEADLINE_EXCEEDED
        with trio.fail_after(5):
            await probe.cancelled.wait()
        probe.entered, probe.cancelled = trio.Event(), trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(channel.unary, BLOCK, b"")
            with trio.fail_after(5):
                await probe.entered.wait()
            nursery.cancel_scope.cancel()  # the caller gives up: RST_STREAM CANCEL
        with trio.fail_after(5):
            await probe.cancelled.wait()
        assert await channel.unary(ECHO, b"still fine", timeout=5) == b"still fine"


async def test_leaving_a_stream_early_cancels_the_handler(probe: Probe) -> None:
    async with (
        serving(build_registry(probe)) as server,
        open_channel("127.0.0.1", server.port) as channel,
    ):
        async with channel.server_stream(STREAM, b"2:block", timeout=30) as stream:
            assert await stream.__anext__() == b"0"
        with trio.fail_after(5):
            await probe.cancelled.wait()


async def test_large_messages_and_the_size_limit(probe: Probe) -> None:
    async with (
        serving(build_registry(probe)) as server,
        open_channel("127.0.0.1", server.port, max_message_bytes=8 * MIB) as channel,
    ):
        big = b"x" * int(3.9 * MIB)
        assert await channel.unary(ECHO, big, timeout=20) == big
        with pytest.raises(GrpcError) as info:
            await channel.unary(ECHO, b"x" * int(4.1 * MIB), timeout=20)
        assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
        assert await channel.unary(ECHO, b"after", timeout=5) == b"after"


async def test_connection_failures_say_whether_the_request_was_sent(probe: Probe) -> None:
    with trio.socket.socket() as unused:
        await unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ChannelError) as refused:
        async with open_channel("127.0.0.1", port):
            pass
    assert refused.value.sent is False and refused.value.code == StatusCode.UNAVAILABLE

    async with trio.open_nursery() as outer:
        from trio_zeebe.gateway.grpc_server import GrpcServer

        server = GrpcServer(build_registry(probe), host="127.0.0.1", port=0)
        server_scope = trio.CancelScope()

        async def run_server(task_status: trio.TaskStatus[int]) -> None:
            with server_scope:
                await server.run(task_status=task_status)

        port = await outer.start(run_server)
        async with open_channel("127.0.0.1", port) as channel, trio.open_nursery() as calls:
            errors: list[ChannelError] = []

            async def call() -> None:
                try:
                    await channel.unary(BLOCK, b"", timeout=10)
                except ChannelError as exc:
                    errors.append(exc)

            calls.start_soon(call)
            with trio.fail_after(5):
                await probe.entered.wait()
            server_scope.cancel()  # the server dies with the call in flight
        assert len(errors) == 1 and errors[0].sent is True
        assert channel.closed
        with pytest.raises(ChannelError) as after:
            await channel.unary(ECHO, b"")
        assert after.value.sent is False


async def test_graceful_shutdown_finishes_the_call_and_refuses_new_ones(probe: Probe) -> None:
    async with (
        serving(build_registry(probe)) as server,
        open_channel("127.0.0.1", server.port) as channel,
        trio.open_nursery() as nursery,
    ):
        results: list[bytes] = []

        async def in_flight() -> None:
            results.append(await channel.unary(BLOCK, b"", timeout=20))

        nursery.start_soon(in_flight)
        with trio.fail_after(5):
            await probe.entered.wait()
        nursery.start_soon(server.shutdown, 15)
        await trio.testing.wait_all_tasks_blocked()
        # Whether the GOAWAY arrived first or the server refuses the stream: never processed.
        with pytest.raises(ChannelError) as refused:
            await channel.unary(ECHO, b"", timeout=5)
        assert refused.value.sent is False
        probe.release.set()
    assert results == [b"released"]


@pytest.mark.parametrize("answer", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n"])
async def test_a_server_that_is_not_http2_is_reported_before_any_call(answer: bytes) -> None:
    async def not_grpc(stream: trio.SocketStream) -> None:
        if answer:
            await stream.send_all(answer)
            await stream.aclose()
        else:
            await trio.sleep_forever()  # silent

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, not_grpc, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        with pytest.raises(ChannelError) as info:
            async with open_channel("127.0.0.1", port, connect_timeout=0.5):
                pass
        nursery.cancel_scope.cancel()
    assert info.value.sent is False


async def test_calls_beyond_the_servers_stream_limit_wait_for_a_slot(probe: Probe) -> None:
    config = GrpcServerConfig(max_concurrent_streams=5)
    async with (
        serving(build_registry(probe), config=config) as server,
        open_channel("127.0.0.1", server.port) as channel,
    ):
        results: list[bytes] = []

        async def one(i: int) -> None:
            results.append(await channel.unary(ECHO, b"%d" % i, timeout=20))

        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(one, i)
    assert sorted(results) == sorted(b"%d" % i for i in range(40))


async def test_keepalive_pings_and_the_servers_ping_limit(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server:
        # One ping per 0.05 s while a call is open: the server allows one per 30 s.
        async with open_channel("127.0.0.1", server.port, keepalive_interval=0.05) as channel:
            with pytest.raises(ChannelError) as info:
                await channel.unary(BLOCK, b"", timeout=10)
        assert info.value.sent is True  # it reached the handler; the outcome is unknown
        assert "ENHANCE_YOUR_CALM: too_many_pings" in info.value.message
        with trio.fail_after(5):
            await probe.cancelled.wait()


def flood_registry(sent: list[int], tenth: trio.Event) -> ServiceRegistry:
    service = Service("test.Flood")

    async def flood(request: bytes, call: ServerCall, send: Send[bytes]) -> None:
        for i in range(200):
            await send(b"%d:" % i + b"f" * 100_000)
            sent.append(i)
            if i == 10:
                tenth.set()

    service.server_stream_raw("Flood", flood)
    registry = ServiceRegistry()
    registry.add(service)
    return registry


async def test_a_slow_consumer_slows_the_server_down(probe: Probe) -> None:
    sent: list[int] = []
    tenth = trio.Event()
    async with (
        serving(flood_registry(sent, tenth)) as server,
        open_channel("127.0.0.1", server.port) as channel,
        channel.server_stream(FLOOD, b"", timeout=30) as stream,
    ):
        first = await stream.__anext__()
        assert first.startswith(b"0:")
        with trio.fail_after(10):
            await tenth.wait()
        await trio.sleep(0.5)  # the consumer stalls: without flow control all 200 go out
        # 1 MiB stream window + 1 MiB the channel buffers unread: about 20 messages
        assert len(sent) < 40
        received = [first] + [m async for m in stream]
    assert len(received) == 200 and len(sent) == 200


def asyncio_client(port: int) -> list[object]:
    async def main() -> list[object]:
        seen: list[object] = []
        async with open_channel("127.0.0.1", port) as channel:
            seen.append(await channel.unary(ECHO, b"from asyncio", timeout=5))
            async with channel.server_stream(STREAM, b"2", timeout=5) as stream:
                seen.append([m async for m in stream])
            try:
                await channel.unary(BLOCK, b"", timeout=0.2)
            except GrpcError as exc:
                seen.append(exc.code)
            task = asyncio.ensure_future(channel.unary(BLOCK, b""))
            await asyncio.sleep(0.2)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                seen.append("cancelled")
            seen.append(await channel.unary(ECHO, b"still", timeout=5))
        return seen

    return asyncio.run(main())


async def test_the_channel_under_asyncio(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server:
        with trio.fail_after(20):
            seen = await trio.to_thread.run_sync(asyncio_client, server.port)
    assert seen == [
        b"from asyncio",
        [b"0", b"1"],
        StatusCode.DEADLINE_EXCEEDED,
        "cancelled",
        b"still",
    ]
    assert probe.cancelled.is_set()
