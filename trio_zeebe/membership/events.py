"""Membership events produced by the core (the driver fans them out to subscribers)."""

from __future__ import annotations

import attrs

from trio_zeebe.membership.messages import Member


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
