"""The broker: root of one broker's nursery tree (DESIGN.md §2).

Embed it in a trio program with ``broker = await nursery.start(Broker(config).run)`` and stop it
by cancelling the nursery; ``python -m trio_zeebe node`` is :func:`run_until_signalled`.
"""

from __future__ import annotations

import errno
import logging
import random
import signal
import time
from typing import Any

import trio

from . import __version__
from .config import BrokerConfig, gateway_tls_files
from .disk import Disk, RealDisk
from .errors import find_error
from .gateway.messages import BrokerInfo, ErrorCode, Topology, TopologyRequest
from .gateway.server import GatewayRequestError, GatewayServer, gateway_ssl_context
from .membership.config import SwimConfig
from .membership.core import SwimCore
from .membership.driver import MembershipService
from .membership.topology_store import TopologyStore
from .monitoring.http import MonitoringServer
from .transport.api import Peer, join_address
from .transport.tcp import TcpTransport
from .transport.tls import client_context, server_context

log = logging.getLogger("trio_zeebe.broker")


class StartupError(RuntimeError):
    """The broker cannot start (port in use, unreadable data directory, ...)."""


class Broker:
    def __init__(self, config: BrokerConfig, *, disk: Disk | None = None) -> None:
        self.config = config
        self.node_id = config.cluster.node_id
        self.disk: Disk = disk or RealDisk()
        self.started = False
        self.transport: TcpTransport | None = None
        self.membership: MembershipService | None = None
        self.gateway: GatewayServer | None = None
        self.monitoring: MonitoringServer | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Broker] = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        data_dir = config.path(config.data.directory)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(
                f"data.directory: cannot create {data_dir}: {exc.strerror}"
            ) from None
        if not config.security.enabled:
            log.warning(
                "security.enabled is false: brokers talk over PLAIN TCP without authentication"
            )
        async with trio.open_nursery() as nursery:
            self.transport = await self._start_transport(nursery)
            self.gateway = await self._start_gateway(nursery)
            self.monitoring = await self._start_monitoring(nursery)
            self.membership = await self._start_membership(nursery, str(data_dir))
            self.started = True
            log.info(
                "broker %d started: internal %s, gateway %s:%d, monitoring %s:%d",
                self.node_id,
                self.internal_address,
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
            bind=join_address(c.network.host, c.network.internal_port),
        )
        await _start(nursery, transport.run, "network.internal_api.port", c.network.internal_port)
        return transport

    async def _start_membership(self, nursery: trio.Nursery, data_dir: str) -> MembershipService:
        assert self.transport is not None
        c = self.config
        m = c.cluster.membership
        assert self.gateway is not None
        core = SwimCore(
            node_id=self.node_id,
            address=self.transport.local.address,
            # Wall-clock milliseconds: a restarted broker starts above its previous incarnation.
            incarnation=int(time.time() * 1000),
            rng=random.Random(),
            config=SwimConfig(
                probe_interval=m.probe_interval,
                probe_timeout=m.probe_timeout,
                suspect_probes=m.suspect_probes,
                failure_timeout=m.failure_timeout,
                gossip_interval=m.gossip_interval,
                gossip_fanout=m.gossip_fanout,
                sync_interval=m.sync_interval,
                broadcast_updates=m.broadcast_updates,
                broadcast_disputes=m.broadcast_disputes,
                notify_suspect=m.notify_suspect,
            ),
            properties={"gateway": self.gateway_address},
            now=trio.current_time(),
        )
        service = MembershipService(
            core,
            self.transport,
            cluster_name=c.cluster.cluster_name,
            contact_points=c.cluster.initial_contact_points,
            store=TopologyStore(self.disk, data_dir),
        )
        await nursery.start(service.run)
        return service

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

    @property
    def internal_address(self) -> str:
        """The advertised internal address (with the bound port when configured as 0)."""
        return self.transport.local.address if self.transport else self.config.internal_address

    @property
    def gateway_address(self) -> str:
        port = self.gateway.port if self.gateway else self.config.network.gateway_port
        return join_address(self.config.network.advertised, port)

    def topology(self) -> Topology:
        c = self.config
        brokers = []
        members = self.membership.members() if self.membership is not None else {}
        known = self.membership.known() if self.membership is not None else {}
        for node_id in sorted(set(members) | set(known)):
            member = members.get(node_id)
            if member is None:  # long dead: only the persisted/remembered address is left
                brokers.append(BrokerInfo(node_id, known[node_id], "", "dead"))
                continue
            brokers.append(
                BrokerInfo(
                    node_id=node_id,
                    address=member.address,
                    gateway=member.properties.get("gateway", ""),
                    state=member.state.label,
                )
            )
        if not brokers:
            brokers.append(
                BrokerInfo(self.node_id, self.internal_address, self.gateway_address, "alive")
            )
        return Topology(
            cluster_size=c.cluster.cluster_size,
            partitions_count=c.cluster.partitions_count,
            replication_factor=c.cluster.replication_factor,
            brokers=tuple(brokers),
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
    except BaseException as exc:
        startup = find_error(exc, StartupError)
        if startup is None:
            raise
        log.error("cannot start: %s", startup)
        return 1
    return 0
