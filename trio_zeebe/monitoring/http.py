"""A minimal HTTP/1.1 server for health probes and Prometheus scraping.

Only ``GET`` of a handful of fixed paths is needed, so a full HTTP stack would be dead weight:
this reads one request head (bounded), answers, and closes the connection. Like Zeebe's legacy
endpoints, ``/startup``, ``/ready`` and ``/health`` answer 204 when true and 503 otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

log = logging.getLogger("trio_zeebe.monitoring")

MAX_HEAD = 8192
READ_TIMEOUT = 5.0


class MonitoringServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        started: Callable[[], bool],
        ready: Callable[[], bool],
        healthy: Callable[[], bool],
        metrics: Callable[[], str],
    ) -> None:
        self.host = host
        self.port = port
        self._probes = {"/startup": started, "/ready": ready, "/health": healthy}
        self._metrics = metrics

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        log.info("monitoring listening on http://%s:%d/", self.host, self.port)
        async with trio.open_nursery() as nursery:
            task_status.started(self.port)
            await trio.serve_listeners(self._serve, listeners, handler_nursery=nursery)

    async def _serve(self, stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(READ_TIMEOUT):
                head = bytearray()
                while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        return
                    head += chunk
                await stream.send_all(self.respond(bytes(head)))
        except (trio.BrokenResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    def respond(self, head: bytes) -> bytes:
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return _response(400, "Bad Request", "bad request line\n")
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return _response(405, "Method Not Allowed", "only GET\n")
        if target in self._probes:
            ok = self._probes[target]()
            return (
                _response(204, "No Content", "")
                if ok
                else _response(503, "Service Unavailable", "")
            )
        if target == "/metrics":
            return _response(200, "OK", self._metrics(), "text/plain; version=0.0.4")
        return _response(404, "Not Found", "unknown path\n")


def _response(code: int, reason: str, body: str, ctype: str = "text/plain") -> bytes:
    payload = body.encode()
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload
