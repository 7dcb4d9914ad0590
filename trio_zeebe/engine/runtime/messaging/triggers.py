"""When a message or signal may trigger its catch event, and triggering it.

The event scope must be ACTIVATED and not already triggered by an interrupting event (an
event-based gateway by its first event); a scope an interrupting event subprocess took over
still lets its boundary events trigger (they end the scope with the subprocess), but no other
event subprocess. Triggering is :func:`~..events.trigger`, shared with errors and
escalations; an interrupting event subprocess then closes the other event subprocess
subscriptions of its scope, as Zeebe does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...bpmn import BpmnElementType, Element
from ..events import trigger
from ..values import ACTIVATED, Instance

if TYPE_CHECKING:
    from ..machine import Machine
    from .links import Links

__all__ = ["CatchHandler", "Fire", "Triggers", "can_fire"]

_T = BpmnElementType


def can_fire(scope: Instance, catch: Element) -> bool:
    if scope.state != ACTIVATED or scope.trigger is not None:
        return False
    return not scope.interrupted_by or catch.element_type is _T.BOUNDARY_EVENT


def _is_event_subprocess_start(catch: Element) -> bool:
    # the only start events an element instance subscribes to are its event subprocesses'
    return catch.element_type is _T.START_EVENT


Fire = Callable[[Instance, Element, Mapping[str, Any]], None]
"""Triggers a catch event of a scope with the event's variables."""


class CatchHandler:
    """What the handlers of a kind of catch event (signals, messages) work with: the machine
    and its state, the messaging state, the links to other partitions and ``fire``."""

    def __init__(self, machine: Machine, links: Links, fire: Fire) -> None:
        self.machine = machine
        self.state = machine.state
        self.messaging = machine.state.messaging
        self.links = links
        self.fire = fire


CloseStarts = Callable[[int, Callable[[str], bool]], None]


class Triggers:
    """Triggers catch events; ``closers`` close the subscriptions of an element instance
    whose catch event passes a test (one per kind of event)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.closers: Sequence[CloseStarts] = ()

    def fire(self, scope: Instance, catch: Element, variables: Mapping[str, Any]) -> None:
        machine = self.machine
        trigger(machine, scope, catch, variables)
        if _is_event_subprocess_start(catch) and catch.is_interrupting:
            model = machine.model(scope)

            def is_start(catch_id: str) -> bool:
                element = model.elements.get(catch_id)
                return element is not None and _is_event_subprocess_start(element)

            for close in self.closers:
                close(scope.key, is_start)
