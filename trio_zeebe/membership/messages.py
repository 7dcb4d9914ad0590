"""Membership records and SWIM wire messages (tags ``m.*``).

Every message carries the sender's own :class:`Member` record as ``source``: a contact point
known only by address learns the joiner from its first message, and a reply goes to
``source.address``.  Dissemination rides on ``updates`` (newest, least-sent first).
"""

from __future__ import annotations

import enum

import attrs

from trio_zeebe.codec import register_structure_hook, wire
from trio_zeebe.transport.api import split_address


class State(enum.IntEnum):
    """Ordered by severity: at equal incarnation the higher value wins."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2

    @property
    def label(self) -> str:
        return self.name.lower()


def _structure_state(value: object, _type: object) -> State:
    # The shared converter passes IntEnums through unchecked; an unknown state is bad input.
    if type(value) is not int:
        raise ValueError(f"state must be an int, got {type(value).__name__}")
    return State(value)


register_structure_hook(State, _structure_state)


def _valid_address(_: object, __: object, address: str) -> None:
    # Checked on every record, gossiped ones included: a malformed address is no news to spread
    # (on the wire it makes the message undecodable, so the transport drops it with a count).
    split_address(address)


@attrs.frozen
class Member:
    """What one node says (or is said) about a member.

    ``incarnation`` orders records of one process instance; the member alone raises it (refuting
    a suspicion or publishing new properties).  ``instance_id`` is random per process, so a restart
    is noticed even if it happens before the old instance is declared dead.
    ``properties_version`` counts property changes of this instance (each also bumps the
    incarnation, which is what orders records); consumers can use it to skip unchanged maps.
    """

    node_id: int
    address: str = attrs.field(validator=_valid_address)
    incarnation: int
    state: State = State.ALIVE
    instance_id: int = 0
    properties_version: int = 0
    properties: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Update:
    """A record being disseminated; ``accuser`` is the node that first suspected it (or -1).

    Lifeguard counts distinct accusers as independent confirmations of a suspicion.
    """

    member: Member
    accuser: int = -1


@wire("m.ping")
@attrs.frozen
class Ping:
    """Direct probe; ``target_id`` is -1 when probing a contact point known only by address."""

    seq: int
    source: Member
    target_id: int
    updates: list[Update] = attrs.field(factory=list)


@wire("m.pingreq")
@attrs.frozen
class PingReq:
    """Ask the receiver to probe ``target`` and forward the Ack (or a Nack) under ``seq``."""

    seq: int
    source: Member
    target: Member
    updates: list[Update] = attrs.field(factory=list)


@wire("m.ack")
@attrs.frozen
class Ack:
    seq: int
    source: Member
    updates: list[Update] = attrs.field(factory=list)


@wire("m.nack")
@attrs.frozen
class Nack:
    """Lifeguard: a helper could not reach the target, but the requester can reach the helper."""

    seq: int
    source: Member


@wire("m.gossip")
@attrs.frozen
class Gossip:
    source: Member
    updates: list[Update] = attrs.field(factory=list)


@wire("m.sync")
@attrs.frozen
class Sync:
    """Anti-entropy push/pull: the sender's full list of live members (itself included)."""

    source: Member
    members: list[Member] = attrs.field(factory=list)


@wire("m.syncack")
@attrs.frozen
class SyncReply:
    source: Member
    members: list[Member] = attrs.field(factory=list)


Message = Ping | PingReq | Ack | Nack | Gossip | Sync | SyncReply
MESSAGE_TYPES: tuple[type, ...] = (Ping, PingReq, Ack, Nack, Gossip, Sync, SyncReply)
