"""The chaos run's history: every client request with its outcome, every fault, as JSON lines.

One line per record, flushed to disk every half second (so a run that dies keeps most of it):

* ``{"type": "meta", ...}``: the run's seed, cluster shape and replay command (first line);
* ``{"type": "op", "id", "client", "kind", "start", "end", "outcome", "args", "result",
  "error"}``: one client request. ``outcome`` is ``ok`` (acknowledged), ``refused`` (definitely
  not applied) or ``unknown`` (maybe applied);
* ``{"type": "event", "kind", "at", ...}``: a fault injected or healed, an observation
  (a broker reporting unhealthy, a broker process that exited on its own), the convergence
  result.

Times are seconds since the run started, on the runner's monotonic clock. The checker
(:mod:`.checker`) reads nothing but this file, so ``python -m trio_zeebe.testing.chaos check
HISTORY`` re-checks a saved run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import trio

from ...client import errors

FLUSH_INTERVAL = 0.5

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

K = TypeVar("K", bound="SupportsRichComparison")  # a group's key
V = TypeVar("V", bound="SupportsRichComparison")  # what a group holds


class Outcome(StrEnum):
    OK = "ok"  # acknowledged: applied
    REFUSED = "refused"  # definitely not applied
    UNKNOWN = "unknown"  # maybe applied


@attrs.frozen
class Op:
    """One client request as the checker sees it."""

    id: str
    client: str
    kind: str
    start: float
    end: float
    outcome: Outcome
    args: dict[str, Any]
    result: Any = None
    error: str = ""


@attrs.frozen
class Violation:
    """A broken invariant: ``rule`` names it, ``detail`` says where (keys, ops, brokers)."""

    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


@attrs.frozen
class Event:
    kind: str
    at: float
    fields: dict[str, Any] = attrs.field(factory=dict)


# Errors the client documents as "not applied": never sent, or refused before anything was
# proposed (invalid, back-pressure) or by the engine's rules (no such job, wrong state).
_REFUSED = (
    errors.GatewayUnreachable,
    errors.InvalidArgument,
    errors.ResourceExhausted,
    errors.NotFound,
    errors.InvalidState,
)
_ENGINE_REFUSALS = (errors.NotFound, errors.InvalidState)
_EARLIER_ATTEMPT = "may have been applied"  # the gateway's note on a refusal after a retry


def classify(exc: BaseException, *, resent: bool, keyed: bool = False) -> Outcome:
    """The outcome of a request that raised ``exc``.

    ``resent``: the client failed over while the request was out, so it may have sent it more
    than once, and the error answers the last copy only: an earlier one may have been applied
    (even a GatewayUnreachable then says only that the last copy went nowhere). Only an invalid
    request is refused by every copy alike. The gateway notes its own retries in the message.
    ``keyed``: a key-addressed command, which the gateway retries on its own; a back-pressure
    refusal may then follow an earlier attempt with an unknown outcome, and the gateway does
    not say so: unknown.
    """
    if resent:
        return Outcome.REFUSED if isinstance(exc, errors.InvalidArgument) else Outcome.UNKNOWN
    if isinstance(exc, _ENGINE_REFUSALS) and _EARLIER_ATTEMPT in str(exc):
        return Outcome.UNKNOWN
    if keyed and isinstance(exc, errors.ResourceExhausted):
        return Outcome.UNKNOWN
    if isinstance(exc, _REFUSED):
        return Outcome.REFUSED
    return Outcome.UNKNOWN


def inspections(ops: Sequence[Op]) -> dict[int, bool]:
    """The last answer of the final inspections among ``ops``, by the key inspected: True when
    the thing is there, False when it is gone.

    An inspection answers only OK (there) or NotFound (gone). A NotFound counts even when the
    gateway had retried after an attempt with an unknown outcome (the request is then recorded
    ``unknown``): an inspection (UpdateJobRetries, SetVariables) cannot remove what it asks
    about, so whatever that attempt did, the thing was gone. Any other failure, refused or
    unknown, answers nothing.
    """
    answers: dict[int, bool] = {}
    for op in ops:
        if op.outcome is Outcome.OK:
            answers[op.args["key"]] = True
        elif op.error.startswith(f"{errors.NotFound.__name__}:"):
            answers[op.args["key"]] = False
    return answers


def grouped(ops: Iterable[Op], by: Callable[[Op], K]) -> defaultdict[K, list[Op]]:
    """``ops`` by ``by(op)``, in their order (a missing group is an empty list)."""
    groups: defaultdict[K, list[Op]] = defaultdict(list)
    for op in ops:
        groups[by(op)].append(op)
    return groups


def repeated(
    groups: Mapping[K, Collection[V]], rule: str, detail: Callable[[K, list[V]], str]
) -> list[Violation]:
    """A ``rule`` violation for each group (in key order) holding more than one thing;
    ``detail`` says it from the key and the things, sorted."""
    return [
        Violation(rule, detail(key, sorted(things)))
        for key, things in sorted(groups.items())
        if len(things) > 1
    ]


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


class History:
    """Collects records in memory and appends them to ``path`` every ``FLUSH_INTERVAL``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.t0 = trio.current_time()
        self._pending: list[str] = []
        self.ops = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")

    def now(self) -> float:
        return round(trio.current_time() - self.t0, 4)

    def meta(self, **fields: Any) -> None:
        self._write({"type": "meta", **fields})

    def op(self, op: Op) -> None:
        self.ops += 1
        record = attrs.asdict(op, recurse=False)
        record["outcome"] = op.outcome.value
        self._write({"type": "op", **record})

    def event(self, kind: str, at: float | None = None, **fields: Any) -> Event:
        """Record an event ``at`` seconds into the run (default: now)."""
        event = Event(kind, self.now() if at is None else at, fields)
        self._write({"type": "event", "kind": kind, "at": event.at, **fields})
        return event

    def _write(self, record: dict[str, Any]) -> None:
        self._pending.append(json.dumps(record, sort_keys=True, default=repr))

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        if lines:
            with self.path.open("a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")

    async def run(self) -> None:
        """Flush every ``FLUSH_INTERVAL`` until cancelled (then once more)."""
        try:
            while True:
                await trio.sleep(FLUSH_INTERVAL)
                await trio.to_thread.run_sync(self.flush)
        finally:
            self.flush()


@attrs.frozen
class Recorded:
    """A history file read back."""

    meta: dict[str, Any]
    ops: list[Op]
    events: list[Event]


def read_history(path: Path) -> Recorded:
    meta: dict[str, Any] = {}
    ops: list[Op] = []
    events: list[Event] = []
    for record in _lines(path):
        kind = record.pop("type", None)
        if kind == "meta":
            meta.update(record)
        elif kind == "op":
            record["outcome"] = Outcome(record["outcome"])
            ops.append(Op(**record))
        elif kind == "event":
            events.append(Event(record.pop("kind"), record.pop("at"), record))
    return Recorded(meta, ops, events)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                # A run killed mid-write leaves a torn last line; anything else is an error.
                if not line.endswith("\n"):
                    return
                raise ValueError(f"{path}:{number}: not a JSON line") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: not a JSON object")
            yield record
