"""Gateways for client tests: a real one-broker cluster (process engine, one partition) whose
gRPC services are served on several ports, in a trio thread.

The broker and its gateways run in their own thread under ``trio.run`` so the client under test
can run under trio or asyncio in the main thread. Every gateway records the requests it gets
(``requests``: gateway index, RPC name, the parsed request) and answers them with the broker's
real services; a test can replace one gateway's handling with its own (``handlers``), or stop
a gateway (its listener and every connection close, like a killed broker's gateway).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio
from google.protobuf.message import Message

from trio_zeebe.broker import Broker
from trio_zeebe.config import config_from_dict
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.runtime.values import Job as EngineJob
from trio_zeebe.gateway.grpc_call import ServerCall
from trio_zeebe.gateway.grpc_server import GrpcServer
from trio_zeebe.gateway.grpc_services import RpcMethod, Send, ServiceRegistry
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz

Forward = Callable[[], Awaitable[bytes]]
Handler = Callable[["FakeGateways", int, str, Message, Forward], Awaitable[bytes]]

_REQUESTS: dict[str, type[Message]] = {
    "CreateJob": tz.CreateJobRequest,
    "ActivateJobs": gw.ActivateJobsRequest,
    "CompleteJob": gw.CompleteJobRequest,
    "FailJob": gw.FailJobRequest,
    "ThrowError": gw.ThrowErrorRequest,
    "UpdateJobRetries": gw.UpdateJobRetriesRequest,
    "UpdateJobTimeout": gw.UpdateJobTimeoutRequest,
    "ClusterStatus": tz.ClusterStatusRequest,
    "Topology": gw.TopologyRequest,
}


class _Recording(ServiceRegistry):
    """The broker's services, each call recorded (and maybe handled by the test) first."""

    def __init__(self, fake: FakeGateways, index: int, inner: ServiceRegistry) -> None:
        super().__init__()
        self.fake = fake
        self.index = index
        self.inner = inner

    def lookup(self, path: str) -> RpcMethod | None:
        method = self.inner.lookup(path)
        if method is None:
            return None
        rpc = path.rpartition("/")[2]
        fake, index = self.fake, self.index
        message = _REQUESTS.get(rpc)

        def parsed(data: bytes) -> Any:
            return message.FromString(data) if message is not None else data

        if method.unary is not None:
            unary = method.unary

            async def handle_unary(data: bytes, call: ServerCall) -> bytes:
                request = parsed(data)
                fake.requests.append((index, rpc, request))
                handler = fake.handlers.get(index)
                if handler is None:
                    return await unary(data, call)
                return await handler(fake, index, rpc, request, lambda: unary(data, call))

            return attrs.evolve(method, unary=handle_unary)
        assert method.stream is not None
        stream = method.stream

        async def handle_stream(data: bytes, call: ServerCall, send: Send[bytes]) -> None:
            request = parsed(data)
            fake.requests.append((index, rpc, request))
            handler = fake.handlers.get(index)
            if handler is None:
                await stream(data, call, send)
                return

            async def forward() -> bytes:
                await stream(data, call, send)
                return b""

            await handler(fake, index, rpc, request, forward)

        return attrs.evolve(method, stream=handle_stream)


class FakeGateways:
    def __init__(self, count: int = 2) -> None:
        self.count = count
        self.handlers: dict[int, Handler] = {}
        self.requests: list[tuple[int, str, Any]] = []  # (gateway, rpc, request) in order
        self.ports: list[int] = []
        self.broker: Broker | None = None
        self._scopes: list[trio.CancelScope] = []
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._stop: trio.Event | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="fake-gateways-")
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self._error: BaseException | None = None

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def __enter__(self) -> FakeGateways:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("fake gateways did not start")
        if self._error is not None:
            raise RuntimeError(f"fake gateways did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None and self._stop is not None
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)
        self._dir.cleanup()

    def sent(self, rpc: str) -> list[Any]:
        return [r for _, name, r in self.requests if name == rpc]

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        config = config_from_dict(
            {
                "cluster": {"node_id": 0},
                "network": {"internal_api": {"port": 0}},
                "data": {"directory": str(Path(self._dir.name) / "data")},
                "security": {"enabled": False},
            }
        )
        try:
            async with trio.open_nursery() as nursery:
                broker: Broker = await nursery.start(
                    Broker(config, serve_clients=False, clock=self.clock).run
                )
                self.broker = broker
                assert broker.partitions is not None and broker.gateway is not None
                with trio.fail_after(20):
                    await broker.partitions.became_ready.wait()
                    processor = broker.partitions.processor(1)
                    while processor is None or not processor.serving:
                        await trio.sleep(0.01)
                        processor = broker.partitions.processor(1)
                for i in range(self.count):
                    scope = trio.CancelScope()
                    self._scopes.append(scope)
                    registry = _Recording(self, i, broker.gateway.registry)
                    self.ports.append(await nursery.start(self._serve, registry, scope))
                self._ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise

    async def _serve(
        self, registry: ServiceRegistry, scope: trio.CancelScope, *, task_status: Any
    ) -> None:
        with scope:
            await GrpcServer(registry, host="127.0.0.1", port=0).run(task_status=task_status)

    # --- time: the engine's clock can be moved ahead (leases, back-offs) ----------------------

    offset = 0.0

    def clock(self) -> float:
        return time.time() + self.offset

    def tick(self, seconds_ahead: float) -> None:
        """Move the leader's clock ``seconds_ahead``; leases and back-offs ending by then fire."""

        def tick() -> None:
            self.offset += seconds_ahead
            processor = self.engine_processor()
            processor._wake_ticker.set()

        self.call(tick)

    # --- controls, called from the test thread ---------------------------------------------

    def engine_processor(self) -> Any:
        assert self.broker is not None and self.broker.partitions is not None
        return self.broker.partitions.processor(1)

    def engine(self) -> Engine:
        machine = self.engine_processor().machine
        assert isinstance(machine, Engine)
        return machine

    def job(self, key: int) -> EngineJob | None:
        """The engine's job (in the gateways' thread: the engine is not thread-safe)."""
        result: EngineJob | None = self.call(lambda: self.engine().jobs().get(key))
        return result

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
        """Run ``fn`` in the gateways' thread."""
        assert self._token is not None
        return trio.from_thread.run_sync(fn, trio_token=self._token)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
