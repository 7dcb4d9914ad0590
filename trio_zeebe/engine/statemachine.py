"""The interface a partition's processor drives: apply committed records, snapshot, restore.

The process engine (:class:`~trio_zeebe.engine.engine.Engine`) implements it; an embedding
application implements it to replicate its own state instead of the process engine (see
:class:`~trio_zeebe.engine.kv.KVStore` for a small example).

Contract (what makes leader, followers and restored replicas agree byte for byte):

* **Deterministic.** The result and the new state depend only on the state and the arguments:
  no clock, no randomness, no I/O, no iteration over hash-ordered containers whose order could
  differ between processes. The same sequence of calls gives the same ``snapshot()`` bytes, and
  ``restore(snapshot())`` followed by the same calls gives the same results.
* **Commands are opaque bytes.** ``command`` is exactly what the client sent (a job command the
  gateway encoded, or one record of a raw append); the processor frames it in its own envelope
  (:mod:`trio_zeebe.processing.envelope`) and never lets a client's bytes stand for that framing.
* **Time comes only from the leader.** ``timestamp`` is the leader's wall clock (float Unix
  seconds, always finite), written by the leader's processor into the record's envelope when it
  was proposed. No command carries a time of its own that the machine should believe. Whatever
  must happen "when time passes" happens in :meth:`TimeDriven.tick`, called for the time records
  the leader appends when :meth:`TimeDriven.next_deadline` has passed.
* **Bad input is an answer, not an exception.** A committed record is applied on every replica,
  so whatever it holds, ``apply`` returns an encoded answer (a rejection for undecodable or
  invalid commands). A machine that raises anyway stops its partition on every replica: the
  processor reports the partition unhealthy with the record's position and the error, applies
  nothing more and takes no snapshot (its state may be inconsistent), while Raft goes on
  replicating, so nothing committed is lost; after a fix, a restart replays from the last
  snapshot.
* ``position`` increases strictly from record to record (the processor derives it from the
  entry index and the record's slot in the entry; a time record has a position too). An
  implementation may ignore a record whose position is not above the last one it applied (a
  replay after restoring a snapshot).

Optional capabilities are separate protocols; the processor checks for them once, with
``isinstance``, when it starts.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .runtime.trace import TraceListener


@runtime_checkable
class StateMachine(Protocol):
    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        """Apply one committed record; return the encoded result for the waiting client (the
        processor sends it when this replica leads and drops it otherwise). Never raises."""
        ...

    def snapshot(self) -> bytes:
        """The whole state, canonically encoded (equal states give equal bytes)."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the state with a snapshot's; raise ValueError (leaving the state unchanged)
        if ``data`` is not a valid snapshot of this kind of state machine."""
        ...


@runtime_checkable
class TimeDriven(Protocol):
    """A state machine with deadlines (job leases, back-offs, timers).

    The leader's processor watches :meth:`next_deadline`; once its own clock has passed it, it
    appends a time record, and every replica calls :meth:`tick` with that record's position and
    the leader's timestamp. Between ticks, time in the machine moves only with the timestamps of
    applied records.
    """

    def next_deadline(self) -> float | None:
        """The earliest deadline still pending (leader timestamp seconds); None: none."""
        ...

    def tick(self, position: int, timestamp: float) -> bytes:
        """Apply a leader time record: everything due by ``timestamp`` fires. Never raises."""
        ...


@runtime_checkable
class AnswersUnlogged(Protocol):
    """A state machine that can answer some commands without a record.

    The leader calls :meth:`answer_unlogged` before proposing a client command; when it returns
    an answer, the processor sends that instead of logging the command. Only for commands that
    would change nothing and whose answer does not depend on records still being committed (the
    process engine: an activation that finds no activatable job).
    """

    def answer_unlogged(self, command: bytes) -> bytes | None: ...


class PendingSend(NamedTuple):
    """A command for another partition that stays in the sender's state until the receiver
    acknowledges it: ``send_id`` names it in the acknowledgement, ``target`` is the partition
    id, ``payload`` the bytes to hand to that partition's :meth:`InterPartition.receive`."""

    send_id: int
    target: int
    payload: bytes


@runtime_checkable
class InterPartition(Protocol):
    """A state machine that talks to the same machine on other partitions.

    Reliable sends (deployment distribution, ...) are state: :meth:`outbox` lists those not yet
    acknowledged. The leader sends each to the target partition's leader after commit and
    re-sends it until the acknowledgement arrives (backing off); the receiver must be
    idempotent. Fire-and-forget messages (the acknowledgements themselves) are no state:
    :meth:`take_messages` hands over those produced by the records applied since the last call
    (a replica that does not lead drops them; a lost one makes the sender re-send).

    The processor records what arrives from another partition with an envelope kind no client
    can produce and applies it with :meth:`receive` on every replica.
    """

    def outbox(self) -> Sequence[PendingSend]:
        """The unacknowledged reliable sends, oldest first."""
        ...

    def take_messages(self) -> list[tuple[int, bytes]]:
        """(target partition, payload) messages to send once, produced since the last call."""
        ...

    def receive(self, payload: bytes, position: int, timestamp: float) -> bytes:
        """Apply a committed record that came from another partition. Never raises; the
        answer is for diagnostics only (nobody waits for it)."""
        ...


@runtime_checkable
class DeferredAnswers(Protocol):
    """A state machine that answers some commands later than the record that carried them
    (CreateProcessInstanceWithResult answers when the instance completes).

    ``apply`` returns a "deferred" answer for such a command; once the answer exists,
    :meth:`take_answers` hands it over with the position of the command it answers, so the
    leader's processor can answer the request if it still waits. Not state: a replica that does
    not lead drops them.
    """

    def take_answers(self) -> list[tuple[int, bytes]]:
        """(position of the original command, answer bytes) produced since the last call."""
        ...


@runtime_checkable
class Traced(Protocol):
    """A state machine that reports its events one by one (the process engine's trace).

    The listener only observes: whether one is set must not change what the machine does or
    answers (its results and snapshots are the same with and without). The processor sets one
    while its replica is the serving leader (metrics count where records are processed).
    """

    def set_trace(self, listener: TraceListener | None) -> None:
        """Call ``listener`` per event from now on (None: stop)."""
        ...


@runtime_checkable
class RestoresInPieces(Protocol):
    """A state machine whose restore of a big snapshot can run in pieces, so it does not stall
    the processor's thread: each ``next`` of the generator :meth:`restore_pieces` returns does
    a bounded amount of work, and other tasks run in between. The state is replaced when the
    generator finishes (by its last ``next``), exactly as ``restore(data)`` would replace it;
    until then the machine is unchanged (its ``apply``, ``snapshot`` and the rest see the state
    as before), and so it stays if the generator is closed early or raises ValueError for
    bytes that are not a valid snapshot.
    """

    def restore_pieces(self, data: bytes) -> Generator[None, None, None]: ...


@runtime_checkable
class SnapshotsInPieces(Protocol):
    """A state machine whose snapshot is taken in two steps, so a big state does not stall the
    processor's thread: :meth:`snapshot_view` freezes the state cheaply (no serialization),
    and :meth:`snapshot_chunks` serializes that view piece by piece while ``apply`` goes on
    changing the live state. The pieces joined are exactly what ``snapshot()`` would have
    returned at the moment of the view (equal states give equal bytes, on every replica).
    """

    def snapshot_view(self) -> Any:
        """The state as of now, unaffected by later ``apply`` calls."""
        ...

    def snapshot_chunks(self, view: Any) -> Generator[bytes, None, None]:
        """The snapshot bytes of ``view``, in pieces of bounded work each. The caller takes
        the first piece right after the view and closes the generator when done with it
        (finished or not): the machine may hold resources for the view until then."""
        ...
