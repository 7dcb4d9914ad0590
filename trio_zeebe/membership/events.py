"""What the core hands to its driver: messages to send and membership events."""

from __future__ import annotations

import attrs

from trio_zeebe.membership.messages import Member, Message

__all__ = [
    "Event",
    "MemberAdded",
    "MemberAlive",
    "MemberRemoved",
    "MemberSuspect",
    "Outputs",
    "PropertiesChanged",
    "Send",
]


@attrs.frozen
class MemberAdded:
    member: Member


@attrs.frozen
class MemberSuspect:
    member: Member


@attrs.frozen
class MemberAlive:
    """A suspected member refuted the suspicion (it is reachable again)."""

    member: Member


@attrs.frozen
class MemberRemoved:
    """Declared dead, left, or replaced by a new process instance (then MemberAdded follows)."""

    member: Member


@attrs.frozen
class PropertiesChanged:
    member: Member


Event = MemberAdded | MemberSuspect | MemberAlive | MemberRemoved | PropertiesChanged


@attrs.frozen
class Send:
    """Send ``message`` to the peer at ``address`` ("host:port"); loss is tolerated."""

    address: str
    message: Message


@attrs.frozen
class Outputs:
    sends: list[Send]
    events: list[Event]
