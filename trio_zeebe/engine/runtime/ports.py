"""What the step machine needs from the collaborators the engine wires into it.

The machine (:mod:`.machine`) runs element instances through their lifecycle; what an element
does in each phase, and the jobs, event subscriptions, decisions and signals it opens, live in
modules that need the machine themselves. So the machine depends on these Protocols only, and
the collaborators on the machine: the imports run one way. A Protocol that passes the machine
back is generic in the machine's type (``M``), so nothing here needs to know the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from ..bpmn import Element
from .values import Instance, JobSpec

__all__ = ["DecisionCalls", "ElementBehaviour", "EventSubscriptions", "JobCreation", "SignalThrows"]

M = TypeVar("M", contravariant=True)


class ElementBehaviour(Protocol[M]):
    """One element type's part in each phase of the lifecycle (see :mod:`.behaviours.base`).
    ``activate`` and ``complete`` may raise Fail (an incident); ``terminate`` cannot fail. Only
    containers get the ``on_child_*`` and ``*_path_completed`` calls."""

    def activate(self, m: M, instance: Instance, element: Element) -> None: ...

    def complete(self, m: M, instance: Instance, element: Element) -> None: ...

    def terminate(self, m: M, instance: Instance, element: Element) -> None: ...

    def on_child_activating(self, m: M, scope: Instance, child: Instance) -> None: ...

    def before_path_completed(self, m: M, scope: Instance, child: Instance) -> bool: ...

    def after_path_completed(
        self, m: M, scope: Instance, child: Instance, satisfied: bool
    ) -> None: ...

    def on_child_terminated(self, m: M, scope: Instance, child: Instance | None) -> None: ...


class EventSubscriptions(Protocol[M]):
    """Opens and closes the subscriptions of message, timer and signal catch events.

    ``subscribe`` is called when an element instance activates that can catch events: an
    activity (its boundary events), a scope (its event subprocesses' start events), an
    intermediate catch event, a receive task, an event-based gateway. It may raise Fail (an
    expression of a subscription failed). ``unsubscribe`` when the instance completes or is
    terminated.
    """

    def subscribe(self, machine: M, instance: Instance, element: Element) -> None: ...

    def unsubscribe(self, machine: M, instance: Instance) -> None: ...


class JobCreation(Protocol):
    """The jobs of service-task-like elements (:class:`~.jobs.Jobs`)."""

    def evaluate(self, instance: Instance, element: Element) -> JobSpec:
        """The element's job type, retries and headers; raises Fail if an expression fails."""
        ...

    def create(self, instance: Instance, spec: JobSpec) -> Instance:
        """Create the element's job; returns the instance that now holds it."""
        ...

    def cancel_for_element(self, instance: Instance) -> None:
        """The element left (terminated): its job goes, with its incident."""
        ...


class DecisionCalls(Protocol):
    """Business rule tasks calling a deployed decision (:class:`~.decisions.Decisions`)."""

    def call(self, instance: Instance, element: Element) -> Mapping[str, Any]:
        """The called decision's result as ``{resultVariable: value}``; raises Fail."""
        ...


class SignalThrows(Protocol[M]):
    """Signal throw events (:class:`~.messaging.signals.Signals`): broadcast, then complete."""

    def throw(self, machine: M, instance: Instance, element: Element) -> None: ...
