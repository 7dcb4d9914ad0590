"""What every element behaviour can do, and the defaults most elements share.

A behaviour gets the machine, the element instance and its model element at each phase of
Zeebe's lifecycle: :meth:`Behaviour.activate` runs in ACTIVATING (input mappings, jobs,
subscriptions; it moves the instance on to ACTIVATED and maybe further), :meth:`complete` in
COMPLETING (output mappings, then COMPLETED and the outgoing flows), :meth:`terminate` in
TERMINATING. ``activate`` and ``complete`` raise Fail to leave the instance where it is with an
incident; ``terminate`` cannot fail. Containers also get the ``on_child_*`` / ``*_path_*``
hooks for what happens inside them.
"""

from __future__ import annotations

from ...bpmn import Element
from ..machine import Machine
from ..mappings import apply_inputs, apply_outputs, propagates_locals
from ..values import Instance

__all__ = ["Behaviour", "PassThrough", "WaitState"]


class Behaviour:
    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        raise NotImplementedError

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_outputs(
            element,
            instance,
            m.variables,
            m.now,
            m.take_payload(instance),
            propagate_locals=propagates_locals(element),
        )
        m.subscriptions.unsubscribe(m, instance)
        done = m.completed(instance, element)
        m.take_outgoing(done, element)

    def terminate(self, m: Machine, instance: Instance, element: Element) -> None:
        m.jobs.cancel_for_element(instance)
        m.subscriptions.unsubscribe(m, instance)
        m.terminated(instance)

    # --- container hooks (only containers get these calls) ----------------------------------

    def on_child_activating(self, m: Machine, scope: Instance, child: Instance) -> None:
        pass

    def before_path_completed(self, m: Machine, scope: Instance, child: Instance) -> bool:
        """May raise Fail (the child stays COMPLETING); True: a completion condition holds."""
        return False

    def after_path_completed(
        self, m: Machine, scope: Instance, child: Instance, satisfied: bool
    ) -> None:
        pass

    def on_child_terminated(self, m: Machine, scope: Instance, child: Instance | None) -> None:
        pass


class PassThrough(Behaviour):
    """Activate and complete at once (start events, none events, manual and undefined tasks,
    boundary events once triggered, link catch events)."""

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_inputs(element, instance, m.variables, m.now)
        m.complete_element(m.activated(instance))


class WaitState(Behaviour):
    """Activate and wait for an event (message, timer and signal catch events, receive tasks,
    event-based gateways, native user tasks): completed by :func:`~..events.trigger`."""

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_inputs(element, instance, m.variables, m.now)
        m.subscriptions.subscribe(m, instance, element)
        m.activated(instance)
