"""Reliable inter-partition sends for messages and signals, applied exactly once.

A command for another partition becomes a pending send of the engine's outbox (the leader
sends it after commit and re-sends it until acknowledged, see
:class:`~trio_zeebe.engine.statemachine.InterPartition`), wrapped in an :class:`Envelope` that
numbers the sends per (sender, receiver) link. The receiver acknowledges every copy that
arrives (fire and forget: a lost acknowledgement makes the sender re-send) and applies a
sequence number only once, whatever the network duplicates, delays or reorders: it remembers,
per sending partition, up to which number everything arrived and which numbers above that did
(bounded by what is in flight, as the sender re-sends every gap until it is filled).

A command for the partition itself takes the same handlers without the network: it becomes an
INTER_PARTITION follow-up step of that partition, processed in order with the others (as
Zeebe writes a command for its own partition to its own log).
"""

from __future__ import annotations

from typing import Any

import attrs

from .... import codec
from ....codec import wire
from ...statemachine import PendingSend
from ..deployment import Acknowledge
from ..state import EngineState
from ..values import Step, StepKind
from .state import Received

__all__ = ["Envelope", "Links"]


@wire("e.link")
@attrs.frozen
class Envelope:
    """A reliable send: ``body`` is the encoded command; ``seq`` numbers the sends from
    ``source`` to the receiver (1, 2, ...); the acknowledgement names ``send_id``."""

    send_id: int
    source: int
    seq: int
    body: bytes


def arrived(received: Received, seq: int) -> Received | None:
    """The link's record with ``seq`` added, or None if ``seq`` arrived before."""
    floor, above = received
    if seq <= floor or seq in above:
        return None
    higher = sorted((*above, seq))
    while higher and higher[0] == floor + 1:
        floor += 1
        higher.pop(0)
    return floor, tuple(higher)


class Links:
    def __init__(self, state: EngineState) -> None:
        self.state = state

    def send(self, target: int, command: Any) -> None:
        """Send a wire command to partition ``target`` (maybe this one)."""
        state = self.state
        if target == state.partition_id:
            tag, body = codec.to_wire(command)
            state.steps.append(Step(StepKind.INTER_PARTITION, target, tag, payload=body))
            return
        messaging = state.messaging
        seq = messaging.sequences.get(target, 0) + 1
        messaging.sequences[target] = seq
        send_id = state.next_key()
        envelope = Envelope(send_id, state.partition_id, seq, codec.encode(command))
        state.outbox[send_id] = PendingSend(send_id, target, codec.encode(envelope))

    def accept(self, envelope: Envelope) -> Any | None:
        """Acknowledge an arrived envelope; its command if it is new here, None for a copy of
        one applied before. Raises DecodeError for an envelope that cannot be one."""
        state = self.state
        source = envelope.source
        if not 1 <= source <= state.partition_count or source == state.partition_id:
            raise codec.DecodeError(f"an envelope from partition {source}")
        if envelope.seq < 1:
            raise codec.DecodeError(f"an envelope with sequence number {envelope.seq}")
        ack = Acknowledge(envelope.send_id, state.partition_id)
        state.messages.append((source, codec.encode(ack)))
        received = state.messaging.received
        updated = arrived(received.get(source, (0, ())), envelope.seq)
        if updated is None:
            return None
        received[source] = updated
        return codec.decode(envelope.body)

    @staticmethod
    def local_command(step: Step) -> Any:
        """The command an INTER_PARTITION step carries (DecodeError if it is none)."""
        return codec.from_wire([step.element_id, dict(step.payload or {})])

    @staticmethod
    def sent_command(payload: bytes) -> Any | None:
        """The command inside a pending send of this module (None for other sends)."""
        try:
            envelope = codec.decode(payload)
            if not isinstance(envelope, Envelope):
                return None
            return codec.decode(envelope.body)
        except codec.DecodeError:
            return None
