"""One broker's gateway: the gRPC listener and everything behind it.

:class:`Gateway` owns the gRPC server (TLS with ALPN h2, or h2c), the standard health service,
Zeebe's ``gateway_protocol.Gateway`` (:mod:`.service`), the project's extension service
(:mod:`.extension`), the command router with its forwarding, long polling and job push. The
broker starts it in two steps: :meth:`Gateway.listen` opens the port (its address is gossiped
with the broker's membership), :meth:`Gateway.start` wires the services to the partitions
once the partition manager exists. Health says NOT_SERVING until :meth:`Gateway.set_ready`,
and again from :meth:`Gateway.shutdown` on, which also sends every connection a GOAWAY and lets
calls in flight finish within its grace period.

Without a listener (``serve=False``, simulated clusters) the services still exist:
:meth:`Gateway.call` runs a unary RPC's handler directly.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import trio

from ..grpc.metadata import Metadata
from ..partitions.manager import PartitionManager
from ..partitions.topology import ClusterView
from ..transport.api import Network
from .activation import JobActivator
from .extension import ExtensionService
from .grpc_call import ServerCall
from .grpc_config import GrpcServerConfig
from .grpc_server import GrpcServer
from .grpc_services import ServiceRegistry
from .health import NOT_SERVING, SERVING, HealthService
from .jobstream import JobPusher, JobStreams
from .router import CommandRouter
from .service import SERVICE_NAME, GatewayService


class Gateway:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        config: GrpcServerConfig,
        serve: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.config = config
        self.serve = serve
        self.registry = ServiceRegistry()
        self.health = HealthService()
        self.health.set("", NOT_SERVING)
        self.health.set(SERVICE_NAME, NOT_SERVING)
        self.registry.add(self.health.service())
        self.server: GrpcServer | None = None
        self.router: CommandRouter | None = None
        self.activator: JobActivator | None = None
        self.streams: JobStreams | None = None
        self.pusher: JobPusher | None = None
        self.service: GatewayService | None = None
        self.extension: ExtensionService | None = None

    async def listen(self, nursery: trio.Nursery) -> None:
        """Open the gRPC port (OSError as trio raises it when that fails)."""
        if not self.serve:
            return
        self.server = GrpcServer(
            self.registry,
            host=self.host,
            port=self.port,
            ssl_context=self.ssl_context,
            config=self.config,
        )
        self.port = await nursery.start(self.server.run)

    async def start(
        self,
        nursery: trio.Nursery,
        partitions: PartitionManager,
        network: Network,
        view: Callable[[], ClusterView],
        *,
        partitions_count: int,
        max_inflight: int,
        request_timeout: float,
        attempt_timeout: float,
        local_first: bool = False,
    ) -> None:
        """Build the router and services; before the partitions start (the router hooks every
        processor as it starts)."""
        router = CommandRouter(
            partitions,
            network,
            partitions_count=partitions_count,
            max_inflight=max_inflight,
            request_timeout=request_timeout,
            attempt_timeout=attempt_timeout,
            local_first=local_first,
        )
        activator = JobActivator(router, max_message_bytes=self.config.max_message_size)
        streams = JobStreams(partitions, network, activator.hand_back)
        pusher = JobPusher(partitions, network, streams)
        router.announcer.listeners.append(pusher.jobs_available)
        await nursery.start(router.run)
        await nursery.start(activator.run)
        await nursery.start(streams.run)
        await nursery.start(pusher.run)
        self.router, self.activator, self.streams, self.pusher = router, activator, streams, pusher
        self.service = GatewayService(router, activator, streams, view)
        self.extension = ExtensionService(router, partitions, view)
        self.registry.add(self.service.service())
        self.registry.add(self.extension.service())

    def set_ready(self) -> None:
        self.health.set("", SERVING)
        self.health.set(SERVICE_NAME, SERVING)

    async def shutdown(self, grace: float) -> None:
        """NOT_SERVING for good, GOAWAY to every client; calls in flight get ``grace`` seconds."""
        self.health.enter_shutdown()
        if self.server is not None:
            await self.server.shutdown(grace)

    async def call(
        self,
        path: str,
        request: bytes,
        *,
        metadata: Metadata = (),
        timeout: float | None = None,  # noqa: ASYNC109 - the call's gRPC deadline
    ) -> bytes:
        """Run a unary RPC's handler in-process (simulations and tests); GrpcError on failure."""
        method = self.registry.lookup(path)
        if method is None or method.unary is None:
            raise KeyError(f"no unary method {path}")
        deadline = None if timeout is None else trio.current_time() + timeout
        call = ServerCall(method=path, peer="in-process", metadata=metadata, deadline=deadline)
        with call.cancel_scope:
            return await method.unary(request, call)
        raise trio.TooSlowError(f"{path}: deadline exceeded")

    async def call_stream(
        self,
        path: str,
        request: bytes,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's gRPC deadline
    ) -> list[bytes]:
        """Run a server-streaming RPC's handler in-process; the messages it sent."""
        method = self.registry.lookup(path)
        if method is None or method.stream is None:
            raise KeyError(f"no streaming method {path}")
        deadline = None if timeout is None else trio.current_time() + timeout
        call = ServerCall(method=path, peer="in-process", metadata=(), deadline=deadline)
        sent: list[bytes] = []

        async def send(message: bytes) -> None:
            sent.append(message)

        with call.cancel_scope:
            await method.stream(request, call, send)
        return sent
