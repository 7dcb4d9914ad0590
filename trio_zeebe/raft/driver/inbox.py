"""The Raft driver's inbox: every input its loop steps into the core, whichever task sent it.

Two kinds of input arrive from other tasks:

* peers' messages (from the router): a bounded channel; when it is full a message is dropped
  and counted (Raft recovers from loss; a connection is never stalled);
* control inputs: :class:`Persisted` (the flusher's fsync covered the log up to a point;
  stepped before the others, as the core's durable index gates commits), and, in order of
  arrival,
  :class:`Campaign`, :class:`ForgetLeader`, :class:`TransferLeadership`,
  :class:`HandOverLeadership`, :class:`Compact` and :class:`SnapshotSent`. A control input
  may carry a :class:`Reply` its sender awaits.

The loop waits in :meth:`Inbox.wait` until a message arrives, something is put (``wake``) or
the core's deadline passes, then drains everything at once, so a burst becomes one Ready.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import attrs
import trio


@attrs.frozen
class Persisted:
    """The durable log now ends at ``index``, whose term is ``term``."""

    index: int
    term: int


@attrs.frozen
class Campaign:
    """Stand for election now."""


@attrs.frozen
class ForgetLeader:
    """Drop the leader lease, so this node votes at once."""


@attrs.frozen
class TransferLeadership:
    """Leader only: hand leadership to ``to``."""

    to: int


@attrs.frozen
class HandOverLeadership:
    """Leader only: hand leadership to the most up-to-date follower; replies with it (or None)."""


@attrs.frozen
class Compact:
    """A snapshot covers the log up to ``index``: compact behind it (keeping a tail)."""

    index: int


@attrs.frozen
class SnapshotSent:
    """The transfer of the snapshot to ``peer`` ended (``ok``: it was installed)."""

    peer: int
    ok: bool


Control = Campaign | ForgetLeader | TransferLeadership | HandOverLeadership | Compact | SnapshotSent


class Reply:
    """The outcome of one control input, for the task that sent it."""

    __slots__ = ("_done", "error", "value")

    def __init__(self) -> None:
        self._done = trio.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def set(self, value: Any) -> None:
        self.value = value
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._done.set()

    async def wait(self) -> Any:
        await self._done.wait()
        if self.error is not None:
            raise self.error
        return self.value


class Inbox:
    """Inputs for the driver's loop; :meth:`put` and friends never block (any task), the
    ``take``/``wait`` side is the loop's alone."""

    def __init__(self, size: int) -> None:
        self._send, self._receive = trio.open_memory_channel[Any](size)
        self.dropped = 0
        self._controls: deque[tuple[Control, Reply | None]] = deque()
        self._persisted: list[Persisted] = []
        self._open = False
        self._wake_pending = False
        self._wait_scope: trio.CancelScope | None = None

    # -- any task ------------------------------------------------------------------------

    def deliver(self, message: Any) -> None:
        try:
            self._send.send_nowait(message)
        except trio.WouldBlock:
            self.dropped += 1

    def put(self, control: Control) -> None:
        """Queue a control input (dropped when the loop is not running)."""
        if self._open:
            self._controls.append((control, None))
            self.wake()

    async def call(self, control: Control) -> Any:
        """Queue a control input and wait for the loop's reply (None if the loop is not
        running or stops first); re-raises what stepping it raised."""
        if not self._open:
            return None
        reply = Reply()
        self._controls.append((control, reply))
        self.wake()
        return await reply.wait()

    def persisted(self, points: list[Persisted]) -> None:
        self._persisted += points
        self.wake()

    def wake(self) -> None:
        """Make the loop run a round soon (at once if it is waiting)."""
        if self._wake_pending:
            return  # already woken: a second cancel would only cost time
        self._wake_pending = True
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    # -- the loop ------------------------------------------------------------------------

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        """The loop stopped: what it did not step is answered with None."""
        self._open = False
        while self._controls:
            _, reply = self._controls.popleft()
            if reply is not None:
                reply.set(None)

    async def wait(self, deadline: float) -> Any | None:
        """The first message, or None when woken or at ``deadline``."""
        message = None
        if not self._wake_pending:
            with trio.CancelScope(deadline=deadline if math.isfinite(deadline) else math.inf) as s:
                self._wait_scope = s
                message = await self._receive.receive()
            self._wait_scope = None
        self._wake_pending = False
        return message

    def messages(self) -> list[Any]:
        """The messages already waiting."""
        out = []
        receive = self._receive
        while True:
            try:
                out.append(receive.receive_nowait())
            except trio.WouldBlock:
                return out

    @property
    def has_controls(self) -> bool:
        return bool(self._persisted or self._controls)

    def take_controls(self) -> tuple[list[Persisted], list[tuple[Control, Reply | None]]]:
        """The persisted points and the other control inputs waiting, oldest first."""
        points, self._persisted = self._persisted, []
        controls = list(self._controls)
        self._controls.clear()
        return points, controls
