"""Gateway routing of commands to partition leaders (reference zeebe-engine.md §1.7).

A command is a payload (the engine's command type byte and the client's request bytes, never
re-encoded) for one partition; its answer is the state machine's answer bytes.

* Key-addressed commands (job, incident, instance, variables): the partition in the key's top
  bits (``key >> 51``), :meth:`CommandRouter.keyed`. Deployments go to partition 1 the same way.
* New work (CreateJob, CreateProcessInstance): round-robin over the partitions with a known
  leader, :meth:`CommandRouter.create`; with ``local_first`` (the broker's
  ``network.new_work_partitions = "local-first"``) round-robin over the partitions this broker
  leads, then the others, so that a request needs no forward while clients spread their calls
  over all gateways (job activation, :mod:`.activation`, asks the partitions in the same
  :meth:`CommandRouter.partition_order`, so a worker on this gateway gets, and then completes,
  jobs of the partitions led here without a forward). A partition that refuses without
  proposing (not leader,
  back-pressure, its leader out of disk space, unreachable) passes the request on to the next.
  Zeebe's rule for process instances: one pass over the partitions, and when every one
  failed, RESOURCE_EXHAUSTED "Expected to execute the command on one of the partitions, but
  all failed; ...", with each partition's status in the details. A standalone job (our
  extension) keeps trying passes until the request's deadline.

A command runs on this broker's processor when it leads the partition, else it is forwarded to
the leader's broker (:class:`~.forward.ForwardCommands`, batched by :mod:`.batching`). On "not
leader", an unreachable broker or a leader change the leader is re-resolved (Raft's own view
first, then the gossiped leader table) and a key-addressed command retried with back-off until
the request's deadline (DEADLINE_EXCEEDED). A create whose outcome is unknown (leadership lost
while pending, or no answer) is never retried: it could create a second job or instance, so the
client gets UNAVAILABLE saying the outcome is unknown ("maybe created").

Like Zeebe (which retries on ConnectException) a create the transport could not send at all
(NotSent) is passed on to the next partition; a connection that broke after sending leaves the
outcome unknown and is treated as such.

A forwarded attempt has its own timeout, ``attempt_timeout`` (the broker passes the Raft
election timeout): a leader that has not answered by then is checked, and re-checked every
tenth of it. If another broker leads now, the leader this attempt went to was replaced (it
stalled, died or was cut off) and will not answer: the attempt ends, and a key-addressed command
is retried on the new leader while a create reports its outcome as unknown. If the same
broker still leads, it kept its followers and is slow, not gone: the attempt goes on waiting
(re-sending would only duplicate the command) until the request's deadline. So a stalled leader
costs its clients about the time to elect a new one, not the whole request timeout. Commands
whose answer the engine defers (``alone``: CreateProcessInstanceWithResult) are checked the same
way: their leader is expected to stay silent until the instance completes, so silence alone
ends nothing, but once another broker leads the answer cannot come any more (a processor drops
its deferred answers when it steps down, and a cut-off leader's reply would not get through),
and the client hears "outcome unknown" then rather than at its ``requestTimeout``.

Creates stay "maybe created" rather than idempotent: re-sending one safely would need a request
id in the command and, in every replica's engine state (and snapshots), the recent ids per
partition with the key each created; that is engine work, not routing.
"""

from __future__ import annotations

import itertools
import logging

import trio

from ..engine.commands import AnswerStatus, CommandType
from ..engine.rejection import decode_rejection
from ..grpc.status import GrpcError, StatusCode
from ..keys import partition_of
from ..partitions.manager import PartitionManager
from ..proto import status_pb2
from ..transport.api import Network, NotSent, TransportError
from .answers import payload, rejection_error, response_bytes
from .batching import ForwardBatcher
from .forward import ForwardCommands, ForwardReply, LeaderExecutor
from .grpc_call import ServerCall
from .grpc_services import RawUnaryHandler
from .longpoll import Announcer, JobsAvailable, Waiters
from .refusals import (
    EXHAUSTED,
    Status,
    grpc_error,
    outcome_unknown,
    timed_out,
    unknown_partition,
)

log = logging.getLogger("trio_zeebe.gateway.router")

RETRY_INITIAL = 0.01
RETRY_MAX = 0.25
MIN_LEADER_CHECK = 0.05  # seconds between leader checks of an overdue attempt, at least

_REJECTED = bytes((AnswerStatus.REJECTED,))
_CODE_OF_STATUS = {
    Status.BACKPRESSURE: StatusCode.RESOURCE_EXHAUSTED,
    Status.OUT_OF_DISK: StatusCode.RESOURCE_EXHAUSTED,
    Status.TIMEOUT: StatusCode.DEADLINE_EXCEEDED,
}


class _Unknown(Exception):
    """The command may or may not have been applied."""


class CommandRouter:
    """Routes payloads to partition leaders and returns their answer bytes (or GrpcError)."""

    def __init__(
        self,
        partitions: PartitionManager,
        network: Network,
        *,
        partitions_count: int,
        max_inflight: int,
        request_timeout: float,
        attempt_timeout: float,
        local_first: bool = False,
    ) -> None:
        self.partitions = partitions
        self.local_first = local_first
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
        network.on(ForwardCommands, self.executor.on_forward)
        network.on(JobsAvailable, self.waiters.on_notice)
        partitions.on_partition_started.append(self.announcer.partition_started)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The forwarding tasks; must run while the router is used."""
        await self.batcher.run(task_status=task_status)

    def deadline(self, call_deadline: float | None = None) -> float:
        """The request's deadline: the gateway's request timeout, or the client's if sooner."""
        own = trio.current_time() + self.request_timeout
        return own if call_deadline is None else min(own, call_deadline)

    def leader_of(self, pid: int) -> int | None:
        return self.partitions.leader_of(pid)

    def new_work(self, kind: CommandType, *, one_pass: bool) -> RawUnaryHandler:
        """A raw unary handler that sends each request as a ``kind`` command to :meth:`create`
        (round-robin over the partitions) within the call's deadline."""

        async def handle(data: bytes, call: ServerCall) -> bytes:
            answer = await self.create(
                payload(kind, data), self.deadline(call.deadline), one_pass=one_pass
            )
            return response_bytes(answer)

        return handle

    def partition_of_key(self, key: int) -> int:
        """The partition a key names; UNAVAILABLE (Zeebe's text) if the cluster has none."""
        pid = partition_of(key) if key > 0 else 0
        if pid not in self.partition_ids:
            raise unknown_partition(pid)
        return pid

    # -- one attempt ----------------------------------------------------------------------

    async def attempt(
        self, pid: int, data: bytes, node: int, deadline: float, *, alone: bool = False
    ) -> ForwardReply:
        """Run ``data`` on ``node`` (the believed leader of ``pid``) once.

        Raises trio.TooSlowError when the deadline passed, _Unknown when the outcome is
        unknown (the leader went silent and another took over, or the transport lost it).
        """
        now = trio.current_time()
        if deadline <= now:
            raise trio.TooSlowError
        if node == self.node_id:
            # Bounded by Raft: a local leader that loses its quorum steps down (LOST).
            return await self.executor.execute(pid, data, deadline - now)
        address = self.partitions.addresses.get(node)
        if address is None:
            return ForwardReply(Status.NOT_LEADER, message=f"no address for node {node}")
        pending = self.batcher.submit(address, pid, data, deadline - now, alone=alone)
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
        if not pending.done.is_set():
            raise trio.TooSlowError
        try:
            return pending.outcome()
        except NotSent as exc:
            return ForwardReply(Status.DROPPED, message=f"node {node}: {exc}")
        except TransportError as exc:
            raise _Unknown(f"partition {pid}: no answer from leader node {node}: {exc}") from None

    # -- key-addressed commands -----------------------------------------------------------

    async def keyed(
        self, pid: int, data: bytes, deadline: float, *, retry_unknown: bool = True
    ) -> bytes:
        """The answer of partition ``pid``'s leader; retried on leader changes (safe: a
        key-addressed command applied twice is refused or changes nothing the second time).

        ``retry_unknown=False`` (PublishMessage: a message without an id would be published
        twice): an attempt whose outcome is unknown is not retried but UNAVAILABLE "maybe
        applied"; refusals that guarantee nothing was proposed are still retried."""
        delay = RETRY_INITIAL
        hint: int | None = None
        last = f"no leader of partition {pid} is known"
        uncertain = ""
        while True:
            node = hint if hint is not None else self.leader_of(pid)
            hint = None
            if node is not None:
                try:
                    reply = await self.attempt(pid, data, node, deadline)
                except trio.TooSlowError:
                    break
                except _Unknown as exc:
                    reply = ForwardReply(Status.LOST, message=str(exc))
                if reply.status == Status.OK:
                    if uncertain and reply.result[:1] == _REJECTED:
                        raise _noted(rejection_error(decode_rejection(reply.result[1:])), uncertain)
                    return reply.result
                if reply.status in (Status.LOST, Status.TIMEOUT):
                    if not retry_unknown:
                        raise outcome_unknown(reply.message)
                    uncertain = reply.message
                if reply.status in EXHAUSTED or reply.status == Status.HALTED:
                    raise grpc_error(Status(reply.status), reply.message, pid)
                hint = reply.leader if reply.leader != node else None
                last = reply.message
            if not await _backoff(delay, deadline):
                break
            delay = min(delay * 2, RETRY_MAX)
        raise timed_out(f"no leader of partition {pid} answered in time (last: {last})")

    # -- new work (round-robin) -----------------------------------------------------------

    async def create(
        self, data: bytes, deadline: float, *, one_pass: bool, alone: bool = False
    ) -> bytes:
        """The answer of the first partition that takes ``data`` (see the module docstring).

        ``one_pass``: Zeebe's rule (CreateProcessInstance); else passes until the deadline.
        """
        delay = RETRY_INITIAL
        last = "no partition has a known leader"
        while True:
            failures: list[tuple[int, Status, str]] = []
            for pid in self.partition_order(next(self._create_rr)):
                node = self.leader_of(pid)
                if node is None:
                    failures.append((pid, Status.NOT_LEADER, f"no leader of partition {pid}"))
                    continue
                try:
                    reply = await self.attempt(pid, data, node, deadline, alone=alone)
                except trio.TooSlowError:
                    raise timed_out(f"no partition answered in time (last: {last})") from None
                except _Unknown as exc:
                    raise outcome_unknown(str(exc)) from None
                status = Status(reply.status)
                if status is Status.OK:
                    return reply.result
                if status is Status.TIMEOUT and alone:  # the deferred answer did not come in time
                    raise timed_out(reply.message)
                if status in (Status.LOST, Status.TIMEOUT):
                    raise outcome_unknown(reply.message)
                failures.append((pid, status, reply.message))
                last = reply.message
            if one_pass:
                raise _all_failed(failures)
            if failures and all(s in EXHAUSTED for _, s, _ in failures):
                raise grpc_error(failures[0][1], failures[0][2], failures[0][0])
            if not await _backoff(delay, deadline):
                break
            delay = min(delay * 2, RETRY_MAX)
        raise timed_out(f"no partition leader accepted the command in time (last: {last})")

    def partition_order(self, turn: int) -> list[int]:
        """Every partition once, in the order a create (or an activation pass) tries them on
        its ``turn``-th call: round-robin, or with ``local_first`` the partitions led here
        (rotated) ahead of the others."""
        ids = self.partition_ids
        n = len(ids)
        order = [ids[(turn + i) % n] for i in range(n)]
        if not self.local_first:
            return order
        here = self.node_id
        local = [pid for pid in ids if self.leader_of(pid) == here]
        if not local:
            return order
        k = turn % len(local)
        ours = local[k:] + local[:k]
        return ours + [pid for pid in order if pid not in ours]

    async def on_partition(self, pid: int, data: bytes, deadline: float) -> ForwardReply:
        """One attempt at the current leader of ``pid`` (activation rounds): the reply, with
        a NOT_LEADER/LOST/TIMEOUT status instead of raising."""
        node = self.leader_of(pid)
        if node is None:
            return ForwardReply(Status.NOT_LEADER, message=f"no leader of partition {pid}")
        try:
            return await self.attempt(pid, data, node, deadline)
        except trio.TooSlowError:
            return ForwardReply(Status.TIMEOUT, message=f"partition {pid}: no answer in time")
        except _Unknown as exc:
            return ForwardReply(Status.LOST, message=str(exc))


async def _backoff(delay: float, deadline: float) -> bool:
    """Sleep ``delay`` unless that passes the deadline; False when there is no time left."""
    if trio.current_time() + delay >= deadline:
        return False
    await trio.sleep(delay)
    return True


def _noted(error: GrpcError, uncertain: str) -> GrpcError:
    """A refusal after a retry whose earlier attempt may have been applied says so."""
    return GrpcError(
        error.code,
        f"{error.message} (an earlier attempt's outcome was unknown: {uncertain}; it may have "
        "been applied by that attempt)",
        error.details,
    )


def _all_failed(failures: list[tuple[int, Status, str]]) -> GrpcError:
    """Zeebe's RESOURCE_EXHAUSTED when every partition refused a new instance."""
    details = [
        status_pb2.Status(
            code=int(_CODE_OF_STATUS.get(status, StatusCode.UNAVAILABLE)),
            message=f"partition {pid}: {message}",
        )
        for pid, status, message in failures
    ]
    return GrpcError.with_details(
        StatusCode.RESOURCE_EXHAUSTED,
        "Expected to execute the command on one of the partitions, but all failed; there are no "
        "more partitions available to retry. Please try again. If the error persists contact "
        "your zeebe operator",
        details,
    )
