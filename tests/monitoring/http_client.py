"""A test client that speaks HTTP/1.1 through h11 on one connection (keep-alive included)."""

from __future__ import annotations

from types import TracebackType

import attrs
import h11
import trio


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


class Connection:
    """One TCP connection to ``127.0.0.1:port``; ``request`` may be called many times."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stream: trio.SocketStream | None = None
        self.conn = h11.Connection(h11.CLIENT)

    async def __aenter__(self) -> Connection:
        self.stream = await trio.open_tcp_stream("127.0.0.1", self.port)
        return self

    async def __aexit__(
        self, *exc: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        if self.stream is not None:
            await self.stream.aclose()

    async def request(
        self, method: str, path: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> Answer:
        assert self.stream is not None
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        data = self.conn.send(
            h11.Request(method=method, target=path, headers=[("Host", "test"), *headers])
        )
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)
        status, answer_headers, body = 0, {}, b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(bytes(await self.stream.receive_some(65536)))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                answer_headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return Answer(status, answer_headers, body)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("closed before the answer ended")

    async def closed_by_server(self) -> bool:
        """True when the server closes the connection (reads until EOF)."""
        assert self.stream is not None
        with trio.fail_after(5):
            while True:
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    return True


async def get(port: int, path: str, *, method: str = "GET") -> Answer:
    async with Connection(port) as conn:
        return await conn.request(method, path)


async def raw(port: int, data: bytes, *, limit: float = 5.0) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(data)
        received = b""
        with trio.fail_after(limit):
            while chunk := await stream.receive_some(65536):
                received += chunk
    return received
