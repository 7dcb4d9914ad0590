"""The monitoring port's HTTP server: protocol details a client relies on, limits and timeouts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from trio_zeebe.monitoring.http import (
    HttpLimits,
    HttpServer,
    Request,
    Response,
    Route,
    StreamingResponse,
)

from .http_client import Connection, get, raw

HELLO = b"hello, monitoring\n"


async def hello(_: Request) -> Response:
    return Response(200, HELLO, "text/plain")


async def empty(_: Request) -> Response:
    return Response(204)


async def boom(_: Request) -> Response:
    raise RuntimeError("handler bug")


async def large(_: Request) -> Response:
    return Response(200, b"x" * 1_000_000, "text/plain")


async def events(_: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"data: {i}\n\n".encode()

    return StreamingResponse("text/event-stream", chunks)


async def endless(_: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await trio.sleep_forever()

    return StreamingResponse("text/event-stream", chunks)


ROUTES = {
    "/hello": Route(hello),
    "/empty": Route(empty),
    "/boom": Route(boom),
    "/large": Route(large),
    "/events": Route(events),
    "/endless": Route(endless),
}


async def serve(nursery: trio.Nursery, **limits: float) -> HttpServer:
    server = HttpServer("127.0.0.1", 0, ROUTES, limits=HttpLimits(**limits))  # type: ignore[arg-type]
    await nursery.start(server.run)
    return server


def status_of(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


async def test_head_answers_the_get_headers_without_the_body() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        got = await get(server.port, "/hello")
        head = await get(server.port, "/hello", method="HEAD")
        assert (got.status, got.body) == (200, HELLO)
        assert head.status == 200 and head.body == b""
        assert head.headers["content-length"] == str(len(HELLO))
        assert head.headers["content-type"] == got.headers["content-type"]
        # On the wire: the HEAD answer ends with its header block, the next answer follows.
        data = await raw(
            server.port,
            b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        first, rest = data.split(b"\r\n\r\n", 1)
        assert first.startswith(b"HTTP/1.1 200 ")
        assert rest.startswith(b"HTTP/1.1 200 ") and rest.endswith(HELLO)
        nursery.cancel_scope.cancel()


async def test_204_has_neither_content_length_nor_body() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        data = await raw(
            server.port, b"GET /empty HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        head, body = data.split(b"\r\n\r\n", 1)
        assert status_of(head) == 204 and body == b""
        assert b"content-length" not in head.lower()
        assert b"transfer-encoding" not in head.lower()
        nursery.cancel_scope.cancel()


async def test_other_methods_get_405_with_allow_and_options_lists_them() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        async with Connection(server.port) as conn:
            refused = await conn.request("DELETE", "/hello")
            assert refused.status == 405
            assert refused.headers["allow"] == "GET, HEAD, OPTIONS"
            options = await conn.request("OPTIONS", "/hello")
            assert options.status == 204 and options.headers["allow"] == "GET, HEAD, OPTIONS"
            # A refused method does not cost the connection.
            assert (await conn.request("GET", "/hello")).body == HELLO
        nursery.cancel_scope.cancel()


async def test_unknown_path_is_a_404_naming_the_known_paths() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        answer = await get(server.port, "/nope?x=1")
        assert answer.status == 404
        assert "no such path: /nope" in answer.text
        assert "/hello" in answer.text and "/empty" in answer.text
        nursery.cancel_scope.cancel()


async def test_keep_alive_and_pipelining() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        async with Connection(server.port) as conn:
            for _ in range(5):
                answer = await conn.request("GET", "/hello")
                assert answer.status == 200 and "connection" not in answer.headers
        assert server.connections <= 1
        # Three requests in one write: three answers, in order.
        data = await raw(
            server.port,
            b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        assert _statuses(data) == [200, 204, 404]
        nursery.cancel_scope.cancel()


def _statuses(data: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


async def test_connection_close_is_honoured() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        async with Connection(server.port) as conn:
            answer = await conn.request("GET", "/hello", (("Connection", "close"),))
            assert answer.headers["connection"] == "close"
            assert await conn.closed_by_server()
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("request_bytes", "status", "says"),
    [
        (
            b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "head exceeds",
        ),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "target exceeds"),
        (
            b"GET /hello HTTP/1.1\r\nHost: t\r\n"
            + b"".join(b"X-%d: v\r\n" % i for i in range(70))
            + b"\r\n",
            431,
            "header fields",
        ),
        (
            b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 999999\r\n\r\n",
            413,
            "body exceeds",
        ),
        (
            b"POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"4000\r\n"
            + b"x" * 0x4000
            + b"\r\n"
            + b"4000\r\n"
            + b"x" * 0x4000
            + b"\r\n",
            413,
            "body exceeds",
        ),
        (b"GARBAGE\r\n\r\n", 400, "malformed request"),
        (b"GET /hello HTTP/1.1\r\n\r\n", 400, "malformed request"),  # no Host
    ],
    ids=["head", "target", "headers", "declared-body", "chunked-body", "garbage", "no-host"],
)
async def test_oversized_or_malformed_requests_are_refused_and_the_connection_closed(
    request_bytes: bytes, status: int, says: str
) -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        data = await raw(server.port, request_bytes)  # returns once the server has closed
        head, body = data.split(b"\r\n\r\n", 1)
        assert status_of(head) == status, data[:200]
        assert b"connection: close" in head.lower()
        assert says in body.decode()
        # The server is unharmed.
        assert (await get(server.port, "/hello")).status == 200
        nursery.cancel_scope.cancel()


async def test_a_small_body_is_read_and_the_connection_kept() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        data = await raw(
            server.port,
            b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
            b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        assert data.count(b"HTTP/1.1 ") == 2
        assert data.startswith(b"HTTP/1.1 405 ") and data.endswith(HELLO)
        nursery.cancel_scope.cancel()


async def test_a_failing_handler_is_a_500_and_the_connection_survives() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        async with Connection(server.port) as conn:
            assert (await conn.request("GET", "/boom")).status == 500
            assert (await conn.request("GET", "/hello")).status == 200
        nursery.cancel_scope.cancel()


async def _read_all(stream: trio.abc.ReceiveStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


async def test_a_trickling_client_gets_408_after_the_request_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = HttpServer("127.0.0.1", 0, ROUTES, limits=HttpLimits(request_timeout=2.0))
    client, server_side = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_side)

        async def trickle() -> None:  # one byte every half second keeps every read short
            try:
                for byte in b"GET /hello HTTP/1.1\r\nHost: t\r\n":
                    await client.send_all(bytes([byte]))
                    await trio.sleep(0.5)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        start = trio.current_time()
        nursery.start_soon(trickle)
        data = await _read_all(client)
        elapsed = trio.current_time() - start
        assert status_of(data) == 408
        assert 2.0 <= elapsed < 2.6  # counted from the first byte, not from the last read
        nursery.cancel_scope.cancel()


async def test_an_idle_connection_is_closed_quietly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = HttpServer("127.0.0.1", 0, ROUTES, limits=HttpLimits(idle_timeout=30.0))
    client, server_side = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_side)
        await client.send_all(b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\n")
        start = trio.current_time()
        data = await _read_all(client)  # the answer, then nothing until the server closes
        assert status_of(data) == 204 and data.count(b"HTTP/1.1") == 1
        assert 30.0 <= trio.current_time() - start < 30.5
        assert server.connections == 0


async def test_a_client_that_does_not_read_is_dropped_after_the_write_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = HttpServer("127.0.0.1", 0, ROUTES, limits=HttpLimits(write_timeout=3.0))
    client, server_side = trio.testing.lockstep_stream_pair()  # a send waits for its reader
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, b"GET /large HTTP/1.1\r\nHost: t\r\n\r\n")
        await server.serve_connection(server_side)
        assert 3.0 <= trio.current_time() - start < 3.5
        assert server.connections == 0
        nursery.cancel_scope.cancel()


async def test_connections_are_bounded_and_the_rest_keep_working() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery, max_connections=2)
        async with Connection(server.port) as a, Connection(server.port) as b:
            assert (await a.request("GET", "/hello")).status == 200
            assert (await b.request("GET", "/hello")).status == 200
            refused = await get(server.port, "/hello")
            assert refused.status == 503 and refused.headers["retry-after"] == "1"
            assert server.refused_connections == 1
            assert (await a.request("GET", "/hello")).status == 200
            assert (await b.request("GET", "/hello")).status == 200
        with trio.fail_after(5):  # once the two are gone, new connections are served again
            while (await get(server.port, "/hello")).status != 200:  # noqa: ASYNC110
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_a_slow_client_does_not_delay_another() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery, request_timeout=30.0)
        stuck = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stuck:
            await stuck.send_all(b"GET /hello HTTP/1.1\r\nHo")  # and never the rest
            with trio.fail_after(5):  # far below the stuck request's 30 s
                for _ in range(20):
                    assert (await get(server.port, "/hello")).status == 200
        nursery.cancel_scope.cancel()


async def test_streaming_responses_are_chunked_and_bounded() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery, max_streams=1)
        answer = await get(server.port, "/events")
        assert answer.status == 200
        assert answer.headers["content-type"] == "text/event-stream"
        assert answer.headers["transfer-encoding"] == "chunked"
        assert answer.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        head = await get(server.port, "/events", method="HEAD")
        assert head.status == 200 and head.body == b""
        # One stream open: a second is refused until it ends.
        open_stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with open_stream:
            await open_stream.send_all(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
            received = b""
            with trio.fail_after(5):
                while b"data: first" not in received:
                    received += await open_stream.receive_some(4096)
            assert (await get(server.port, "/events")).status == 503
        with trio.fail_after(5):
            while (await get(server.port, "/events")).status != 200:  # noqa: ASYNC110
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_a_client_expecting_100_continue_is_told_to_send_its_body() -> None:
    async with trio.open_nursery() as nursery:
        server = await serve(nursery)
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(
                b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
            )
            with trio.fail_after(5):
                interim = await stream.receive_some(4096)
            assert interim.startswith(b"HTTP/1.1 100 ")
            await stream.send_all(b"abc")
            rest = await _read_all(stream)
        assert b"HTTP/1.1 405 " in interim + rest
        nursery.cancel_scope.cancel()
