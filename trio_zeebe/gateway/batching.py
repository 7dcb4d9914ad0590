"""Forwarding commands to leaders' brokers, many per request.

A gateway forwards most commands: two thirds of them with three brokers. Requests reach it one
by one, but the commands bound for the same broker that are waiting at the same moment (those
read from the clients in one scheduler round) go in one :class:`~.forward.ForwardCommands`
request, answered by one :class:`~.forward.ForwardReplies`; the leader proposes each
partition's share together. Nothing waits for a batch to fill: a broker's sender task takes
whatever is queued each time it runs, and several batches may be in flight to one broker.

A command submitted ``alone`` travels in a request of its own: its answer may take long (a
CreateProcessInstanceWithResult waits for the instance to complete) and must not hold up the
answers of the commands it would share a request with.
"""

from __future__ import annotations

import logging

import trio

from ..transport.api import Network, RequestTimeout, TransportError
from .forward import ForwardCommands, ForwardReplies, ForwardReply
from .tasks import CallTasks

log = logging.getLogger("trio_zeebe.gateway.batching")

MAX_BATCH = 512  # commands per request; more go in the next one
MAX_BATCH_BYTES = 1024 * 1024  # well below network.max_message_size; a larger command goes alone


class PendingForward:
    """One forwarded command on its way: wait for its answer in steps, then read it."""

    __slots__ = ("address", "alone", "command", "done", "error", "partition", "reply", "timeout")

    def __init__(
        self, address: str, partition: int, command: bytes, timeout: float, alone: bool = False
    ) -> None:
        self.alone = alone
        self.address = address
        self.partition = partition
        self.command = command
        self.timeout = timeout
        self.reply: ForwardReply | None = None
        self.error: TransportError | None = None
        self.done = trio.Event()

    async def wait(self, until: float) -> bool:
        """Wait for the answer until trio time ``until``; whether it has come."""
        with trio.move_on_at(until):
            await self.done.wait()
        return self.done.is_set()

    def outcome(self) -> ForwardReply:
        """The leader's reply; TransportError (NotSent: provably not delivered) otherwise."""
        if self.reply is not None:
            return self.reply
        if self.error is not None:
            raise self.error
        raise RequestTimeout(f"no answer from {self.address} within {self.timeout:g}s")


class _Destination:
    __slots__ = ("queue", "wake")

    def __init__(self) -> None:
        self.queue: list[PendingForward] = []
        self.wake = trio.Event()


class ForwardBatcher:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.batches = 0
        self.forwarded = 0
        self._destinations: dict[str, _Destination] = {}
        self._tasks = CallTasks()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._tasks.run(task_status=task_status)

    async def forward(
        self,
        address: str,
        partition: int,
        command: bytes,
        timeout: float,  # noqa: ASYNC109
    ) -> ForwardReply:
        """The leader's reply; TransportError (NotSent: provably not delivered) otherwise."""
        item = self.submit(address, partition, command, timeout)
        await item.wait(trio.current_time() + timeout)
        return item.outcome()

    def submit(
        self,
        address: str,
        partition: int,
        command: bytes,
        timeout: float,
        *,
        alone: bool = False,
    ) -> PendingForward:
        """Queue a command for the broker at ``address``; the transport gives up after
        ``timeout``. The caller waits on the returned handle (and may stop waiting earlier)."""
        destination = self._destinations.get(address)
        if destination is None:
            if self._tasks.nursery is None:
                raise RuntimeError("ForwardBatcher.run is not running")
            destination = self._destinations[address] = _Destination()
            self._tasks.nursery.start_soon(self._sender, address, destination)
        item = PendingForward(address, partition, command, timeout, alone)
        if alone:
            assert self._tasks.nursery is not None
            self.batches += 1
            self.forwarded += 1
            self._tasks.nursery.start_soon(self._exchange, address, [item])
            return item
        destination.queue.append(item)
        destination.wake.set()
        return item

    async def _sender(self, address: str, destination: _Destination) -> None:
        assert self._tasks.nursery is not None
        while True:
            await destination.wake.wait()
            destination.wake = trio.Event()
            queue = destination.queue
            while queue:
                end, size = 1, len(queue[0].command)
                while end < len(queue) and end < MAX_BATCH:
                    size += len(queue[end].command)
                    if size > MAX_BATCH_BYTES:
                        break
                    end += 1
                batch = queue[:end]
                del queue[:end]
                self.batches += 1
                self.forwarded += len(batch)
                self._tasks.nursery.start_soon(self._exchange, address, batch)

    async def _exchange(self, address: str, batch: list[PendingForward]) -> None:
        timeout = max(item.timeout for item in batch)
        # The leader stops waiting a little before the transport does, so its TIMEOUT reply
        # (rather than no reply at all) reaches this side.
        request = ForwardCommands(
            tuple((item.partition, item.command) for item in batch), max(0.0, timeout - 0.1)
        )
        try:
            answer = await self.network.request(address, request, timeout=timeout)
        except TransportError as exc:
            for item in batch:
                item.error = exc
                item.done.set()
            return
        if not isinstance(answer, ForwardReplies) or len(answer.replies) != len(batch):
            log.warning("%s answered a forward with %s", address, type(answer).__name__)
            error = TransportError(f"{address} answered {type(answer).__name__}")
            for item in batch:
                item.error = error
                item.done.set()
            return
        for item, reply in zip(batch, answer.replies, strict=True):
            item.reply = reply
            item.done.set()
