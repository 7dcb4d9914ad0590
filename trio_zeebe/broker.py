"""The broker: root of one broker's nursery tree (DESIGN.md §2).

Embed it in a trio program with ``broker = await nursery.start(Broker(config).run)`` and stop it
by cancelling the nursery; ``python -m trio_zeebe node`` is :func:`run_until_signalled`.
"""

from __future__ import annotations

import errno
import logging
import signal
from typing import Any

import trio

from . import __version__
from .config import BrokerConfig, gateway_tls_files
from .gateway.messages import BrokerInfo, Topology, TopologyRequest
from .gateway.server import GatewayRequestError, GatewayServer, gateway_ssl_context
from .gateway.messages import ErrorCode
from .monitoring.http import MonitoringServer
from .transport.api import Peer
from .transport.tcp import TcpTransport
from .transport.tls import client_context, server_context

log = logging.getLogger("trio_zeebe.broker")


class StartupError(RuntimeError):
    """The broker cannot start (port in use, unreadable data directory, ...)."""


class Broker:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.node_id = config.cluster.node_id
        self.started = False
        self.transport: TcpTransport | None = None
        self.gateway: GatewayServer | None = None
        self.monitoring: MonitoringServer | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Broker] = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        data_dir = config.path(config.data.directory)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"data.directory: cannot create {data_dir}: {exc.strerror}") from None
        if not config.security.enabled:
            log.warning(
                "security.enabled is false: brokers talk over PLAIN TCP without authentication"
            )
        async with trio.open_nursery() as nursery:
            self.transport = await self._start_transport(nursery)
            self.gateway = await self._start_gateway(nursery)
            self.monitoring = await self._start_monitoring(nursery)
            self.started = True
            log.info(
                "broker %d started: internal %s, gateway %s:%d, monitoring %s:%d",
                self.node_id,
                self.transport.local.address,
                config.network.host,
                self.gateway.port,
                config.network.host,
                self.monitoring.port,
            )
            task_status.started(self)

    async def _start_transport(self, nursery: trio.Nursery) -> TcpTransport:
        c = self.config
        ssl_server = ssl_client = None
        if c.security.enabled:
            files = (
                c.path(c.security.certificate_authority),
                c.path(c.security.certificate_chain),
                c.path(c.security.private_key),
            )
            ssl_server = server_context(*files)
            ssl_client = client_context(*files)
        transport = TcpTransport(
            Peer(self.node_id, c.internal_address),
            c.cluster.cluster_name,
            ssl_server=ssl_server,
            ssl_client=ssl_client,
            max_frame_bytes=c.network.max_message_size,
            bind_host=c.network.host,
        )
        await _start(nursery, transport.run, "network.internal_api.port", c.network.internal_port)
        return transport

    async def _start_gateway(self, nursery: trio.Nursery) -> GatewayServer:
        c = self.config
        ctx = None
        if c.security.gateway.enabled:
            ctx = gateway_ssl_context(*gateway_tls_files(c))
        gateway = GatewayServer(
            c.network.host,
            c.network.gateway_port,
            self.handle_client_request,
            ssl_context=ctx,
            max_frame_bytes=c.network.max_message_size,
        )
        await _start(nursery, gateway.run, "network.gateway.port", c.network.gateway_port)
        return gateway

    async def _start_monitoring(self, nursery: trio.Nursery) -> MonitoringServer:
        c = self.config
        monitoring = MonitoringServer(
            c.network.host,
            c.network.monitoring_port,
            started=lambda: self.started,
            ready=lambda: self.started,
            healthy=lambda: self.started,
            metrics=self.metrics_text,
        )
        await _start(nursery, monitoring.run, "network.monitoring.port", c.network.monitoring_port)
        return monitoring

    # -- views ----------------------------------------------------------------------------

    def topology(self) -> Topology:
        c = self.config
        me = BrokerInfo(
            node_id=self.node_id,
            address=c.internal_address,
            gateway=c.gateway_address,
            state="alive",
        )
        return Topology(
            cluster_size=c.cluster.cluster_size,
            partitions_count=c.cluster.partitions_count,
            replication_factor=c.cluster.replication_factor,
            brokers=(me,),
        )

    def metrics_text(self) -> str:
        lines = [f'trio_zeebe_build_info{{version="{__version__}"}} 1']
        if self.transport is not None:
            for name, value in sorted(self.transport.stats().items()):
                lines.append(f'trio_zeebe_transport_{name}{{node="{self.node_id}"}} {value}')
        return "\n".join(lines) + "\n"

    async def handle_client_request(self, request: Any) -> Any:
        if isinstance(request, TopologyRequest):
            return self.topology()
        raise GatewayRequestError(
            ErrorCode.UNIMPLEMENTED, f"{type(request).__name__} is not supported by this broker"
        )


async def _start(nursery: trio.Nursery, fn: Any, key: str, port: int) -> None:
    try:
        await nursery.start(fn)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"{key}: port {port} is already in use") from None
        raise StartupError(f"{key}: cannot listen on port {port}: {exc.strerror}") from None


def run_until_signalled(config: BrokerConfig) -> int:
    """Run a broker until SIGINT/SIGTERM; 0 on a clean stop, 1 when it cannot start."""

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(Broker(config).run)
                async for signum in signals:
                    log.info("received %s: stopping", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break
        log.info("broker %d stopped", config.cluster.node_id)

    try:
        trio.run(main)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0
