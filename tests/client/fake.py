"""Fake gateways for client tests: real GatewayServers (the framed protocol) in a trio thread.

The servers run in their own thread under ``trio.run`` so the client under test can run under
trio or asyncio in the main thread. By default every gateway answers job commands from one
shared, real :class:`~trio_zeebe.engine.jobs.JobEngine` (long polls wait for a CreateJob); a test
can replace the handler of one gateway with its own, or stop a gateway (its listener and every
connection close, like a killed broker).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from trio_zeebe.engine.jobs import JobEngine
from trio_zeebe.engine.records import ActivatedJobs, Rejection, TimeTick
from trio_zeebe.gateway.messages import ActivateJobsRequest, ErrorResponse, TopologyRequest
from trio_zeebe.gateway.server import GatewayRequestError, GatewayServer

Handler = Callable[["FakeGateways", int, Any], Awaitable[Any]]


class FakeGateways:
    def __init__(self, count: int = 2) -> None:
        self.count = count
        self.engine = JobEngine(1)
        self.handlers: dict[int, Handler] = {}
        self.requests: list[tuple[int, Any]] = []  # (gateway, request) in arrival order
        self.ports: list[int] = []
        self._scopes: list[trio.CancelScope] = []
        self._token: trio.lowlevel.TrioToken | None = None
        self._created = trio.Event()
        self._ready = threading.Event()
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self._error: BaseException | None = None

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def __enter__(self) -> FakeGateways:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"fake gateways did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None and self._stop is not None
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                for i in range(self.count):
                    scope = trio.CancelScope()
                    self._scopes.append(scope)
                    self.ports.append(await nursery.start(self._serve, i, scope))
                self._ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise

    async def _serve(self, i: int, scope: trio.CancelScope, *, task_status: Any) -> None:
        async def handle(request: Any) -> Any:
            self.requests.append((i, request))
            handler = self.handlers.get(i, FakeGateways.engine_handler)
            return await handler(self, i, request)

        with scope:
            server = GatewayServer(
                "127.0.0.1", 0, handle, ssl_context=None, max_frame_bytes=1 << 20
            )
            await server.run(task_status=task_status)

    # --- controls, called from the test thread ---------------------------------------------

    def stop_gateway(self, i: int) -> None:
        """Close gateway ``i``'s listener and connections (callable from either thread)."""
        if threading.current_thread() is self._thread:
            self._scopes[i].cancel()
        else:
            assert self._token is not None
            trio.from_thread.run_sync(self._scopes[i].cancel, trio_token=self._token)
            deadline = time.monotonic() + 5
            while _accepts(self.ports[i]):  # the listener closes a moment after the cancel
                assert time.monotonic() < deadline, f"gateway {i} still accepts connections"
                time.sleep(0.005)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the gateways' thread (the engine is not thread-safe)."""
        assert self._token is not None
        return trio.from_thread.run_sync(fn, trio_token=self._token)

    def tick(self, seconds_ahead: float) -> None:
        """Move engine time ``seconds_ahead``: leases and back-offs ending by then fire."""

        def tick() -> None:
            now = max(self.engine.clock, time.time()) + seconds_ahead
            self.engine.execute(TimeTick(), now)
            self._created.set()
            self._created = trio.Event()

        self.call(tick)

    # --- the default handler: one real job engine behind every gateway ------------------------

    async def engine_handler(self, i: int, request: Any) -> Any:
        if isinstance(request, TopologyRequest):
            raise GatewayRequestError("UNIMPLEMENTED", "fake gateway has no topology")
        if isinstance(request, ActivateJobsRequest):
            with trio.move_on_after(request.request_timeout):
                while True:
                    result = self.engine.execute(request.command, time.time())
                    if not isinstance(result, ActivatedJobs) or result.jobs:
                        return _answer(result)
                    await self._created.wait()
            return ActivatedJobs(())
        result = _answer(self.engine.execute(request, time.time()))
        self._created.set()
        self._created = trio.Event()
        return result


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _answer(result: Any) -> Any:
    # The real gateway answers refusals as ErrorResponse; the client accepts both.
    if isinstance(result, Rejection):
        return ErrorResponse(result.code, result.message)
    return result
