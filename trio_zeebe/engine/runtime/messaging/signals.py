"""Signals (reference §4.3): BroadcastSignal and signal throw events, signal subscriptions of
waiting element instances, signal start events.

Signal subscriptions stay on the partition of their element instance: an element that
activates with signal catch events (its own, an event-based gateway's, boundary events, event
subprocess start events) evaluates each signal name (a STRING, else an EXTRACT_VALUE_ERROR
incident) and subscribes; leaving the element removes them. A broadcast -- from the gateway
API or a signal throw event (intermediate or end, with the event's local variables, i.e. its
input mappings) -- gets a key on the partition that receives it, which triggers its own
matching catch events (in subscription order; an interrupting one ends its subscription),
starts an instance of each process whose latest version has a signal start event of that name,
and distributes the broadcast to every other partition by reliable sends. Those only trigger
their catch events, so a signal starts one instance per process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ....proto import gateway_pb2 as gw
from ...bpmn import Element
from ..expressions import evaluate_string
from ..mappings import apply_inputs
from ..refusal import DEFAULT_TENANT, check_tenant, invalid_argument
from ..values import Instance
from ..variables import InvalidDocument, dumps, parse_document
from .catch import catch_events, is_interrupting_catch
from .starts import SIGNAL, latest_start_events, start_instance
from .triggers import CatchHandler, can_fire
from .values import SignalSubscription, record_value
from .wire import SignalBroadcast, variables_of

if TYPE_CHECKING:
    from ..machine import Machine

__all__ = ["Signals"]


class Signals(CatchHandler):
    """:class:`~..events.EventSubscriptions` for signal catch events, and broadcasting."""

    def _trace(self, subscription: SignalSubscription, intent: str) -> None:
        if self.state.trace is not None:
            self.state.emit(
                "SIGNAL_SUBSCRIPTION",
                intent,
                subscription.element_instance_key,
                record_value(subscription),
            )

    # --- EventSubscriptions -----------------------------------------------------------------

    def subscribe(self, machine: Machine, instance: Instance, element: Element) -> None:
        catches = [c for c in catch_events(machine, instance, element) if c.signal is not None]
        if not catches:
            return
        view = machine.variables.view(instance.key)
        names: list[tuple[Element, str]] = []
        for catch in catches:  # evaluate all first: a failure subscribes nothing
            assert catch.signal is not None
            names.append((catch, evaluate_string(catch.signal.name or "", view, machine.now)))
        process_id = self.state.definitions[instance.definition_key].bpmn_process_id
        for catch, name in names:
            if (instance.key, catch.id) in self.messaging.signal_subscriptions:
                continue  # subscribed before an incident stopped the activation
            subscription = SignalSubscription(
                instance.key,
                catch.id,
                name,
                instance.process_instance_key,
                process_id,
                is_interrupting_catch(catch),
            )
            self.messaging.put_signal_subscription(subscription)
            self._trace(subscription, "CREATED")

    def unsubscribe(self, machine: Machine, instance: Instance) -> None:
        self.close_all(instance.key)

    def close_all(
        self, element_instance_key: int, only: Callable[[str], bool] | None = None
    ) -> None:
        messaging = self.messaging
        for catch_id in list(messaging.signals_in.get(element_instance_key, ())):
            if only is None or only(catch_id):
                dropped = messaging.drop_signal_subscription((element_instance_key, catch_id))
                if dropped is not None:
                    self._trace(dropped, "DELETED")

    # --- broadcasting -----------------------------------------------------------------------

    def broadcast(self, request: gw.BroadcastSignalRequest) -> gw.BroadcastSignalResponse:
        check_tenant("BroadcastSignal", request.tenantId)
        try:
            variables = parse_document(request.variables)
        except InvalidDocument as error:
            raise invalid_argument(str(error)) from None
        key = self._broadcast(request.signalName, variables)
        return gw.BroadcastSignalResponse(key=key, tenantId=DEFAULT_TENANT)

    def throw(self, machine: Machine, instance: Instance, element: Element) -> None:
        """A signal throw event (intermediate or end): broadcast, then complete."""
        assert element.signal is not None
        apply_inputs(element, instance, machine.variables, machine.now)
        view = machine.variables.view(instance.key)
        name = evaluate_string(element.signal.name or "", view, machine.now)
        variables = dict(machine.variables.local(instance.key))
        instance = machine.activated(instance)
        self._broadcast(name, variables)
        machine.complete_element(instance)

    def _broadcast(self, name: str, variables: Mapping[str, Any]) -> int:
        state = self.state
        key = state.next_key()
        state.emit("SIGNAL", "BROADCASTED", key, {"signalName": name, "variables": dict(variables)})
        self._deliver(name, variables)
        for start in latest_start_events(state, SIGNAL, name):
            start_instance(self.machine, start, variables)
        text = dumps(dict(variables))
        for target in range(1, state.partition_count + 1):
            if target != state.partition_id:
                self.links.send(target, SignalBroadcast(key, name, text))
        return key

    def received(self, command: SignalBroadcast) -> None:
        """A broadcast distributed by the partition that received it: catch events only."""
        self.state.emit(
            "SIGNAL", "BROADCASTED", command.signal_key, {"signalName": command.signal_name}
        )
        self._deliver(command.signal_name, variables_of(command.variables))

    def _deliver(self, name: str, variables: Mapping[str, Any]) -> None:
        messaging = self.messaging
        instances = self.state.instances
        for key in list(messaging.signals_named.get(name, ())):
            subscription = messaging.signal_subscriptions.get(key)
            if subscription is None:
                continue  # closed by an event triggered before it
            scope = instances.get(subscription.element_instance_key)
            if scope is None:
                continue
            catch = self.state.models[scope.definition_key].elements.get(subscription.catch_id)
            if catch is None or not can_fire(scope, catch):
                continue
            if subscription.interrupting:
                messaging.drop_signal_subscription(key)
                self._trace(subscription, "DELETED")
            self.fire(scope, catch, variables)
