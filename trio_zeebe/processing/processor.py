"""The stream processor of one partition: committed records in, state machine out.

Every replica applies the same committed records in the same order to its state machine, so a
follower's state is hot and a new leader only has to finish its backlog before it serves. Only
the leader takes commands: :meth:`PartitionProcessor.submit` wraps the command with a request id
and the leader's wall-clock stamp, proposes it through Raft and returns the state machine's
answer once the record is committed *and* applied — nothing is acknowledged before it is
durable on a quorum.

Time-driven work (a job's deadline passing) enters the log as a command the leader appends when
the state machine's next deadline arrives, so replay anywhere yields the same state. Snapshots
are taken by entry count and by time; Raft then compacts the log behind them.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import trio

from .. import codec
from ..engine.statemachine import StateMachine
from ..raft.applied import Applied, Committed, LeadershipLost, Restore
from ..raft.config import NotLeader, Role
from ..raft.driver import RaftDriver

log = logging.getLogger("trio_zeebe.processing")

OFFSET_BITS = 16  # a log entry holds fewer than 65536 records (max_batch_bytes bounds it)


def position_of(index: int, offset: int) -> int:
    return (index << OFFSET_BITS) | offset


class NotServing(NotLeader):
    """This replica leads but is still applying its backlog; retry shortly."""


class _Waiter:
    """The commands of one submit: done when each has its answer (or error)."""

    __slots__ = ("done", "left")

    def __init__(self, count: int) -> None:
        self.left = count
        self.done = trio.Event()

    def set(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.set()


class PartitionProcessor:
    def __init__(
        self,
        driver: RaftDriver,
        machine: StateMachine,
        *,
        clock: Callable[[], float],
        snapshot_every: int = 10_000,
        snapshot_period: float = 300.0,
    ) -> None:
        self.driver = driver
        self.machine = machine
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.snapshot_period = snapshot_period
        self.partition = driver.partition
        self.applied_index = 0
        self.applied_term = 0
        self.applied_records = 0
        self.serving_term = -1  # the term in which this replica (as leader) caught up
        self._channel = driver.committed_entries()
        self._pending: dict[int, _Waiter] = {}
        self._results: dict[int, bytes | Exception] = {}
        self._ids = itertools.count(1)
        self._since_snapshot = 0
        self._last_snapshot_at = -math.inf
        self._wake_ticker = trio.Event()
        self._answer_unlogged: Callable[[bytes], bytes | None] | None = getattr(
            machine, "answer_unlogged", None
        )
        self.on_applied: list[Callable[[], None]] = []  # e.g. wake long-polling activations

    @property
    def serving(self) -> bool:
        soft = self.driver.soft_state
        return soft.role is Role.LEADER and soft.term == self.serving_term

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._last_snapshot_at = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_roles)
            if hasattr(self.machine, "next_deadline") and hasattr(self.machine, "tick_command"):
                nursery.start_soon(self._ticker)
            task_status.started()
            await self._apply_loop()

    async def submit(self, command: bytes) -> bytes:
        """Replicate ``command``; the state machine's answer once committed and applied.

        Raises NotLeader (with the known leader), NotServing (leader still catching up),
        ProposalDropped/Backpressure, or LeadershipLost (the outcome is unknown).
        """
        (result,) = await self.submit_many([command])
        if isinstance(result, Exception):
            raise result
        return result

    async def submit_many(self, commands: Sequence[bytes]) -> list[bytes | Exception]:
        """:meth:`submit` for commands that arrived together: each one's answer or error.

        NotLeader and NotServing, which refuse the whole call, are raised.
        """
        soft = self.driver.soft_state
        if soft.role is not Role.LEADER:
            raise NotLeader(soft.leader)
        if soft.term != self.serving_term:
            raise NotServing(self.driver.node_id)
        answers: list[bytes | Exception | None]
        if self._answer_unlogged is None:
            answers = [None] * len(commands)
        else:
            answers = [self._answer_unlogged(command) for command in commands]
        logged = [i for i, answer in enumerate(answers) if answer is None]
        if not logged:
            return answers  # type: ignore[return-value]
        waiter = _Waiter(len(logged))
        stamp = self.clock()
        ids = []
        records = []
        for i in logged:
            request_id = (soft.term << 32) | next(self._ids)
            self._pending[request_id] = waiter
            ids.append(request_id)
            records.append(codec.packb([request_id, stamp, commands[i]]))
        results = self._results
        try:
            outcomes = await self.driver.propose_many(records)
            for request_id, outcome in zip(ids, outcomes, strict=True):
                # Refused or lost before commit: no answer will come from applying it.
                if isinstance(outcome, Exception) and request_id in self._pending:
                    del self._pending[request_id]
                    results[request_id] = outcome
                    waiter.set()
            await waiter.done.wait()
            for i, request_id in zip(logged, ids, strict=True):
                answers[i] = results.pop(request_id)
            return answers  # type: ignore[return-value]
        finally:
            for request_id in ids:
                self._pending.pop(request_id, None)
                results.pop(request_id, None)

    async def _apply_loop(self) -> None:
        async for item in self._channel:
            self._apply(item)
            if self._snapshot_due():
                await self.take_snapshot()

    def _apply(self, item: Applied) -> None:
        if isinstance(item, Restore):
            self.machine.restore(self.driver.snapshots.load(item.snapshot))
            self.applied_index, self.applied_term = item.snapshot.index, item.snapshot.term
            self._since_snapshot = 0
            return
        assert isinstance(item, Committed)
        if item.noop:
            # A leader's own no-op of its term is applied: everything before it is too.
            soft = self.driver.soft_state
            if soft.role is Role.LEADER and soft.term == item.term:
                self.serving_term = item.term
                log.info(
                    "partition %d: leader caught up, serving in term %d", self.partition, item.term
                )
        for offset, record in enumerate(item.records):
            try:
                request_id, stamp, command = codec.unpackb(record)
            except (codec.DecodeError, TypeError, ValueError):
                log.error(
                    "partition %d: skipping malformed record at %d/%d",
                    self.partition,
                    item.index,
                    offset,
                )
                continue
            result = self.machine.apply(command, position_of(item.index, offset), stamp)
            self.applied_records += 1
            waiter = self._pending.pop(request_id, None)
            if waiter is not None:
                self._results[request_id] = result
                waiter.set()
        self.applied_index, self.applied_term = item.index, item.term
        self._since_snapshot += 1
        self._wake_ticker.set()
        for hook in self.on_applied:
            hook()

    def _snapshot_due(self) -> bool:
        if self.applied_index == 0:
            return False
        if self._since_snapshot >= self.snapshot_every:
            return True
        return self._since_snapshot > 0 and (
            trio.current_time() - self._last_snapshot_at >= self.snapshot_period
        )

    async def take_snapshot(self) -> None:
        body = self.machine.snapshot()
        await self.driver.take_snapshot(self.applied_index, self.applied_term, body)
        self._since_snapshot = 0
        self._last_snapshot_at = trio.current_time()
        log.debug("partition %d: snapshot at %d", self.partition, self.applied_index)

    async def _watch_roles(self) -> None:
        roles = self.driver.watch_roles()
        async with roles:
            async for soft in roles:
                if soft.role is not Role.LEADER or soft.term != self.serving_term:
                    # Answers still pending will never come from here: fail them now rather
                    # than at the client's timeout (Zeebe #42720).
                    pending, self._pending = self._pending, {}
                    for request_id, waiter in pending.items():
                        self._results[request_id] = LeadershipLost(
                            f"partition {self.partition}: leadership lost before processing"
                        )
                        waiter.set()
                self._wake_ticker.set()

    async def _ticker(self) -> None:
        """Leader only: append the state machine's time command when a deadline arrives."""
        machine: Any = self.machine
        while True:
            self._wake_ticker = trio.Event()
            deadline = machine.next_deadline() if self.serving else None
            if deadline is None:
                await self._wake_ticker.wait()
                continue
            delay = deadline - self.clock()
            if delay > 0:
                with trio.move_on_after(delay):
                    await self._wake_ticker.wait()
                continue
            try:
                await self.submit(machine.tick_command(self.clock()))
            except (NotLeader, LeadershipLost):
                pass
            except Exception:  # a refused tick is retried at the next deadline check
                log.exception("partition %d: time tick failed", self.partition)
                await trio.sleep(1.0)
