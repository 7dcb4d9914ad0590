"""Cluster membership: a sans-IO SWIM + Lifeguard core (``core``) and its trio driver."""

from trio_zeebe.membership import events
from trio_zeebe.membership.config import SwimConfig
from trio_zeebe.membership.core import SwimCore
from trio_zeebe.membership.events import *  # noqa: F403 -- listed once in events.__all__
from trio_zeebe.membership.messages import Member, State, Update

__all__ = ["Member", "State", "SwimConfig", "SwimCore", "Update"]
__all__ += events.__all__
