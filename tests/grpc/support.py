"""Shared pieces of the gRPC tests: a test service, TLS material, grpcio stubs, a server runner."""

from __future__ import annotations

import importlib.util
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import attrs
import h2.config
import h2.connection
import h2.events
import trio
import trio.testing
import trustme

from trio_zeebe.gateway.grpc_call import ServerCall
from trio_zeebe.gateway.grpc_config import GrpcServerConfig
from trio_zeebe.gateway.grpc_server import GrpcServer
from trio_zeebe.gateway.grpc_services import Send, Service, ServiceRegistry
from trio_zeebe.gateway.grpc_tls import grpc_ssl_context
from trio_zeebe.gateway.h2connection import GrpcConnection
from trio_zeebe.gateway.health import SERVING, HealthService
from trio_zeebe.grpc.h2frames import FrameBoundary, GoAway
from trio_zeebe.grpc.status import GrpcError, StatusCode
from trio_zeebe.proto import gateway_pb2

ROOT = Path(__file__).resolve().parents[2]
ECHO = "/test.Echo/Echo"
STREAM = "/test.Echo/Stream"
BLOCK = "/test.Echo/Block"
FAIL = "/test.Echo/Fail"
BOOM = "/test.Echo/Boom"
DEADLINE = "/test.Echo/Deadline"
TOPOLOGY = "/gateway_protocol.Gateway/Topology"


@attrs.define
class Probe:
    """What the test service saw: lets tests wait for a handler and check its cancellation."""

    entered: trio.Event = attrs.Factory(trio.Event)
    cancelled: trio.Event = attrs.Factory(trio.Event)
    finished: trio.Event = attrs.Factory(trio.Event)
    calls: list[ServerCall] = attrs.Factory(list)
    release: trio.Event = attrs.Factory(trio.Event)


def build_registry(probe: Probe, health: HealthService | None = None) -> ServiceRegistry:
    """``test.Echo`` (raw methods), a stub ``gateway_protocol.Gateway`` and the health service."""
    echo = Service("test.Echo")

    async def echo_handler(request: bytes, call: ServerCall) -> bytes:
        probe.calls.append(call)
        return request

    async def stream_handler(request: bytes, call: ServerCall, send: Send[bytes]) -> None:
        """Sends int(request) messages of b"<i>"; after them waits if asked to ("block")."""
        probe.calls.append(call)
        count, _, mode = request.decode().partition(":")
        try:
            for i in range(int(count)):
                await send(b"%d" % i)
            probe.entered.set()
            if mode == "block":
                await trio.sleep_forever()
        except trio.Cancelled:
            probe.cancelled.set()
            raise
        finally:
            probe.finished.set()

    async def block_handler(request: bytes, call: ServerCall) -> bytes:
        """Waits (until released, or forever) like a long poll, recording a cancellation."""
        probe.calls.append(call)
        probe.entered.set()
        try:
            await probe.release.wait()
            return b"released"
        except trio.Cancelled:
            probe.cancelled.set()
            raise
        finally:
            probe.finished.set()

    async def fail_handler(request: bytes, call: ServerCall) -> bytes:
        message = request.decode()
        raise GrpcError.with_details(
            StatusCode.FAILED_PRECONDITION,
            message,
            [gateway_pb2.TopologyResponse(clusterSize=7)],
        )

    async def boom_handler(request: bytes, call: ServerCall) -> bytes:
        raise RuntimeError("a bug in a handler")

    async def deadline_handler(request: bytes, call: ServerCall) -> bytes:
        remaining = call.time_remaining()
        return b"none" if remaining is None else b"%.3f" % remaining

    echo.unary_raw("Echo", echo_handler)
    echo.server_stream_raw("Stream", stream_handler)
    echo.unary_raw("Block", block_handler)
    echo.unary_raw("Fail", fail_handler)
    echo.unary_raw("Boom", boom_handler)
    echo.unary_raw("Deadline", deadline_handler)

    gateway = Service("gateway_protocol.Gateway")

    async def topology(
        request: gateway_pb2.TopologyRequest, call: ServerCall
    ) -> gateway_pb2.TopologyResponse:
        broker = gateway_pb2.BrokerInfo(nodeId=0, host="127.0.0.1", port=26501, version="8.4.0")
        broker.partitions.add(
            partitionId=1,
            role=gateway_pb2.Partition.LEADER,
            health=gateway_pb2.Partition.HEALTHY,
        )
        return gateway_pb2.TopologyResponse(
            brokers=[broker],
            clusterSize=1,
            partitionsCount=1,
            replicationFactor=1,
            gatewayVersion="8.4.0",
        )

    gateway.unary("Topology", gateway_pb2.TopologyRequest, topology)
    registry = ServiceRegistry()
    registry.add(echo)
    registry.add(gateway)
    if health is None:
        health = HealthService()
        health.set("", SERVING)
    registry.add(health.service())
    return registry


@asynccontextmanager
async def serving(
    registry: ServiceRegistry,
    *,
    ssl_context: ssl.SSLContext | None = None,
    config: GrpcServerConfig | None = None,
) -> AsyncIterator[GrpcServer]:
    server = GrpcServer(registry, host="127.0.0.1", port=0, ssl_context=ssl_context, config=config)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield server
        nursery.cancel_scope.cancel()


@attrs.frozen
class Certs:
    ca: trustme.CA
    ca_pem: Path
    server_chain: Path
    server_key: Path
    client_chain: Path
    client_key: Path

    def server_context(self, *, client_certs: bool = False) -> ssl.SSLContext:
        return grpc_ssl_context(
            self.server_chain, self.server_key, self.ca_pem if client_certs else None
        )


def make_certs(directory: Path) -> Certs:
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("client@example.org")
    paths = {
        "ca_pem": directory / "ca.pem",
        "server_chain": directory / "server.pem",
        "server_key": directory / "server.key",
        "client_chain": directory / "client.pem",
        "client_key": directory / "client.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca_pem"]))
    server.private_key_pem.write_to_path(str(paths["server_key"]))
    client.private_key_pem.write_to_path(str(paths["client_key"]))
    with open(paths["server_chain"], "wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    with open(paths["client_chain"], "wb") as out:
        for blob in client.cert_chain_pems:
            out.write(blob.bytes())
    return Certs(ca=ca, **paths)


def generate_grpc_stubs(out: Path) -> dict[str, ModuleType]:
    """grpcio service stubs (``*_pb2_grpc``) for our protos, generated now with grpc_tools.

    They import the committed ``trio_zeebe.proto.*_pb2`` modules, as a user's would.
    """
    protos = ["gateway", "health"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            f"--grpc_python_out={out}",
            *(f"trio_zeebe/proto/{name}.proto" for name in protos),
        ],
        check=True,
        cwd=ROOT,
    )
    modules = {}
    for name in protos:
        path = out / "trio_zeebe" / "proto" / f"{name}_pb2_grpc.py"
        spec = importlib.util.spec_from_file_location(f"_test_stubs_{name}_pb2_grpc", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[name] = module
    return modules


class RawClient:
    """A hand-driven HTTP/2 client (h2 itself) on one end of an in-memory stream pair."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.closed = False
        # GOAWAY frames are taken out before h2 sees them (h2 would refuse all that follows)
        self.frames = FrameBoundary(preface=False, extract_goaway=True)

    @property
    def goaways(self) -> list[GoAway]:
        return self.frames.goaways

    async def start(self) -> None:
        self.h2.initiate_connection()
        await self.flush()

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def events(self) -> list[h2.events.Event]:
        """The events of the next bytes the server sends ([] once it closed)."""
        data = await self.stream.receive_some(65536)
        if not data:
            self.closed = True
            return []
        events = self.h2.receive_data(self.frames.feed(data))
        await self.flush()
        return events

    async def until(
        self, kind: type[h2.events.Event], stream_id: int | None = None
    ) -> h2.events.Event:
        while True:
            for event in await self.events():
                if isinstance(event, kind) and (
                    stream_id is None or getattr(event, "stream_id", None) == stream_id
                ):
                    return event
            if self.closed:
                raise AssertionError(f"connection closed before {kind.__name__}")

    async def raw_bytes_until_closed(self) -> bytes:
        received = bytearray()
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                return bytes(received)
            received += data

    def request(
        self,
        path: str,
        body: bytes | None,
        *,
        extra: list[tuple[bytes, bytes]] | None = None,
        method: bytes = b"POST",
        content_type: bytes = b"application/grpc",
        end: bool = True,
    ) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (b":method", method),
            (b":scheme", b"http"),
            (b":path", path.encode()),
            (b":authority", b"test"),
            (b"content-type", content_type),
            (b"te", b"trailers"),
            *(extra or []),
        ]
        self.h2.send_headers(stream_id, headers, end_stream=body is None and end)
        if body is not None:
            self.h2.send_data(stream_id, body, end_stream=end)
        return stream_id


@asynccontextmanager
async def raw_connection(
    registry: ServiceRegistry, config: GrpcServerConfig | None = None, *, start: bool = True
) -> AsyncIterator[tuple[RawClient, GrpcConnection]]:
    """A GrpcConnection served over an in-memory stream, and a RawClient on the other end."""
    client_end, server_end = trio.testing.memory_stream_pair()
    conn = GrpcConnection(server_end, registry, config or GrpcServerConfig(), peer="ipv4:test:1")
    client = RawClient(client_end)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        if start:
            await client.start()
        yield client, conn
        nursery.cancel_scope.cancel()


def headers_of(event: h2.events.Event) -> dict[bytes, bytes]:
    return dict(event.headers)  # type: ignore[attr-defined]
