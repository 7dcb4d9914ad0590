"""The interface a partition's processor drives: apply committed records, snapshot, restore.

The built-in :class:`~trio_zeebe.engine.jobs.JobEngine` implements it; an embedding application
implements it to replicate its own state instead of, or beside, the job engine (see
:class:`~trio_zeebe.engine.kv.KVStore` for a small example).

Contract (what makes leader, followers and restored replicas agree byte for byte):

* **Deterministic.** The result and the new state depend only on the state and the arguments:
  no clock, no randomness, no I/O, no iteration over hash-ordered containers whose order could
  differ between processes. The same sequence of ``apply`` calls gives the same ``snapshot()``
  bytes, and ``restore(snapshot())`` followed by the same applies gives the same results.
* **Time comes from the log.** ``timestamp`` is the leader's wall clock (float Unix seconds),
  stamped into the record when it was appended. Anything that must happen "when time passes"
  is triggered by a record the leader appends (e.g. the job engine's ``TimeTick``).
* **Bad input is an answer, not an exception.** A committed record is applied on every replica;
  raising would stop them all. Undecodable or invalid commands return an encoded rejection.
* **Optional: answers that need no record.** A state machine may define
  ``answer_unlogged(command: bytes) -> bytes | None``: the leader calls it before proposing a
  command and, when it returns an answer, sends that instead of logging the command. Only for
  commands that would change nothing and whose answer does not depend on records still being
  committed (the job engine: an activation that finds no activatable job).
* ``position`` increases strictly from record to record (the processor derives it from the
  entry index and the record's offset in the entry). An implementation may ignore a record
  whose position is not above the last one it applied (a replay after restoring a snapshot).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable


@runtime_checkable
class StateMachine(Protocol):
    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        """Apply one committed record; return the encoded result for the waiting client (the
        processor sends it when this replica leads and drops it otherwise)."""
        ...

    def snapshot(self) -> bytes:
        """The whole state, canonically encoded (equal states give equal bytes)."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the state with a snapshot's; raise ValueError (leaving the state unchanged)
        if ``data`` is not a valid snapshot of this kind of state machine."""
        ...


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
