"""The lean TLS stream of peer connections, over real loopback sockets and trustme certificates."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trustme

from trio_zeebe.transport.tls_stream import TLSStream

Pair = tuple[TLSStream, TLSStream]


def contexts(ca: trustme.CA, client_ca: trustme.CA | None = None) -> tuple[ssl.SSLContext, ...]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca.configure_trust(server)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context()
    (client_ca or ca).configure_trust(client)
    ca.issue_cert("client").configure_cert(client)
    return server, client


@asynccontextmanager
async def connected(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str = "127.0.0.1"
) -> AsyncIterator[Pair]:
    accepted: trio.MemorySendChannel[TLSStream]
    accepted, incoming = trio.open_memory_channel[TLSStream](1)

    async def handler(raw: trio.SocketStream) -> None:
        await accepted.send(TLSStream(raw, server_ctx, server_side=True))
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        raw = await trio.open_tcp_stream("127.0.0.1", port)
        client = TLSStream(raw, client_ctx, server_hostname=hostname)
        server = await incoming.receive()
        yield server, client
        nursery.cancel_scope.cancel()


async def both(*calls: Callable[[], Awaitable[object]]) -> None:
    async with trio.open_nursery() as nursery:
        for call in calls:
            nursery.start_soon(call)


async def receive_exactly(stream: TLSStream, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = await stream.receive_some()
        assert chunk, "stream ended early"
        data += chunk
    return bytes(data)


async def test_mutual_tls_both_ways_at_once_with_large_and_small_writes() -> None:
    ca = trustme.CA()
    async with connected(*contexts(ca)) as (server, client):
        await both(server.do_handshake, client.do_handshake)
        cert = server.getpeercert()
        assert cert is not None and ("DNS", "client") in cert["subjectAltName"]  # type: ignore[operator]
        big = bytes(range(256)) * 8192  # 2 MiB: many TLS records, partial socket writes

        async def client_side() -> None:
            await client.send_all(b"hello")
            await client.send_all(big)
            assert await receive_exactly(client, 5) == b"world"

        async def server_side() -> None:
            assert await receive_exactly(server, 5 + len(big)) == b"hello" + big
            await server.send_all(b"world")

        await both(client_side, server_side)
        await client.aclose()
        assert await server.receive_some() == b""  # close_notify: a clean end
        with pytest.raises(trio.ClosedResourceError):
            await client.send_all(b"late")


async def test_a_peer_from_another_ca_is_refused_with_the_tls_reason() -> None:
    ours, theirs = trustme.CA(), trustme.CA()
    server_ctx, _ = contexts(ours)
    _, foreign_client = contexts(theirs, client_ca=ours)  # trusts us, but its cert is foreign
    async with connected(server_ctx, foreign_client) as (server, client):
        errors: list[BaseException] = []

        async def handshake(stream: TLSStream) -> None:
            try:
                await stream.do_handshake()
                await stream.receive_some()  # TLS 1.3: the client learns after its Finished
            except trio.BrokenResourceError as exc:
                errors.append(exc)

        await both(lambda: handshake(server), lambda: handshake(client))
        assert len(errors) == 2
        assert any("certificate" in str(e).lower() for e in errors)
        assert any(isinstance(e.__cause__, ssl.SSLError) for e in errors)
        with pytest.raises(trio.BrokenResourceError):
            await server.send_all(b"x")


async def test_abrupt_peer_close_is_a_broken_stream_not_a_clean_end() -> None:
    ca = trustme.CA()
    async with connected(*contexts(ca)) as (server, client):
        await both(server.do_handshake, client.do_handshake)
        await client.transport_stream.aclose()  # no close_notify: truncation
        with pytest.raises(trio.BrokenResourceError):
            await server.receive_some()


async def test_a_send_and_a_receive_may_both_start_the_handshake() -> None:
    ca = trustme.CA()
    async with connected(*contexts(ca)) as (server, client):

        async def echo() -> None:
            await server.send_all(await receive_exactly(server, 4))

        got: list[bytes] = []

        async def read() -> None:
            got.append(await receive_exactly(client, 4))

        await both(echo, read, lambda: client.send_all(b"ping"))
        assert got == [b"ping"]


async def test_the_dialled_host_must_be_named_by_the_peer_certificate() -> None:
    ca = trustme.CA()
    async with connected(*contexts(ca), hostname="broker-7.example") as (server, client):

        async def server_side() -> None:
            with pytest.raises(trio.BrokenResourceError):  # the client's alert or its hang-up
                await server.do_handshake()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(server_side)
            with pytest.raises(trio.BrokenResourceError, match=r"broker-7\.example"):
                await client.do_handshake()
