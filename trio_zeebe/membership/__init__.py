"""Cluster membership: a sans-IO SWIM + Lifeguard core (``core``) and its trio driver."""

from trio_zeebe.membership.config import SwimConfig
from trio_zeebe.membership.core import SwimCore
from trio_zeebe.membership.events import (
    Event,
    MemberAdded,
    MemberAlive,
    MemberRemoved,
    MemberSuspect,
    Outputs,
    PropertiesChanged,
    Send,
)
from trio_zeebe.membership.messages import Member, State, Update

__all__ = [
    "Event",
    "Member",
    "MemberAdded",
    "MemberAlive",
    "MemberRemoved",
    "MemberSuspect",
    "Outputs",
    "PropertiesChanged",
    "Send",
    "State",
    "SwimConfig",
    "SwimCore",
    "Update",
]
