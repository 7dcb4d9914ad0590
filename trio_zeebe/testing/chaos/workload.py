"""The chaos workload: several clients, each through its own first gateway, running operations.

The workload is generic; what it runs comes from *parts* (:class:`Part`): the job part
(:mod:`.jobs`) and the process part (:mod:`.processes`: instances, their jobs, messages). A part
has a ``setup`` step run once before the load (deployments), offers weighted operations, each
one step of client work that records every request it makes through :meth:`ClientContext.call`
(one history line with its outcome), and a ``verify`` step run once the faults have healed
(final inspection requests, recorded the same way). Each part brings its own invariants for the
checker (``check``) and the figures it adds to the summary line (``stats``). Adding an
operation kind means adding a part or an operation to one; nothing here changes.

Stopping is graceful: each loop finishes the operation it is in, so no request goes unrecorded;
one still running when the grace period ends is cancelled and recorded as ``unknown``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import attrs
import trio

from ...client import Client
from .history import History, Op, Outcome, Recorded, Violation, classify, describe

T = TypeVar("T")

PACE = (0.005, 0.05)  # seconds between two operations of one loop: a modest, steady load
STOP_GRACE = 20.0
VERIFY_CONCURRENCY = 16


class Operation(Protocol):
    name: str
    weight: float

    async def __call__(self, ctx: ClientContext) -> None: ...


class Part(Protocol):
    """A family of operations with its final inspection and its invariants."""

    name: str

    def operations(self) -> Sequence[Operation]: ...

    async def setup(self, ctx: ClientContext) -> None:
        """Before the load, while the cluster is up and no fault is planned yet."""

    async def verify(self, contexts: Sequence[ClientContext]) -> None:
        """After the faults healed and the load stopped: inspect what the history claims."""

    def check(self, recorded: Recorded) -> list[Violation]:
        """The part's invariants over a whole history (a pure function of it)."""
        ...

    def stats(self, recorded: Recorded) -> dict[str, int]:
        """Figures for the summary line (e.g. instances completed), from the history alone."""
        ...


@attrs.define
class ClientContext:
    """One workload client: its name (the worker name too), client, history and randomness."""

    name: str
    client: Client
    history: History
    rng: random.Random
    _ids: itertools.count[int] = attrs.field(factory=itertools.count)

    def new_id(self) -> str:
        return f"{self.name}-{next(self._ids)}"

    async def call(
        self,
        kind: str,
        args: dict[str, Any],
        request: Callable[[], Awaitable[T]],
        *,
        result: Callable[[Any], Any] | None = None,
        keyed: bool = False,
        op_id: str | None = None,
    ) -> tuple[Outcome, T | None, BaseException | None]:
        """Make one request and record it; ``result`` turns the answer into its history form.

        ``op_id`` names the request in the history (default: a new id of this context).
        """
        history = self.history
        start = history.now()
        failovers = self.client.failovers
        op_id = op_id or self.new_id()
        try:
            answer = await request()
        except BaseException as exc:
            resent = self.client.failovers != failovers
            if isinstance(exc, Exception):
                outcome = classify(exc, resent=resent, keyed=keyed)
            else:  # cancelled (the run is stopping) or interrupted: it may have been applied
                outcome = Outcome.UNKNOWN
            history.op(
                Op(op_id, self.name, kind, start, history.now(), outcome, args, None, describe(exc))
            )
            if not isinstance(exc, Exception):
                raise
            return outcome, None, exc
        history.op(
            Op(
                op_id,
                self.name,
                kind,
                start,
                history.now(),
                Outcome.OK,
                args,
                answer if result is None else result(answer),
            )
        )
        return Outcome.OK, answer, None


async def share_out(
    contexts: Sequence[ClientContext],
    keys: Iterable[int],
    inspect: Callable[[ClientContext, list[int]], Awaitable[None]],
) -> None:
    """A part's final inspection: ``keys`` in order, dealt out to ``contexts`` in turn, each
    context working through its share at the same time as the others."""
    ordered = sorted(keys)
    async with trio.open_nursery() as nursery:
        for i, ctx in enumerate(contexts):
            nursery.start_soon(inspect, ctx, ordered[i :: len(contexts)])


class Workload:
    """``clients`` clients over ``gateways`` (client i tries gateway ``i % n`` first), each
    running ``loops`` concurrent operation loops over the parts' operations."""

    def __init__(
        self,
        parts: Sequence[Part],
        history: History,
        make_client: Callable[[int], Client],
        *,
        clients: int,
        loops: int,
        seed: int,
    ) -> None:
        self.parts = list(parts)
        self.history = history
        self.make_client = make_client
        self.clients = clients
        self.loops = loops
        self.seed = seed
        self.operations = [op for part in self.parts for op in part.operations()]
        self._stopping = trio.Event()

    def stop(self) -> None:
        """Ask every loop to end after its current operation."""
        self._stopping.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Every part's setup, then the load until :meth:`stop` (then at most ``STOP_GRACE``
        seconds more); started once the setup is done."""
        async with self.make_client(0) as client:
            ctx = ClientContext("setup", client, self.history, random.Random(self.seed))
            for part in self.parts:
                await part.setup(ctx)
        async with trio.open_nursery() as nursery:
            for c in range(self.clients):
                nursery.start_soon(self._client, c)
            task_status.started()
            await self._stopping.wait()
            nursery.cancel_scope.deadline = trio.current_time() + STOP_GRACE

    async def _client(self, c: int) -> None:
        async with self.make_client(c) as client, trio.open_nursery() as nursery:
            for loop in range(self.loops):
                ctx = ClientContext(
                    f"c{c}l{loop}", client, self.history, random.Random(f"{self.seed}-{c}-{loop}")
                )
                nursery.start_soon(self._loop, ctx)

    async def _loop(self, ctx: ClientContext) -> None:
        weights = [op.weight for op in self.operations]
        while not self._stopping.is_set():
            op = ctx.rng.choices(self.operations, weights=weights)[0]
            await op(ctx)
            await trio.sleep(ctx.rng.uniform(*PACE))

    async def verify(self) -> None:
        """Every part's final inspection, ``VERIFY_CONCURRENCY`` requests at a time."""
        async with self.make_client(0) as client:
            contexts = [
                ClientContext(f"verify{i}", client, self.history, random.Random(i))
                for i in range(VERIFY_CONCURRENCY)
            ]
            for part in self.parts:
                await part.verify(contexts)
