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
from .config import BrokerConfig, gateway_tls_files
from .disk import DirectoryInUse, DirectoryLock, Disk, RealDisk
from .engine.jobs import JobEngine
from .engine.statemachine import StateMachine
from .errors import find_error
from .gateway.messages import (
    AppendRequest,
    AppendResponse,
    BrokerInfo,
    ErrorCode,
    LeaderMove,
    PartitionInfo,
    RebalanceRequest,
    RebalanceResponse,
    Topology,
    TopologyRequest,
)
from .gateway.router import JOB_REQUESTS, JobRouter
from .gateway.server import GatewayRequestError, GatewayServer, gateway_ssl_context
from .membership.core import SwimCore
from .membership.driver import MembershipService
from .membership.messages import State
from .membership.topology_store import PersistedTopology, TopologyStore
from .monitoring.metrics import BrokerMetrics, instrument_requests
from .monitoring.sample import sample_broker
from .monitoring.service import MonitoringService
from .partitions.broker_info import GATEWAY_KEY, decode_broker_info
from .partitions.distribution import PartitionDistribution, check_compatible, round_robin
from .partitions.manager import PartitionManager
from .processing.processor import MAX_UNIT_RECORDS, NotServing, PartitionHalted
from .raft.errors import Backpressure, LeadershipLost, NotLeader, ProposalDropped
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
    have no real sockets).
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
        # What every partition replicates: the job engine unless the embedder brings its own.
        self.state_machine = state_machine or _job_engine
        self.clock = clock or time.time
        self.started = False
        self._injected_network = network
        self.network: RunnableNetwork | None = None
        self.transport: TcpTransport | None = None
        self.membership: MembershipService | None = None
        self.partitions: PartitionManager | None = None
        self.distribution: PartitionDistribution | None = None
        self.gateway: GatewayServer | None = None
        self.monitoring: MonitoringService | None = None
        self.router: JobRouter | None = None
        # Its own registry: several brokers may share a process (simulations, tests).
        self.metrics = BrokerMetrics(
            node_id=self.node_id,
            cluster_name=config.cluster.cluster_name,
            version=__version__,
            sample=lambda: sample_broker(self),
        )

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
            if self.serve_clients:
                self.gateway = await self._start_gateway(nursery)
                self.monitoring = await self._start_monitoring(nursery)
            self.membership = await self._start_membership(nursery, store)
            self.partitions = await self._start_partitions(nursery, data_dir)
            self.started = True
            log.info(
                "broker %d started: internal %s, gateway %s, partitions %s",
                self.node_id,
                self.internal_address,
                self.gateway_address if self.serve_clients else "-",
                list(self.distribution.partitions_of(self.node_id)),
            )
            task_status.started(self)

    async def shutdown(self, within: float = 5.0) -> None:
        """Graceful stop, part one: hand every leadership over and tell the other members we
        are leaving (so they do not wait for a failure timeout). Then cancel ``run``."""
        if self.partitions is not None:
            with trio.move_on_after(within):
                await self.partitions.hand_over_leaderships(within)
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
        self.router = JobRouter(
            manager,
            self.network,
            partitions_count=self.config.cluster.partitions_count,
            max_inflight=self.config.network.max_inflight_per_partition,
            request_timeout=self.config.network.request_timeout,
            # A leader silent for an election timeout is about to be replaced, if it is gone.
            attempt_timeout=r.election_timeout,
        )
        await nursery.start(self.router.run)
        await nursery.start(manager.run)
        return manager

    async def _start_gateway(self, nursery: trio.Nursery) -> GatewayServer:
        c = self.config
        ctx = None
        if c.security.gateway.enabled:
            try:
                ctx = gateway_ssl_context(*gateway_tls_files(c))
            except (OSError, ssl.SSLError) as exc:
                raise StartupError(f"security.gateway: {load_error(exc)}", exit_code=2) from None
        gateway = GatewayServer(
            c.network.host,
            c.network.gateway_port,
            instrument_requests(self.handle_client_request, self.metrics),
            ssl_context=ctx,
            max_frame_bytes=c.network.max_message_size,
        )
        await _start(
            nursery, gateway.run, "network.gateway.port", c.network.gateway_port, c.network.host
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
            topology=self.topology,
            metrics=self.metrics,
            network=self.network,
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

    def topology(self) -> Topology:
        """Every broker this one knows, with its partitions' roles, terms and health."""
        c = self.config
        brokers = []
        members = self.membership.members() if self.membership is not None else {}
        known = self.membership.known() if self.membership is not None else {}
        for node_id in sorted(set(members) | set(known) | {self.node_id}):
            member = members.get(node_id)
            if node_id == self.node_id:
                statuses = self.partitions.statuses() if self.partitions is not None else []
                info = BrokerInfo(
                    node_id,
                    self.internal_address,
                    self.gateway_address if self.serve_clients else "",
                    "alive",
                    tuple(s.to_info() for s in statuses),
                )
            elif member is None:  # long dead: only the remembered address is left
                info = BrokerInfo(node_id, known[node_id], "", "dead")
            else:
                props = decode_broker_info(member.properties)
                partitions = tuple(s.to_info() for s in props.partitions)
                if member.state is State.DEAD:  # its last gossip is history, not a role
                    partitions = tuple(
                        PartitionInfo(p.partition_id, "inactive", p.term, "dead")
                        for p in partitions
                    )
                info = BrokerInfo(
                    node_id, member.address, props.gateway, member.state.label, partitions
                )
            brokers.append(info)
        return Topology(
            cluster_size=c.cluster.cluster_size,
            partitions_count=c.cluster.partitions_count,
            replication_factor=c.cluster.replication_factor,
            brokers=tuple(brokers),
        )

    async def handle_client_request(self, request: Any) -> Any:
        if isinstance(request, TopologyRequest):
            return self.topology()
        if isinstance(request, JOB_REQUESTS):
            if self.router is None:
                raise GatewayRequestError(ErrorCode.UNAVAILABLE, "broker is starting")
            return await self.router.handle(request)
        if isinstance(request, AppendRequest):
            return await self._append(request)
        if isinstance(request, RebalanceRequest):
            if self.partitions is None:
                raise GatewayRequestError(ErrorCode.UNAVAILABLE, "broker is starting")
            plan = self.partitions.rebalance()
            return RebalanceResponse(tuple(LeaderMove(p, a, b) for p, a, b in plan))
        raise GatewayRequestError(
            ErrorCode.UNIMPLEMENTED, f"{type(request).__name__} is not supported by this broker"
        )

    async def _append(self, request: AppendRequest) -> AppendResponse:
        """Raw records for an embedder's state machine: opaque payloads in one processor unit
        (one log entry, in the given order), answered once committed and applied."""
        pid = request.partition_id
        count = len(request.records)
        if not 1 <= count <= MAX_UNIT_RECORDS:
            raise GatewayRequestError(
                ErrorCode.INVALID_ARGUMENT,
                f"an append takes 1..{MAX_UNIT_RECORDS} records, got {count}",
            )
        processor = self.partitions.processor(pid) if self.partitions is not None else None
        if processor is None:
            raise GatewayRequestError(
                ErrorCode.UNAVAILABLE, f"partition {pid} is not on node {self.node_id}"
            )
        if isinstance(processor.machine, JobEngine):
            raise GatewayRequestError(
                ErrorCode.UNIMPLEMENTED,
                f"partition {pid} runs the job engine; raw records are accepted only by an "
                "embedder's state machine",
            )
        try:
            appended = await processor.submit_unit(request.records)
        except (NotLeader, ProposalDropped) as exc:
            raise _gateway_error(exc, pid) from None
        return AppendResponse(pid, appended.positions, appended.answers)


def _job_engine(partition_id: int) -> StateMachine:
    return JobEngine(partition_id)


def _gateway_error(exc: BaseException, pid: int) -> BaseException:
    """The first Raft or processor refusal inside ``exc`` as the client-facing error."""
    if (halted := find_error(exc, PartitionHalted)) is not None:
        return GatewayRequestError(ErrorCode.UNAVAILABLE, str(halted))
    if (unknown := find_error(exc, LeadershipLost)) is not None:
        return GatewayRequestError(
            ErrorCode.UNAVAILABLE, f"partition {pid}: outcome unknown, not retried ({unknown})"
        )
    if (catching_up := find_error(exc, NotServing)) is not None:
        return GatewayRequestError(
            ErrorCode.UNAVAILABLE,
            f"partition {pid}: leader {catching_up.leader} is still applying its backlog",
        )
    if (full := find_error(exc, Backpressure)) is not None:
        return GatewayRequestError(ErrorCode.RESOURCE_EXHAUSTED, f"partition {pid}: {full}")
    if (moved := find_error(exc, NotLeader)) is not None:
        return GatewayRequestError(
            ErrorCode.UNAVAILABLE, f"not the leader of partition {pid} (leader: {moved.leader})"
        )
    if (dropped := find_error(exc, ProposalDropped)) is not None:
        return GatewayRequestError(ErrorCode.UNAVAILABLE, f"partition {pid}: {dropped}")
    return exc


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

    from .testing import clock_offset

    # Test hook (chaos suite): a clock offset read from a file; None unless the variable is set.
    clock = clock_offset.from_environment()

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
