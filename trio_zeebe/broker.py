"""The broker: root of one broker's nursery tree (DESIGN.md §2).

Embed it in a trio program with ``broker = await nursery.start(Broker(config).run)`` and stop it
by cancelling the nursery; ``python -m trio_zeebe node`` is :func:`run_until_signalled`.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import signal
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

import trio

from . import __version__
from .config import BrokerConfig, gateway_tls, gateway_tls_files
from .disk import DirectoryInUse, DirectoryLock, Disk, RealDisk
from .engine.engine import Engine
from .engine.statemachine import StateMachine
from .errors import find_error
from .gateway.gateway import Gateway
from .gateway.grpc_tls import grpc_ssl_context
from .membership.core import SwimCore
from .membership.driver import MembershipService
from .membership.topology_store import PersistedTopology, TopologyStore
from .monitoring.metrics import BrokerMetrics, instrument_registry
from .monitoring.processes import broker_overviews, broker_resource
from .monitoring.sample import sample_broker
from .monitoring.service import MonitoringService
from .partitions.broker_info import GATEWAY_KEY
from .partitions.distribution import PartitionDistribution, check_compatible, round_robin
from .partitions.manager import PartitionManager
from .partitions.topology import ClusterView, cluster_view
from .raft.router import RaftRouter
from .tlsfiles import load_error
from .transport.api import Network, Peer, join_address
from .transport.tcp import TcpTransport
from .transport.tls import client_context, server_context

log = logging.getLogger("trio_zeebe.broker")

LEAVE_GRACE = 0.1


class StartupError(RuntimeError):
    """The broker cannot start (port in use, unreadable data directory, ...).

    ``exit_code`` is what ``python -m trio_zeebe node`` exits with: 1 for trouble in the
    environment (a port taken), 2 for what the operator must fix in the setup (a data directory
    another broker uses, unusable certificate files), like a config error.
    """

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class RunnableNetwork(Network, Protocol):
    async def run(self, *, task_status: Any = ...) -> Any: ...


class Broker:
    """One broker. ``network``/``disk``/``rng``/``incarnation`` are injected by simulations.

    With ``serve_clients=False`` no gateway or monitoring listener is opened (simulated clusters
    have no real sockets); the gateway's services still run (:meth:`Gateway.call`).
    """

    def __init__(
        self,
        config: BrokerConfig,
        *,
        disk: Disk | None = None,
        network: RunnableNetwork | None = None,
        serve_clients: bool = True,
        rng: random.Random | None = None,
        incarnation: int | None = None,
        state_machine: Callable[[int], StateMachine] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.node_id = config.cluster.node_id
        self.disk: Disk = disk or RealDisk()
        self.rng = rng or random.Random()
        self.incarnation = incarnation
        self.serve_clients = serve_clients
        # What every partition replicates: the process engine unless the embedder brings its own.
        self.state_machine = state_machine or self._engine
        self.clock = clock or time.time
        self.started = False
        self._injected_network = network
        self.network: RunnableNetwork | None = None
        self.transport: TcpTransport | None = None
        self.membership: MembershipService | None = None
        self.partitions: PartitionManager | None = None
        self.distribution: PartitionDistribution | None = None
        self.gateway: Gateway | None = None
        self.monitoring: MonitoringService | None = None
        # Its own registry: several brokers may share a process (simulations, tests).
        self.metrics = BrokerMetrics(
            node_id=self.node_id,
            cluster_name=config.cluster.cluster_name,
            version=__version__,
            sample=lambda: sample_broker(self),
        )
        self.metrics.engine_events.pending_incidents = self._pending_incidents

    def _pending_incidents(self) -> dict[int, int]:
        """Open incidents of each partition this broker serves as leader (for metrics)."""
        found: dict[int, int] = {}
        if self.partitions is not None:
            for pid, part in self.partitions.local.items():
                if part.processor is not None:
                    count = part.processor.pending_incidents()
                    if count is not None:
                        found[pid] = count
        return found

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Broker] = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        data_dir = str(config.path(config.data.directory))
        try:
            self.disk.makedirs(data_dir)
        except OSError as exc:
            raise StartupError(f"data.directory: cannot create {data_dir}: {exc}") from None
        # Before anything in the directory is read: two brokers on one directory would both
        # lead and both acknowledge, and each overwrite what the other acknowledged.
        lock = self._lock_data_directory(data_dir)
        try:
            await self._run(data_dir, task_status)
        finally:
            lock.release()

    def _lock_data_directory(self, data_dir: str) -> DirectoryLock:
        try:
            return self.disk.lock_directory(data_dir, str(os.getpid()))
        except DirectoryInUse as exc:
            raise StartupError(f"data.directory: {exc}", exit_code=2) from None
        except OSError as exc:
            raise StartupError(
                f"data.directory: cannot lock {data_dir}: {exc.strerror or exc}", exit_code=2
            ) from None

    async def _run(self, data_dir: str, task_status: trio.TaskStatus[Broker]) -> None:
        config = self.config
        if not config.security.enabled and self._injected_network is None:
            log.warning(
                "security.enabled is false: brokers talk over PLAIN TCP without authentication"
            )
        store = TopologyStore(self.disk, data_dir)
        self.distribution = await self._bootstrap_distribution(store)
        async with trio.open_nursery() as nursery:
            self.network = await self._start_network(nursery)
            self.gateway = await self._start_gateway(nursery)
            if self.serve_clients:
                self.monitoring = await self._start_monitoring(nursery)
            self.membership = await self._start_membership(nursery, store)
            self.partitions = await self._start_partitions(nursery, data_dir)
            self.started = True
            nursery.start_soon(self._report_ready)
            log.info(
                "broker %d started: internal %s, gateway %s, partitions %s",
                self.node_id,
                self.internal_address,
                self.gateway_address if self.serve_clients else "-",
                list(self.distribution.partitions_of(self.node_id)),
            )
            task_status.started(self)

    def _engine(self, partition_id: int) -> StateMachine:
        return Engine(partition_id, self.config.cluster.partitions_count)

    async def _report_ready(self) -> None:
        """Health SERVING once every local partition has had a role (the broker is ready)."""
        assert self.partitions is not None
        await self.partitions.became_ready.wait()
        if self.gateway is not None:
            self.gateway.set_ready()

    async def shutdown(self, within: float = 5.0) -> None:
        """Graceful stop, part one: health NOT_SERVING and GOAWAY to every gateway client
        (calls in flight may finish within ``within``), every leadership handed over, and the
        other members told we are leaving (so they do not wait for a failure timeout). Then
        cancel ``run``."""
        with trio.move_on_after(within):
            async with trio.open_nursery() as nursery:
                if self.gateway is not None:
                    nursery.start_soon(self.gateway.shutdown, within)
                if self.partitions is not None:
                    nursery.start_soon(self.partitions.hand_over_leaderships, within)
        if self.membership is not None:
            self.membership.leave()
            # Best effort: give the transport a moment to put the goodbye on the wire.
            await trio.sleep(LEAVE_GRACE)

    async def _bootstrap_distribution(self, store: TopologyStore) -> PartitionDistribution:
        """The partition layout, computed once at the first start and persisted with the
        topology; later starts read it back and refuse a config that contradicts it."""
        c = self.config.cluster
        persisted = store.load()
        raw = persisted.extra.get("distribution") if persisted is not None else None
        if raw is not None:
            try:
                distribution = PartitionDistribution.from_dict(raw)
            except ValueError as exc:
                raise StartupError(
                    f"{store.path}: unreadable partition distribution: {exc}"
                ) from None
            problem = check_compatible(
                distribution, c.cluster_size, c.partitions_count, c.replication_factor
            )
            if problem is not None:
                raise StartupError(problem)
            return distribution
        distribution = round_robin(range(c.cluster_size), c.partitions_count, c.replication_factor)
        extra = dict(persisted.extra) if persisted is not None else {}
        extra["distribution"] = distribution.to_dict()
        members = persisted.members if persisted is not None else ()
        if not await store.save(PersistedTopology(c.cluster_name, members, extra)):
            raise StartupError(f"cannot write {store.path}")
        return distribution

    async def _start_network(self, nursery: trio.Nursery) -> RunnableNetwork:
        if self._injected_network is not None:
            await nursery.start(self._injected_network.run)
            return self._injected_network
        c = self.config
        ssl_server = ssl_client = None
        if c.security.enabled:
            files = (
                c.path(c.security.certificate_authority),
                c.path(c.security.certificate_chain),
                c.path(c.security.private_key),
            )
            try:
                ssl_server = server_context(*files)
                ssl_client = client_context(*files)
            except (OSError, ssl.SSLError) as exc:  # checked with the config; changed since?
                raise StartupError(f"security: {load_error(exc)}", exit_code=2) from None
        transport = TcpTransport(
            Peer(self.node_id, c.internal_address),
            c.cluster.cluster_name,
            ssl_server=ssl_server,
            ssl_client=ssl_client,
            config=c.network.internal_api,
            max_frame_bytes=c.network.max_message_size,
            bind=join_address(c.network.host, c.network.internal_port),
        )
        await _start(
            nursery,
            transport.run,
            "network.internal_api.port",
            c.network.internal_port,
            c.network.host,
        )
        self.transport = transport
        return transport

    async def _start_membership(
        self, nursery: trio.Nursery, store: TopologyStore
    ) -> MembershipService:
        assert self.network is not None
        c = self.config
        incarnation = self.incarnation
        if incarnation is None:
            # Wall-clock milliseconds: a restarted broker starts above its previous incarnation.
            incarnation = int(self.clock() * 1000)
        core = SwimCore(
            node_id=self.node_id,
            address=self.internal_address,
            incarnation=incarnation,
            rng=random.Random(self.rng.getrandbits(64)),
            config=c.cluster.membership,
            properties={GATEWAY_KEY: self.gateway_address},
            now=trio.current_time(),
        )
        service = MembershipService(
            core,
            self.network,
            cluster_name=c.cluster.cluster_name,
            contact_points=c.cluster.initial_contact_points,
            store=store,
        )
        await nursery.start(service.run)
        return service

    async def _start_partitions(self, nursery: trio.Nursery, data_dir: str) -> PartitionManager:
        assert self.network is not None and self.membership is not None
        assert self.distribution is not None
        r = self.config.cluster.raft
        manager = PartitionManager(
            node_id=self.node_id,
            distribution=self.distribution,
            raft=r,
            data=self.config.data,
            router=RaftRouter(self.network),
            disk=self.disk,
            data_dir=data_dir,
            membership=self.membership,
            gateway_address=self.gateway_address,
            rng=random.Random(self.rng.getrandbits(64)),
            machine_factory=self.state_machine,
            clock=self.clock,
            metrics=self.metrics.partition,
        )
        # Before the partitions start, so the router hooks every processor.
        assert self.gateway is not None
        await self.gateway.start(
            nursery,
            manager,
            self.network,
            self.cluster_view,
            partitions_count=self.config.cluster.partitions_count,
            max_inflight=self.config.network.max_inflight_per_partition,
            request_timeout=self.config.network.request_timeout,
            # A leader silent for an election timeout is about to be replaced, if it is gone.
            attempt_timeout=r.election_timeout,
            local_first=self.config.network.new_work_partitions == "local-first",
        )
        instrument_registry(self.gateway.registry, self.metrics)
        await nursery.start(manager.run)
        return manager

    async def _start_gateway(self, nursery: trio.Nursery) -> Gateway:
        c = self.config
        ctx = None
        if self.serve_clients and gateway_tls(c):
            try:
                ctx = grpc_ssl_context(*gateway_tls_files(c))
            except (OSError, ssl.SSLError) as exc:
                raise StartupError(f"security.gateway: {load_error(exc)}", exit_code=2) from None
        gateway = Gateway(
            host=c.network.host,
            port=c.network.gateway_port,
            ssl_context=ctx,
            config=c.network.gateway,
            serve=self.serve_clients,
        )

        async def listen(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            await gateway.listen(nursery)
            task_status.started()

        await _start(
            nursery, listen, "network.gateway.port", c.network.gateway_port, c.network.host
        )
        return gateway

    async def _start_monitoring(self, nursery: trio.Nursery) -> MonitoringService:
        c = self.config
        monitoring = MonitoringService(
            c.network.host,
            c.network.monitoring_port,
            node_id=self.node_id,
            cluster_name=c.cluster.cluster_name,
            version=__version__,
            sample=lambda: sample_broker(self),
            topology=self.cluster_view,
            metrics=self.metrics,
            network=self.network,
            partitions_count=c.cluster.partitions_count,
            overviews=lambda: broker_overviews(self.partitions),
            process_resource=lambda key: broker_resource(self.partitions, key),
        )
        await _start(
            nursery,
            monitoring.run,
            "network.monitoring.port",
            c.network.monitoring_port,
            c.network.host,
        )
        return monitoring

    # -- views ----------------------------------------------------------------------------

    def is_ready(self) -> bool:
        """Started, and every local partition was installed as leader or follower once."""
        return self.started and self.partitions is not None and self.partitions.ready

    def is_healthy(self) -> bool:
        return self.is_ready() and self.partitions is not None and self.partitions.healthy

    @property
    def internal_address(self) -> str:
        """The advertised internal address (with the bound port when configured as 0)."""
        return self.network.local.address if self.network else self.config.internal_address

    @property
    def gateway_address(self) -> str:
        port = self.gateway.port if self.gateway else self.config.network.gateway_port
        return join_address(self.config.network.advertised, port)

    def cluster_view(self) -> ClusterView:
        """Every broker this one knows, with its partitions' roles, terms and health."""
        c = self.config.cluster
        return cluster_view(
            node_id=self.node_id,
            cluster_size=c.cluster_size,
            partitions_count=c.partitions_count,
            replication_factor=c.replication_factor,
            internal_address=self.internal_address,
            gateway_address=self.gateway_address if self.serve_clients else "",
            local=self.partitions.statuses() if self.partitions is not None else [],
            problems=self.partitions.problems() if self.partitions is not None else {},
            members=self.membership.members() if self.membership is not None else {},
            known=self.membership.known() if self.membership is not None else {},
        )


async def _start(nursery: trio.Nursery, fn: Any, key: str, port: int, host: str) -> None:
    try:
        await nursery.start(fn)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:  # something else runs there: not the config's fault
            raise StartupError(f"{key}: port {port} is already in use") from None
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            raise StartupError(
                f"network.host: cannot listen on {host!r}: {exc.strerror}", exit_code=2
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"{key}: port {port}: permission denied (a port below 1024 needs privileges)",
                exit_code=2,
            ) from None
        raise StartupError(f"{key}: cannot listen on port {port}: {exc.strerror}") from None


def run_until_signalled(config: BrokerConfig) -> int:
    """Run a broker until SIGINT/SIGTERM; 0 on a clean stop, else the StartupError's exit code
    (1: e.g. a port in use; 2: e.g. the data directory is locked by another broker)."""

    from . import wallclock

    # Test hook (chaos suite): a clock offset read from a file; None unless the variable is set.
    clock = wallclock.from_environment()

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                if clock is not None:
                    log.warning("TEST HOOK: wall clock offset from %s", clock.path)
                    nursery.start_soon(clock.run)
                broker: Broker = await nursery.start(Broker(config, clock=clock).run)
                async for signum in signals:
                    log.info("received %s: stopping", signal.Signals(signum).name)
                    # Leaders hand over first, so clients see no election timeout; a second
                    # signal (or the deadline) stops at once.
                    with trio.move_on_after(config.cluster.raft.election_timeout):
                        async with trio.open_nursery() as handover:

                            async def hand_over(
                                scope: trio.CancelScope = handover.cancel_scope,
                            ) -> None:
                                await broker.shutdown(config.cluster.raft.election_timeout)
                                scope.cancel()

                            handover.start_soon(hand_over)
                            async for _ in signals:
                                break
                            handover.cancel_scope.cancel()
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
        return startup.exit_code
    return 0
