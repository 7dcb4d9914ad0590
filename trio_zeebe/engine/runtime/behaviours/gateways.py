"""Gateways: exclusive (first true condition in XML order, else the default flow), parallel
(fork all; the join is guarded by the machine), inclusive (every true condition, else the
default; the join waits while a path can still reach it) and event-based (waits for its catch
events; the first that happens decides the flow).

A gateway is no wait state: it goes ACTIVATING -> ACTIVATED -> COMPLETING -> COMPLETED in one
step and takes its flows. If no flow applies it stays ACTIVATING with a CONDITION_ERROR
incident.
"""

from __future__ import annotations

from ...bpmn import Element, SequenceFlow
from ..expressions import Fail, evaluate_boolean
from ..machine import Machine
from ..values import COMPLETING, Instance
from .base import Behaviour, WaitState

__all__ = [
    "CONDITION_ERROR",
    "EventBasedGateway",
    "ExclusiveGateway",
    "InclusiveGateway",
    "ParallelGateway",
]

CONDITION_ERROR = "CONDITION_ERROR"
NO_FLOW = "Expected at least one condition to evaluate to true, or to have a default flow"


class _Gateway(Behaviour):
    def choose(self, m: Machine, instance: Instance, element: Element) -> list[str]:
        return list(element.outgoing)

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        flows = self.choose(m, instance, element)
        instance = m.transition(m.activated(instance), COMPLETING)
        done = m.completed(instance, element)
        for flow_id in flows:
            m.take_flow(done, flow_id)

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        pass  # never asked: a gateway completes within its activation


class ExclusiveGateway(_Gateway):
    def choose(self, m: Machine, instance: Instance, element: Element) -> list[str]:
        return _by_condition(m, instance, element, first_only=True)


class InclusiveGateway(_Gateway):
    def choose(self, m: Machine, instance: Instance, element: Element) -> list[str]:
        return _by_condition(m, instance, element, first_only=False)


def _by_condition(
    m: Machine, instance: Instance, element: Element, *, first_only: bool
) -> list[str]:
    """The outgoing flows whose condition holds (``first_only``: the first one, evaluating no
    further), else the default flow; a single flow without condition is taken as is; a
    CONDITION_ERROR incident when nothing can be taken."""
    model = m.model(instance)
    flows = [model.sequence_flows[f] for f in element.outgoing]
    if not flows:
        return []
    if len(flows) == 1 and flows[0].condition is None:
        return [flows[0].id]
    view = m.variables.view(instance.key)
    chosen: list[str] = []
    for flow in _with_condition(flows, element):
        if evaluate_boolean(flow.condition or "", view, m.now):
            chosen.append(flow.id)
            if first_only:
                break
    if chosen:
        return chosen
    if element.default_flow is not None:
        return [element.default_flow]
    raise Fail(CONDITION_ERROR, NO_FLOW)


def _with_condition(flows: list[SequenceFlow], element: Element) -> list[SequenceFlow]:
    return [f for f in flows if f.condition is not None and f.id != element.default_flow]


class ParallelGateway(_Gateway):
    pass


class EventBasedGateway(WaitState):
    """Waits for the events of the catch events after it (their subscriptions belong to the
    gateway); the first one to happen completes it (:func:`~..events.trigger` records which)
    and only the flow to that catch event is taken, with the event's variables."""

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        chosen = m.refresh(instance).trigger
        m.subscriptions.unsubscribe(m, instance)
        done = m.completed(instance, element)
        if chosen is None:
            return
        catch_id, payload = chosen
        model = m.model(done)
        for flow_id in element.outgoing:
            if model.sequence_flows[flow_id].target_ref == catch_id:
                m.take_flow(done, flow_id, payload or None)
                return
