"""Gateway routing of job requests to partition leaders (reference §6, Zeebe's gateway).

* CreateJob: round-robin over the partitions with a known leader; a partition that refuses
  without proposing (not leader, back-pressure, unreachable) passes the request on to the next.
* Key-addressed commands (CompleteJob, FailJob, ThrowError, UpdateJobRetries, UpdateJobTimeout):
  the partition in the key's top bits (``key >> 51``).
* ActivateJobsRequest: partitions round-robin, each asked for the jobs still missing, until
  ``max_jobs``; with none found it long-polls (see :mod:`.longpoll`).

A command runs on this broker's processor when it leads the partition, else it is forwarded to
the leader's broker (:class:`~.forward.ForwardCommands`, batched by :mod:`.batching`). On "not
leader", an unreachable broker or a leader change the leader is re-resolved (Raft's own view
first, then the gossiped leader table) and the command retried with back-off until the
request's deadline (DEADLINE_EXCEEDED). A CreateJob whose outcome is unknown (leadership lost
while pending, or no answer) is never retried: it could create a second job, so the client gets
UNAVAILABLE saying the outcome is unknown.

Like Zeebe (which retries on ConnectException) a CreateJob the transport could not send at all
(NotSent) is passed on to the next partition; a connection that broke after sending leaves the
outcome unknown and is treated as such.

A forwarded attempt has its own timeout, ``attempt_timeout`` (the broker passes the Raft
election timeout): a leader that has not answered by then is checked, and re-checked every
tenth of it. If another broker leads now, the leader this attempt went to was replaced (it
stalled, died or was cut off) and will not answer: the attempt ends, and a key-addressed command
is retried on the new leader while a CreateJob reports its outcome as unknown. If the same
broker still leads, it kept its followers and is slow, not gone: the attempt goes on waiting
(re-sending would only duplicate the command) until the request's deadline. So a stalled leader
costs its clients about the time to elect a new one, not the whole request timeout.

CreateJob stays "maybe created" rather than idempotent: re-sending it safely would need a
request id in the CreateJob record and, in every replica's engine state (and snapshots), the
recent ids per partition with the key each created; that is engine and record format work, not
routing. With the attempt timeout the unknown outcome comes after about an election timeout, and
the client's next CreateJob goes to a partition whose leader answers.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import attrs
import trio

from .. import codec
from ..engine.records import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    FailJob,
    Job,
    Rejection,
    ThrowError,
    UpdateJobRetries,
    UpdateJobTimeout,
)
from ..errors import ErrorCode
from ..keys import KEY_BITS
from ..partitions.manager import PartitionManager
from ..raft.ready import Role
from ..transport.api import Network, NotSent, TransportError
from .batching import ForwardBatcher
from .forward import RETRY_ELSEWHERE, ForwardCommands, ForwardReply, LeaderExecutor, Status
from .longpoll import Announcer, JobsAvailable, Waiters
from .messages import ActivateJobsRequest
from .server import GatewayRequestError

log = logging.getLogger("trio_zeebe.gateway.router")

PARTITION_SHIFT = KEY_BITS
KEYED = (CompleteJob, FailJob, ThrowError, UpdateJobRetries, UpdateJobTimeout)
JOB_REQUESTS = (CreateJob, ActivateJobsRequest, *KEYED)
RETRY_INITIAL = 0.01
RETRY_MAX = 0.25
MIN_LEADER_CHECK = 0.05  # seconds between leader checks of an overdue attempt, at least
MAX_LONG_POLL = 3600.0


class _Unknown(Exception):
    """The command may or may not have been applied."""


class JobRouter:
    def __init__(
        self,
        partitions: PartitionManager,
        network: Network,
        *,
        partitions_count: int,
        max_inflight: int,
        request_timeout: float,
        attempt_timeout: float,
    ) -> None:
        self.partitions = partitions
        self.network = network
        self.node_id = partitions.node_id
        self.partition_ids = list(range(1, partitions_count + 1))
        self.request_timeout = request_timeout
        self.attempt_timeout = attempt_timeout
        self.leader_check = max(MIN_LEADER_CHECK, attempt_timeout / 10)
        self.abandoned = 0  # attempts given up because another broker took over (diagnostics)
        self.executor = LeaderExecutor(partitions, max_inflight)
        self.batcher = ForwardBatcher(network)
        self.waiters = Waiters()
        self.announcer = Announcer(partitions, network, self.waiters)
        self._create_rr = itertools.count()
        self._activate_rr = itertools.count()
        network.on(ForwardCommands, self.executor.on_forward)
        network.on(JobsAvailable, self.waiters.on_notice)
        partitions.on_partition_started.append(self.announcer.partition_started)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The forwarding tasks; must run while the router is used."""
        await self.batcher.run(task_status=task_status)

    async def handle(self, request: Any, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """Answer one client job request: the engine's result, or GatewayRequestError."""
        deadline = trio.current_time() + (self.request_timeout if timeout is None else timeout)
        if isinstance(request, CreateJob):
            return await self._create(request, deadline)
        if isinstance(request, ActivateJobsRequest):
            return await self._activate(request)
        if isinstance(request, KEYED):
            return await self._keyed(request, deadline)
        raise GatewayRequestError(ErrorCode.UNIMPLEMENTED, f"{type(request).__name__}")

    # -- leader resolution ----------------------------------------------------------------

    def leader_of(self, pid: int) -> int | None:
        """Raft's own view when this broker has a replica, else (or if fresher) the table's."""
        local_term = -1
        driver = self.partitions.driver(pid)
        if driver is not None:
            soft = driver.soft_state
            if soft.role is Role.LEADER:
                return self.node_id
            if soft.leader is not None:
                return soft.leader
            local_term = soft.term
        known = self.partitions.leaders.leader(pid)
        # A claim older than the local replica's term is from before an election in progress.
        if known is None or known[1] < local_term:
            return None
        return known[0]

    async def _attempt(self, pid: int, data: bytes, node: int, deadline: float) -> ForwardReply:
        if node == self.node_id:
            # Bounded by Raft: a local leader that loses its quorum steps down (LOST).
            return await self.executor.execute(pid, data)
        address = self.partitions.addresses.get(node)
        if address is None:
            return ForwardReply(Status.NOT_LEADER, message=f"no address for node {node}")
        now = trio.current_time()
        if deadline <= now:
            raise trio.TooSlowError
        pending = self.batcher.submit(address, pid, data, deadline - now)
        check_at = now + self.attempt_timeout
        while not await pending.wait(min(check_at, deadline)):
            now = trio.current_time()
            if now >= deadline:
                break
            current = self.leader_of(pid)
            if current is not None and current != node:
                self.abandoned += 1
                raise _Unknown(
                    f"partition {pid}: leader node {node} did not answer within "
                    f"{self.attempt_timeout:g}s and node {current} leads now"
                )
            check_at = now + self.leader_check
        try:
            return pending.outcome()
        except NotSent as exc:
            return ForwardReply(Status.DROPPED, message=f"node {node}: {exc}")
        except TransportError as exc:
            raise _Unknown(f"partition {pid}: no answer from leader node {node}: {exc}") from None

    # -- key-addressed commands -----------------------------------------------------------

    async def _keyed(self, command: Any, deadline: float) -> Any:
        key = command.key
        if not isinstance(key, int) or key <= 0:
            raise GatewayRequestError(ErrorCode.INVALID_ARGUMENT, f"job key {key!r} is invalid")
        pid = key >> PARTITION_SHIFT
        if pid not in self.partition_ids:
            raise GatewayRequestError(
                ErrorCode.NOT_FOUND,
                f"job {key}: its key names partition {pid}, but the cluster has partitions "
                f"1..{len(self.partition_ids)}",
            )
        data = codec.encode(command)
        uncertain = ""
        delay = RETRY_INITIAL
        hint: int | None = None
        last = "no leader known"
        while True:
            node = hint if hint is not None else self.leader_of(pid)
            hint = None
            if node is not None:
                try:
                    reply = await self._attempt(pid, data, node, deadline)
                except trio.TooSlowError:
                    break
                except _Unknown as exc:
                    # Retrying is safe: the engine refuses a second completion/failure.
                    uncertain = str(exc)
                    reply = ForwardReply(Status.LOST, message=str(exc))
                if reply.status == Status.OK:
                    return _result(reply.result, uncertain)
                if reply.status == Status.BACKPRESSURE:
                    raise GatewayRequestError(ErrorCode.RESOURCE_EXHAUSTED, reply.message)
                if reply.status == Status.LOST:
                    uncertain = reply.message
                hint = reply.leader if reply.leader != node else None
                last = reply.message
            if not await _backoff(delay, deadline):
                break
            delay = min(delay * 2, RETRY_MAX)
        raise GatewayRequestError(
            ErrorCode.DEADLINE_EXCEEDED,
            f"partition {pid}: no leader answered within the request timeout (last: {last})",
        )

    # -- CreateJob --------------------------------------------------------------------------

    async def _create(self, command: CreateJob, deadline: float) -> Any:
        data = codec.encode(command)
        delay = RETRY_INITIAL
        last = "no partition has a known leader"
        while True:
            exhausted: list[str] = []
            start = next(self._create_rr)
            n = len(self.partition_ids)
            for i in range(n):
                pid = self.partition_ids[(start + i) % n]
                node = self.leader_of(pid)
                if node is None:
                    continue
                try:
                    reply = await self._attempt(pid, data, node, deadline)
                except trio.TooSlowError:
                    break
                except _Unknown as exc:
                    raise _outcome_unknown(str(exc)) from None
                if reply.status == Status.OK:
                    return _result(reply.result, "")
                if reply.status == Status.LOST:
                    raise _outcome_unknown(reply.message)
                if reply.status == Status.BACKPRESSURE:
                    exhausted.append(reply.message)
                elif reply.status not in RETRY_ELSEWHERE and reply.status != Status.NO_PARTITION:
                    raise GatewayRequestError(ErrorCode.INTERNAL, reply.message)
                last = reply.message
            if exhausted and len(exhausted) == n:
                raise GatewayRequestError(
                    ErrorCode.RESOURCE_EXHAUSTED,
                    "every partition refused the job (back-pressure): " + exhausted[0],
                )
            if not await _backoff(delay, deadline):
                break
            delay = min(delay * 2, RETRY_MAX)
        raise GatewayRequestError(
            ErrorCode.DEADLINE_EXCEEDED,
            f"no partition leader accepted the job within the request timeout (last: {last})",
        )

    # -- ActivateJobs (long poll) -----------------------------------------------------------

    async def _activate(self, request: ActivateJobsRequest) -> ActivatedJobs:
        command = request.command
        if command.max_jobs < 1:
            raise GatewayRequestError(ErrorCode.INVALID_ARGUMENT, "max_jobs must be at least 1")
        if not 0 <= request.request_timeout <= MAX_LONG_POLL:
            raise GatewayRequestError(
                ErrorCode.INVALID_ARGUMENT,
                f"request_timeout must be between 0 and {MAX_LONG_POLL:g} seconds",
            )
        deadline = trio.current_time() + request.request_timeout
        while True:
            # Registered before asking, so a notice arriving meanwhile is not lost.
            woken = self.waiters.register(command.type)
            try:
                jobs = await self._activate_round(command, deadline)
                if jobs or trio.current_time() >= deadline:
                    return ActivatedJobs(tuple(jobs))
                with trio.move_on_at(deadline):
                    await woken.wait()
                if not woken.is_set():
                    return ActivatedJobs(())
            finally:
                self.waiters.unregister(command.type, woken)

    async def _activate_round(self, command: ActivateJobs, deadline: float) -> list[Job]:
        jobs: list[Job] = []
        start = next(self._activate_rr)
        n = len(self.partition_ids)
        # One round must not outlive the long poll, nor hang on one unreachable partition.
        attempt_deadline = max(deadline, trio.current_time() + 1.0)
        for i in range(n):
            missing = command.max_jobs - len(jobs)
            if missing <= 0:
                break
            pid = self.partition_ids[(start + i) % n]
            node = self.leader_of(pid)
            if node is None:
                continue
            data = codec.encode(attrs.evolve(command, max_jobs=missing))
            try:
                reply = await self._attempt(pid, data, node, attempt_deadline)
            except (trio.TooSlowError, _Unknown) as exc:
                log.debug("activation on partition %d skipped: %r", pid, exc)
                continue
            if reply.status != Status.OK:
                continue  # not leading / busy / leader lost: the next round re-resolves
            result = codec.decode(reply.result)
            if isinstance(result, Rejection):
                raise GatewayRequestError(_code(result.code), result.message)
            if isinstance(result, ActivatedJobs):
                jobs.extend(result.jobs)
        return jobs


async def _backoff(delay: float, deadline: float) -> bool:
    """Sleep ``delay`` unless that passes the deadline; False when there is no time left."""
    if trio.current_time() + delay >= deadline:
        return False
    await trio.sleep(delay)
    return True


def _code(code: str) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.INTERNAL


def _result(data: bytes, uncertain: str) -> Any:
    """The engine's answer; a Rejection becomes the error with the engine's code."""
    try:
        result = codec.decode(data)
    except codec.DecodeError as exc:
        raise GatewayRequestError(ErrorCode.INTERNAL, f"undecodable engine result: {exc}") from None
    if isinstance(result, Rejection):
        message = result.message
        if uncertain:
            message += (
                f" (an earlier attempt's outcome was unknown: {uncertain}; "
                "it may have been applied by that attempt)"
            )
        raise GatewayRequestError(_code(result.code), message)
    return result


def _outcome_unknown(detail: str) -> GatewayRequestError:
    return GatewayRequestError(
        ErrorCode.UNAVAILABLE,
        f"outcome unknown, the job may or may not have been created ({detail}); "
        "not retried to avoid a duplicate",
    )
