"""What a partition's leader does beyond answering: the side effects of applied records.

Every replica applies every record, but only the serving leader acts on what the state machine
asks for outside the log (DESIGN.md §2 "side effects"):

* **inter-partition sends** (:class:`OutboxSender`): a machine with the
  :class:`~trio_zeebe.engine.statemachine.InterPartition` capability keeps its reliable sends in
  its state (:meth:`~trio_zeebe.engine.statemachine.InterPartition.outbox`); the leader sends
  each to the leader of its target partition after commit and re-sends the ones still
  unacknowledged with a back-off of 1 s doubling to 60 s. Fire-and-forget messages
  (``take_messages``: acknowledgements) are sent once. The transport is a :class:`Messenger`
  (the broker's is :class:`trio_zeebe.partitions.messenger.PartitionMessenger`).
* **jobs-available notices** (:class:`JobNotices`): a machine that reports the job types that got
  activatable work, so long-polling activations (and job push streams) wake up at once.

Deferred answers (CreateProcessInstanceWithResult) are the processor's own business: they
answer a request it holds (see :class:`~.processor.PartitionProcessor`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import trio

from ..engine.statemachine import PendingSend

log = logging.getLogger("trio_zeebe.processing.sideeffects")

RESEND_INITIAL = 1.0
RESEND_MAX = 60.0
SEND_TIMEOUT = 5.0


@runtime_checkable
class JobNotices(Protocol):
    """A state machine whose jobs can be waited for (the process engine)."""

    def take_newly_activatable(self) -> set[str]:
        """Job types that gained an activatable job since the last call (a hint, not state)."""
        ...


class Messenger(Protocol):
    """Delivers a payload to the leader of another partition, which logs it as an INTER record.

    Returns True when that leader accepted it (proposed it to its log), False when it could not
    be delivered (no leader known, not the leader, unreachable): the sender tries again later.
    """

    async def deliver(self, partition: int, payload: bytes) -> bool: ...


class _Tracked:
    __slots__ = ("backoff", "due")

    def __init__(self, due: float, backoff: float) -> None:
        self.due = due
        self.backoff = backoff


class OutboxSender:
    """The leader's re-sender of one partition's pending inter-partition sends.

    ``wake()`` after every applied entry; :meth:`run` sends what is new at once and re-sends
    what stays unacknowledged on its back-off schedule. Leadership changes reset the schedule:
    a new leader sends everything pending at once (the receivers are idempotent).
    """

    def __init__(self, partition: int, messenger: Messenger) -> None:
        self.partition = partition
        self.messenger = messenger
        self.sent = 0
        self.resent = 0
        self._tracked: dict[int, _Tracked] = {}
        self._messages: list[tuple[int, bytes]] = []
        self._wake = trio.Event()
        self._term = -1

    def wake(self) -> None:
        self._wake.set()

    def queue_messages(self, messages: list[tuple[int, bytes]]) -> None:
        """Fire-and-forget messages produced by the records applied (sent once)."""
        if messages:
            self._messages.extend(messages)
            self._wake.set()

    def drop_messages(self) -> None:
        """Not the serving leader: what followers produce is not theirs to send."""
        self._messages.clear()

    async def run(
        self,
        outbox: _Outbox,
        serving_term: _ServingTerm,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                # Reset before looking, so a wake-up while working is not lost.
                self._wake = trio.Event()
                term = serving_term()
                if term is None:
                    self._tracked.clear()
                    self._messages.clear()
                    await self._wait(None)
                    continue
                if term != self._term:
                    self._term = term
                    self._tracked.clear()
                now = trio.current_time()
                messages, self._messages = self._messages, []
                for target, payload in messages:
                    nursery.start_soon(self._deliver, target, payload)
                try:
                    pending = outbox()
                except Exception:
                    log.exception("partition %d: outbox() failed", self.partition)
                    pending = ()
                self._schedule(pending, now, nursery)
                due = min((t.due for t in self._tracked.values()), default=None)
                await self._wait(due)

    def _schedule(self, pending: Sequence[PendingSend], now: float, nursery: trio.Nursery) -> None:
        alive = set()
        for send in pending:
            alive.add(send.send_id)
            tracked = self._tracked.get(send.send_id)
            if tracked is None:
                self._tracked[send.send_id] = _Tracked(now + RESEND_INITIAL, RESEND_INITIAL)
                self.sent += 1
            elif tracked.due <= now:
                tracked.backoff = min(RESEND_MAX, tracked.backoff * 2)
                tracked.due = now + tracked.backoff
                self.resent += 1
            else:
                continue
            nursery.start_soon(self._deliver, send.target, send.payload)
        for send_id in [s for s in self._tracked if s not in alive]:
            del self._tracked[send_id]  # acknowledged

    async def _deliver(self, target: int, payload: bytes) -> None:
        with trio.move_on_after(SEND_TIMEOUT):
            try:
                await self.messenger.deliver(target, payload)
            except Exception:  # a transport bug must not take the partition down
                log.exception(
                    "partition %d: sending to partition %d failed", self.partition, target
                )

    async def _wait(self, due: float | None) -> None:
        if due is None:
            await self._wake.wait()
            return
        with trio.move_on_at(due):
            await self._wake.wait()


class _Outbox(Protocol):
    def __call__(self) -> Sequence[PendingSend]: ...


class _ServingTerm(Protocol):
    def __call__(self) -> int | None: ...
