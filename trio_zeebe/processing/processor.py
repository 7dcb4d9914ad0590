"""The stream processor of one partition: committed records in, state machine out.

Every replica applies the same committed records in the same order to its state machine, so a
follower's state is hot and a new leader only has to finish its backlog before it serves. Only
the leader takes commands: :meth:`PartitionProcessor.submit` frames the command in an
:mod:`~.envelope` with a request id and the leader's wall-clock stamp, proposes it through Raft
and returns the state machine's answer once the record is committed *and* applied — nothing is
acknowledged before it is durable on a quorum. :meth:`PartitionProcessor.submit_unit` does the
same for the records of one raw append, as one envelope, so they land together and in order.

Time-driven work (a job's deadline passing) enters the log as a time record the leader appends
when the state machine's next deadline arrives, so replay anywhere yields the same state.
Commands another partition's leader sends (:meth:`PartitionProcessor.submit_inter`) are logged
as INTER records and applied with the machine's ``receive``.

The leader's side effects: an answer the machine defers (CreateProcessInstanceWithResult) is
given to the waiting request when the machine hands it over (``take_answers``), matched by the
command's position; inter-partition sends go out through a :class:`~.sideeffects.OutboxSender`;
the job types that got work are announced to ``on_jobs_available`` listeners (long polling, job
push).
Snapshots are taken by entry count and by time; Raft then compacts the log behind them. A
machine that can snapshot in pieces (:class:`~trio_zeebe.engine.statemachine.SnapshotsInPieces`)
is frozen as a view at the applied entry and serialized in a task of its own, yielding between
pieces, while the apply loop goes on: a big state stalls neither this partition nor the rest of
the broker (:func:`produce_snapshot`). The bytes are those of the state at that entry, the same
on every replica. A machine that can also restore in pieces
(:class:`~trio_zeebe.engine.statemachine.RestoresInPieces`) restores a snapshot (at a restart,
or one a follower installs from its leader) with a checkpoint between pieces
(:func:`restore_snapshot`): the apply loop waits for it, the rest of the broker does not.

If the state machine raises (it must not; see :mod:`~trio_zeebe.engine.statemachine`), the
processor halts: it reports where and why, answers every request with that reason, applies and
snapshots nothing more, and lets go of the committed-entry stream so Raft replicates on. The
records stay in the log, so a fixed machine replays them after a restart.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import Callable, Sequence

import attrs
import trio

from ..engine.commands import DEFERRED
from ..engine.overview import OverviewBuilder, PartitionOverview, ProcessView
from ..engine.runtime.trace import TraceListener
from ..engine.statemachine import (
    AnswersUnlogged,
    DeferredAnswers,
    InterPartition,
    RestoresInPieces,
    SnapshotsInPieces,
    StateMachine,
    TimeDriven,
    Traced,
)
from ..logs import ProgressReporter
from ..raft.driver import RaftDriver
from ..raft.driver.committed import Committed, Restore
from ..raft.errors import LeadershipLost, NotLeader, ProposalDropped
from ..raft.ready import Role
from . import envelope
from .envelope import Envelope, EnvelopeError, Kind
from .sideeffects import JobNotices, Messenger, OutboxSender

log = logging.getLogger("trio_zeebe.processing")

# A record's position is its entry's index and its slot in the entry: every command, time record
# and record of a unit takes one slot, counted the same way on every replica.
OFFSET_BITS = 20
MAX_SLOTS = 1 << OFFSET_BITS
MAX_UNIT_RECORDS = 1 << 16  # records in one raw append (one unit)
OVERVIEW_CHUNK = 5000  # element instances counted between two yields (process_overview)
_STUCK_TICK_PAUSE = 1.0  # a machine whose deadline stays due after its tick is not spun on
_COMMAND, _UNIT, _INTER = Kind.COMMAND, Kind.UNIT, Kind.INTER


def position_of(index: int, offset: int) -> int:
    return (index << OFFSET_BITS) | offset


class NotServing(NotLeader):
    """This replica leads but is still applying its backlog; retry shortly."""


class PartitionHalted(ProposalDropped):
    """The partition's state machine failed on a committed record; nothing more is applied
    until it is fixed (the command was not proposed)."""


class OutOfDiskSpace(ProposalDropped):
    """The leader's disk is below ``data.disk.free_space_processing``: the command was not
    proposed; it is taken again once there is room."""


class HaltedBeforeApplying(LeadershipLost):
    """The partition halted while this command was pending: it may be in the log, and would be
    applied when the partition resumes. Its outcome is unknown."""


class RecordRefused(ProposalDropped):
    """The record was committed but not given to the state machine, on any replica: it never
    takes effect, so retrying is safe."""


@attrs.frozen
class Halt:
    """Where and why the state machine failed."""

    partition: int
    position: int  # -1: not at a record (restoring, snapshotting, asking for its deadline)
    index: int  # the entry applied (or restored) last
    error: str

    def describe(self) -> str:
        where = f"entry {self.index}"
        if self.position >= 0:
            where = f"position {self.position} ({where})"
        return f"partition {self.partition}: the state machine failed at {where}: {self.error}"


@attrs.frozen
class Appended:
    """Where the records of one :meth:`PartitionProcessor.submit_unit` landed (one entry,
    consecutive slots) and the state machine's answer to each."""

    index: int
    first_slot: int
    answers: tuple[bytes, ...]

    @property
    def positions(self) -> tuple[tuple[int, int], ...]:
        """(entry index, slot) of each record, in the order given."""
        return tuple((self.index, self.first_slot + i) for i in range(len(self.answers)))


_Answer = bytes | Appended | Exception


class _Waiter:
    """The records of one submit: done when each has its answer (or error)."""

    __slots__ = ("done", "left")

    def __init__(self, count: int) -> None:
        self.left = count
        self.done = trio.Event()

    def set(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.set()


class _Replay:
    """Progress lines while a replica applies the log it found at start-up (the entries after
    its snapshot, up to its last entry then), and a final line once it got there."""

    __slots__ = ("first", "last", "partition", "records", "reporter")

    def __init__(self, partition: int, after: int, last: int, records: int) -> None:
        self.partition, self.first, self.last, self.records = partition, after, last, records
        self.reporter: ProgressReporter | None = None

    def applied(self, processor: PartitionProcessor) -> bool:
        """Report what ``processor`` applied so far; True once the replay is done."""
        index = processor.applied_index
        reporter = self.reporter
        if reporter is None:  # the first entry (after the snapshot's restore): start the clock
            what = f"partition {self.partition}: replaying the log"
            reporter = self.reporter = ProgressReporter(
                log, what, self.last - self.first, unit="entries", clock=trio.current_time
            )
            reporter.begin(f"after index {self.first}")
        reporter.update(max(index - self.first, 0))
        if index < self.last:
            return False
        reporter.finish(f"{processor.applied_records - self.records:,} records applied")
        return True


class PartitionProcessor:
    """Applies one partition's committed records to its state machine, on every replica, and
    (on the leader) turns client commands into records and records into answers.

    Contract: the only reader of the driver's committed-entry stream and the only caller of the
    state machine; answers a command only after its record is committed and applied (see the
    module docstring). Owns the state machine, the requests waiting for their records, the
    snapshot schedule (``snapshot_every`` entries or ``snapshot_period`` seconds) and, for a
    :class:`TimeDriven` machine, the leader's ticker. The partition manager creates it with the
    driver and runs ``run`` in the partition's nursery.
    """

    def __init__(
        self,
        driver: RaftDriver,
        machine: StateMachine,
        *,
        clock: Callable[[], float],
        snapshot_every: int,
        snapshot_period: float,
        observe_processing: Callable[[float], None] | None = None,
        observe_snapshot: Callable[[float], None] | None = None,
        trace: TraceListener | None = None,
        messenger: Messenger | None = None,
        accepting: Callable[[], bool] | None = None,
    ) -> None:
        self.driver = driver
        # False while the broker's disk is too full for new client commands (the disk space
        # monitor); commands already proposed, time records and inter-partition commands go on.
        self._accepting = accepting
        # Metrics hooks (seconds): an entry's commit until it is applied; one snapshot.
        self._observe_processing = observe_processing
        self._observe_snapshot = observe_snapshot
        # The machine's events go to ``trace`` while this replica is the serving leader only
        # (metrics count where records are processed: a follower's replay must not count).
        self._trace = trace
        self._traced = machine if trace is not None and isinstance(machine, Traced) else None
        self._tracing = False
        self.machine = machine
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.snapshot_period = snapshot_period
        self.partition = driver.partition
        self.applied_index = 0
        self.applied_term = 0
        self.applied_records = 0
        self.skipped_records = 0  # committed records that were not envelopes (not applied)
        self.serving_term = -1  # the term in which this replica (as leader) caught up
        self.halted: Halt | None = None
        self._channel = driver.committed_entries()
        self._pending: dict[int, _Waiter] = {}
        self._results: dict[int, _Answer] = {}
        self._ids = itertools.count(1)
        self._since_snapshot = 0
        self._last_snapshot_at = -math.inf
        self._wake_ticker = trio.Event()
        self._unlogged = machine if isinstance(machine, AnswersUnlogged) else None
        self._timed = machine if isinstance(machine, TimeDriven) else None
        self._unlogged_failed = False
        self._defers = machine if isinstance(machine, DeferredAnswers) else None
        self._deferred: dict[int, int] = {}  # position of a deferred command -> request id
        self._deferred_at: dict[int, int] = {}  # request id -> that position
        self._inter = machine if isinstance(machine, InterPartition) else None
        self._notices = machine if isinstance(machine, JobNotices) else None
        self._announced_term = -1
        self.outbox: OutboxSender | None = None
        if self._inter is not None and messenger is not None:
            self.outbox = OutboxSender(self.partition, messenger)
        self.on_applied: list[Callable[[], None]] = []
        self.on_jobs_available: list[Callable[[set[str] | None], None]] = []
        """Called on the serving leader with the job types that got activatable work after
        an applied entry, or with None when it starts serving (anything may be waiting)."""
        self.on_halted: list[Callable[[Halt], None]] = []  # e.g. report the partition unhealthy
        self._replay: _Replay | None = None
        self._nursery: trio.Nursery | None = None
        self._snapshotting = False
        self._restores = (
            0  # snapshot restores begun so far: one in between voids a snapshot in work
        )

    async def process_overview(self) -> PartitionOverview | None:
        """What runs on this replica's state, per process definition and element (the live
        page's process view); None when the state machine is not a process engine.

        The copy of the state is taken at once (consistent, a list copy); the counting then
        yields to the event loop every ``OVERVIEW_CHUNK`` values, so a large state never holds
        up the partition. A follower's picture is as current as its applied records.
        """
        machine = self.machine
        if not isinstance(machine, ProcessView):
            return None
        source = machine.overview_source()
        builder = OverviewBuilder(source)
        for i in range(0, len(source.instances), OVERVIEW_CHUNK):
            builder.add_instances(source.instances[i : i + OVERVIEW_CHUNK])
            await trio.lowlevel.checkpoint()
        for i in range(0, len(source.incidents), OVERVIEW_CHUNK):
            builder.add_incidents(source.incidents[i : i + OVERVIEW_CHUNK])
            await trio.lowlevel.checkpoint()
        return builder.build()

    def pending_incidents(self) -> int | None:
        """Open incidents on this partition if this replica is its serving leader and runs a
        process engine, else None (Zeebe reports the gauge on the leader)."""
        machine = self.machine
        if not self.serving or not isinstance(machine, ProcessView):
            return None
        return machine.incident_count()

    def process_resource(self, definition_key: int) -> bytes | None:
        """The BPMN XML a deployed process definition came from (None if unknown here)."""
        machine = self.machine
        return machine.resource(definition_key) if isinstance(machine, ProcessView) else None

    @property
    def serving(self) -> bool:
        soft = self.driver.soft_state
        return soft.role is Role.LEADER and soft.term == self.serving_term and self.halted is None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._last_snapshot_at = trio.current_time()
        status = self.driver.status().raft
        # More than a new leader's no-op (a fresh or just-snapshotted log says nothing).
        if status is not None and status.last_index - status.snapshot_index > 1:
            self._replay = _Replay(
                self.partition, status.snapshot_index, status.last_index, self.applied_records
            )
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._watch_roles)
            if self._timed is not None:
                nursery.start_soon(self._ticker, self._timed)
            if self.outbox is not None and self._inter is not None:
                await nursery.start(self.outbox.run, self._inter.outbox, self._sending_term)
            task_status.started()
            await self._apply_loop()

    # --- the leader's side: propose and wait for the answer ---------------------------------

    async def submit(self, command: bytes) -> bytes:
        """Replicate ``command``; the state machine's answer once committed and applied.

        Raises NotLeader (with the known leader), NotServing (leader still catching up),
        PartitionHalted, OutOfDiskSpace, ProposalDropped/Backpressure, or LeadershipLost (the
        outcome is unknown).
        """
        (result,) = await self.submit_many([command])
        if isinstance(result, Exception):
            raise result
        return result

    async def submit_many(self, commands: Sequence[bytes]) -> list[bytes | Exception]:
        """:meth:`submit` for commands that arrived together: each one's answer or error.

        NotLeader and NotServing, which refuse the whole call, are raised. Each command is its
        own record; the records are proposed in the order given.
        """
        term = self._check_serving()
        if self.halted is not None:
            return [self._halted_error()] * len(commands)
        answers: list[bytes | Exception | None] = [None] * len(commands)
        if self._unlogged is not None:
            answers = [self._answer_unlogged(self._unlogged, command) for command in commands]
        logged = [i for i, answer in enumerate(answers) if answer is None]
        if logged and not self._room():
            for i in logged:
                answers[i] = self._out_of_space()
            logged = []
        if logged:
            stamp = self.clock()
            ids = [self._request_id(term) for _ in logged]
            records = [
                envelope.command(rid, stamp, commands[i])
                for rid, i in zip(ids, logged, strict=True)
            ]
            results = await self._propose(ids, records)
            for i, result in zip(logged, results, strict=True):
                assert not isinstance(result, Appended)
                answers[i] = result
        return answers  # type: ignore[return-value]

    async def submit_unit(self, payloads: Sequence[bytes]) -> Appended:
        """Replicate opaque ``payloads`` (the records of one raw append) as one unit: they land
        in one log entry, in consecutive slots in the order given, and are applied one after
        the other. Raises what :meth:`submit` raises (the unit as a whole)."""
        if not 1 <= len(payloads) <= MAX_UNIT_RECORDS:
            raise ValueError(f"a unit holds 1..{MAX_UNIT_RECORDS} records, got {len(payloads)}")
        term = self._check_serving()
        if self.halted is not None:
            raise self._halted_error()
        if not self._room():
            raise self._out_of_space()
        rid = self._request_id(term)
        (result,) = await self._propose([rid], [envelope.unit(rid, self.clock(), payloads)])
        if isinstance(result, Exception):
            raise result
        assert isinstance(result, Appended)
        return result

    async def submit_inter(self, payload: bytes) -> bytes:
        """Log a command another partition sent (an INTER record, applied with the machine's
        ``receive``); its answer (diagnostics) once committed and applied. Raises what
        :meth:`submit` raises."""
        if self._inter is None:
            raise RecordRefused("this state machine takes no inter-partition commands")
        term = self._check_serving()
        if self.halted is not None:
            raise self._halted_error()
        rid = self._request_id(term)
        (result,) = await self._propose([rid], [envelope.inter(rid, self.clock(), payload)])
        if isinstance(result, Exception):
            raise result
        assert not isinstance(result, Appended)
        return result

    def _room(self) -> bool:
        return self._accepting is None or self._accepting()

    def _out_of_space(self) -> OutOfDiskSpace:
        return OutOfDiskSpace(
            f"partition {self.partition}: node {self.driver.node_id} is out of disk space"
        )

    def _sending_term(self) -> int | None:
        return self.serving_term if self.serving else None

    def _check_serving(self) -> int:
        soft = self.driver.soft_state
        if soft.role is not Role.LEADER:
            raise NotLeader(soft.leader)
        if soft.term != self.serving_term and self.halted is None:
            raise NotServing(self.driver.node_id)
        return soft.term

    def _request_id(self, term: int) -> int:
        # The term keeps an id unique across this node's leaderships: a record a previous
        # leadership proposed never completes a newer one's request.
        return ((term & 0xFFFF_FFFF) << 32) | (next(self._ids) & 0xFFFF_FFFF)

    def _answer_unlogged(self, machine: AnswersUnlogged, command: bytes) -> bytes | None:
        try:
            return machine.answer_unlogged(command)
        except Exception:
            # Nothing is lost by logging the command instead: applying it gives the answer.
            if not self._unlogged_failed:
                self._unlogged_failed = True
                log.exception("partition %d: answer_unlogged failed (logged)", self.partition)
            return None

    async def _propose(self, ids: list[int], records: list[bytes]) -> list[_Answer]:
        waiter = _Waiter(len(ids))
        pending, results = self._pending, self._results
        for rid in ids:
            pending[rid] = waiter
        try:
            outcomes = await self.driver.propose_many(records)
            for rid, outcome in zip(ids, outcomes, strict=True):
                # Refused or lost before commit: no answer will come from applying it.
                if isinstance(outcome, Exception) and rid in self._pending:
                    del self._pending[rid]
                    results[rid] = outcome
                    waiter.set()
            await waiter.done.wait()
            return [results.pop(rid) for rid in ids]
        finally:
            for rid in ids:
                self._pending.pop(rid, None)
                results.pop(rid, None)
                position = self._deferred_at.pop(rid, None)
                if position is not None:
                    self._deferred.pop(position, None)

    # --- every replica: apply committed records ---------------------------------------------

    async def _apply_loop(self) -> None:
        async with self._channel:
            async for item in self._channel:
                if self.halted is None:
                    if isinstance(item, Restore):
                        await self._restore(item)
                    else:
                        self._apply(item)
                    if self._observe_processing is not None and isinstance(item, Committed):
                        self._observe_processing(trio.current_time() - item.committed_at)
                    replay = self._replay
                    if replay is not None and isinstance(item, Committed) and replay.applied(self):
                        self._replay = None
                if self.halted is not None:
                    # Let go of the stream: Raft goes on committing without us, and a restart
                    # replays from the last snapshot.
                    break
                if not self._snapshotting and self._snapshot_due():
                    if self._nursery is None:
                        await self.take_snapshot()
                    else:  # the loop goes on applying while the snapshot is written
                        self._snapshotting = True
                        self._nursery.start_soon(self._background_snapshot)

    async def _restore(self, item: Restore) -> None:
        snap = item.snapshot
        what = f"partition {self.partition}: restoring the snapshot at index {snap.index}"
        restoring = ProgressReporter(log, what, snap.size, unit="bytes", clock=trio.current_time)
        restoring.begin()
        data = self.driver.snapshots.load(snap)
        # From here the state a snapshot in work shows is on its way out: that one is void.
        self._restores += 1
        try:
            done = await restore_snapshot(self.machine, data, lambda: self.halted is None)
        except Exception as exc:
            self._halt(-1, snap.index, exc)
            return
        if not done:  # halted meanwhile: the state stays as it was
            return
        restoring.finish(done=snap.size)
        self.applied_index, self.applied_term = snap.index, snap.term
        self._since_snapshot = 0

    def _apply(self, item: Committed) -> None:
        if item.noop:
            # A leader's own no-op of its term is applied: everything before it is too.
            soft = self.driver.soft_state
            if soft.role is Role.LEADER and soft.term == item.term:
                self.serving_term = item.term
                log.info(
                    "partition %d: leader caught up, serving in term %d", self.partition, item.term
                )
        if self._traced is not None and self.serving != self._tracing:
            self._tracing = not self._tracing
            self._traced.set_trace(self._trace if self._tracing else None)
        slot = 0
        skipped: list[str] = []
        index = item.index
        for record in item.records:
            try:
                env = envelope.decode(record)
            except EnvelopeError as exc:
                # Only disk corruption or an older format can put one here (clients never write
                # envelopes), and every replica skips it alike.
                skipped.append(str(exc))
                continue
            position = -1
            if env.kind is _UNIT:
                answer: _Answer = self._apply_unit(env, index, slot)
                slot += len(env.payloads)
            elif slot >= MAX_SLOTS:
                answer = RecordRefused(f"entry {index} holds more than {MAX_SLOTS} records")
            else:
                position = position_of(index, slot)
                answer = self._apply_one(env, position, index)
                slot += 1
            if self.halted is not None:
                return
            self._answer(env.request_id, answer, position)
        if skipped:
            # Said once at WARNING (an old log may hold many), then counted.
            first = self.skipped_records == 0
            self.skipped_records += len(skipped)
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "partition %d: entry %d: skipped %d records that are not processor envelopes "
                "(first: %s; written by an older version, or corrupt); every replica skips them",
                self.partition,
                index,
                len(skipped),
                skipped[0],
            )
        self.applied_index, self.applied_term = index, item.term
        self._since_snapshot += 1
        self._wake_ticker.set()
        self._side_effects()
        for hook in self.on_applied:
            hook()

    def _side_effects(self) -> None:
        """After an applied entry: what the machine handed over, on every replica (so its
        hand-over lists stay bounded), acted upon by the serving leader only."""
        serving = self.serving
        try:
            if self._defers is not None:
                answers = self._defers.take_answers()
                if answers and serving:
                    for position, answer in answers:
                        rid = self._deferred.pop(position, None)
                        if rid is not None:
                            self._deferred_at.pop(rid, None)
                            self._answer(rid, answer, -1)
            if self._inter is not None:
                messages = self._inter.take_messages()
                if self.outbox is not None:
                    if serving:
                        self.outbox.queue_messages(messages)
                        self.outbox.wake()
                    else:
                        self.outbox.drop_messages()
            if self._notices is not None:
                types = self._notices.take_newly_activatable()
                if serving and self.on_jobs_available:
                    if self._announced_term != self.serving_term:
                        self._announced_term = self.serving_term
                        self._announce(None)
                    elif types:
                        self._announce(types)
        except Exception as exc:
            self._halt(-1, self.applied_index, exc)

    def _announce(self, types: set[str] | None) -> None:
        for listener in self.on_jobs_available:
            try:
                listener(types)
            except Exception:  # a listener's bug must not stop the partition
                log.exception("partition %d: a jobs-available listener failed", self.partition)

    def _apply_one(self, env: Envelope, position: int, index: int) -> _Answer:
        try:
            if env.kind is _COMMAND:
                result = self.machine.apply(env.payloads[0], position, env.timestamp)
            elif env.kind is _INTER:
                if self._inter is None:  # the machine was replaced by one that takes none
                    return RecordRefused("this state machine takes no inter-partition commands")
                result = self._inter.receive(env.payloads[0], position, env.timestamp)
            elif self._timed is not None:
                result = self._timed.tick(position, env.timestamp)
            else:  # a time record for a machine that keeps no time (it was replaced)
                return RecordRefused("this state machine keeps no time")
        except Exception as exc:
            return self._halt(position, index, exc)
        self.applied_records += 1
        return result

    def _apply_unit(self, env: Envelope, index: int, slot: int) -> _Answer:
        count = len(env.payloads)
        if slot + count > MAX_SLOTS:
            return RecordRefused(f"entry {index} holds more than {MAX_SLOTS} records")
        answers = []
        apply, stamp = self.machine.apply, env.timestamp
        for i, payload in enumerate(env.payloads):
            position = position_of(index, slot + i)
            try:
                answers.append(apply(payload, position, stamp))
            except Exception as exc:
                return self._halt(position, index, exc)
        self.applied_records += count
        return Appended(index, slot, tuple(answers))

    def _answer(self, request_id: int, answer: _Answer, position: int) -> None:
        if (
            answer == DEFERRED
            and self._defers is not None
            and position >= 0
            and request_id in self._pending
        ):
            # The answer comes later (take_answers, by position); the request keeps waiting.
            self._deferred[position] = request_id
            self._deferred_at[request_id] = position
            return
        waiter = self._pending.pop(request_id, None)
        if waiter is not None:
            self._results[request_id] = answer
            waiter.set()

    # --- halting ----------------------------------------------------------------------------

    def _halt(self, position: int, index: int, exc: Exception) -> PartitionHalted:
        if self.halted is not None:  # the first failure is the one to report
            return self._halted_error()
        halt = Halt(self.partition, position, index, f"{type(exc).__name__}: {exc}"[:500])
        self.halted = halt
        log.error(
            "%s; applying nothing more (its state may be inconsistent), the records stay in the "
            "log and are replayed from the last snapshot once the partition restarts",
            halt.describe(),
            exc_info=exc,
        )
        pending, self._pending = self._pending, {}
        self._deferred.clear()
        self._deferred_at.clear()
        for request_id, waiter in pending.items():
            self._results[request_id] = HaltedBeforeApplying(
                f"{halt.describe()}; this command was not applied (if it reached the log, it "
                "is applied when the partition resumes)"
            )
            waiter.set()
        self._wake_ticker.set()
        for hook in self.on_halted:
            hook(halt)
        return self._halted_error()

    def _halted_error(self) -> PartitionHalted:
        assert self.halted is not None
        return PartitionHalted(f"{self.halted.describe()}; the partition applies nothing more")

    # --- snapshots --------------------------------------------------------------------------

    def _snapshot_due(self) -> bool:
        if self.applied_index == 0:
            return False
        if self._since_snapshot >= self.snapshot_every:
            return True
        return self._since_snapshot > 0 and (
            trio.current_time() - self._last_snapshot_at >= self.snapshot_period
        )

    async def _background_snapshot(self) -> None:
        if self.halted is not None:  # halted before this task ran: nothing to snapshot
            self._snapshotting = False
            return
        await self.take_snapshot()

    async def take_snapshot(self) -> None:
        """Snapshot the state at the last applied entry (Raft then compacts behind it); refused
        with PartitionHalted once halted: an inconsistent state must not become a snapshot.

        The state is frozen before the first checkpoint; records applied while it is written
        belong to the next snapshot. A snapshot restored meanwhile (the leader sent a newer
        one) voids this one."""
        try:
            if self.halted is not None:
                raise self._halted_error()
            started = trio.current_time()
            index, term, restores = self.applied_index, self.applied_term, self._restores
            self._since_snapshot = 0
            self._last_snapshot_at = started
            try:
                body = await produce_snapshot(self.machine)
            except Exception as exc:
                self._halt(-1, index, exc)
                return
            if self.halted is not None or self._restores != restores:
                return
            await self.driver.take_snapshot(index, term, body)
            done = trio.current_time()
            if self._observe_snapshot is not None:
                self._observe_snapshot(done - started)
            log.debug("partition %d: snapshot at %d", self.partition, index)
        finally:
            self._snapshotting = False

    # --- leader duties ----------------------------------------------------------------------

    async def _watch_roles(self) -> None:
        roles = self.driver.watch_roles()
        async with roles:
            async for soft in roles:
                if soft.role is not Role.LEADER or soft.term != self.serving_term:
                    # Answers still pending will never come from here: fail them now rather
                    # than at the client's timeout (Zeebe #42720).
                    pending, self._pending = self._pending, {}
                    self._deferred.clear()
                    self._deferred_at.clear()
                    for request_id, waiter in pending.items():
                        self._results[request_id] = LeadershipLost(
                            f"partition {self.partition}: leadership lost before processing"
                        )
                        waiter.set()
                self._wake_ticker.set()

    async def _ticker(self, machine: TimeDriven) -> None:
        """Leader only: append a time record when the machine's next deadline has passed."""
        while self.halted is None:
            self._wake_ticker = trio.Event()
            try:
                deadline = machine.next_deadline() if self.serving else None
            except Exception as exc:
                self._halt(-1, self.applied_index, exc)
                return
            if deadline is None:
                await self._wake_ticker.wait()
                continue
            now = self.clock()
            if deadline > now:
                with trio.move_on_after(deadline - now):
                    await self._wake_ticker.wait()
                continue
            try:
                term = self._check_serving()
                rid = self._request_id(term)
                (result,) = await self._propose([rid], [envelope.time_record(rid, now)])
            except NotLeader:
                continue
            if isinstance(result, LeadershipLost):
                continue
            try:
                stuck = isinstance(result, Exception) or machine.next_deadline() == deadline
            except Exception as exc:
                self._halt(-1, self.applied_index, exc)
                return
            if stuck:
                # Refused (back-pressure, a leadership transfer) or a machine whose deadline
                # did not move: try again later rather than spin.
                await trio.sleep(_STUCK_TICK_PAUSE)


async def restore_snapshot(
    machine: StateMachine, data: bytes, going_on: Callable[[], bool] = lambda: True
) -> bool:
    """Restore ``machine`` from ``data``. A :class:`RestoresInPieces` machine is restored piece
    by piece with a checkpoint after each piece, so other tasks run in between (the machine is
    unchanged until its last piece, and no record is applied meanwhile: the apply loop is
    here); it stops, leaving the machine as it was, once ``going_on()`` is false, and then
    returns False. Any other machine's ``restore()`` runs in one go. Raises what the machine
    raises (ValueError: not a snapshot; the machine is unchanged)."""
    if not isinstance(machine, RestoresInPieces):
        machine.restore(data)
        return True
    pieces = machine.restore_pieces(data)
    with contextlib.closing(pieces):
        for _ in pieces:
            await trio.lowlevel.checkpoint()
            if not going_on():
                return False
    return True


async def produce_snapshot(machine: StateMachine) -> list[bytes]:
    """``machine``'s snapshot bytes as of the call, in pieces (their concatenation is the
    snapshot). A :class:`SnapshotsInPieces` machine is frozen at once and serialized piece by
    piece with a checkpoint after each piece, so other tasks (and the machine's own apply loop)
    run in between; any other machine's ``snapshot()`` runs in one go."""
    if not isinstance(machine, SnapshotsInPieces):
        return [machine.snapshot()]
    # No checkpoint between the view and the first piece: once started, the pieces' generator
    # is closed (which lets the machine release the view) however this task ends.
    pieces = machine.snapshot_chunks(machine.snapshot_view())
    with contextlib.closing(pieces):
        body = [next(pieces, b"")]
        for piece in pieces:
            await trio.lowlevel.checkpoint()
            body.append(piece)
    await trio.lowlevel.checkpoint()
    return body
