"""The instance partition's side (Pi): message subscriptions of waiting element instances and
the offers of the message partitions (reference §5.2).

An element instance that activates with message catch events (its own, an event-based
gateway's, boundary events, event subprocess start events) evaluates each event's message
name and correlation key -- a key that is not a string or a number is an EXTRACT_VALUE_ERROR
incident with Zeebe's text, and nothing is opened -- and opens a subscription per event:
CREATING here, ``OpenSubscription`` to the partition the key hashes to; the acknowledgement
makes it CREATED. Leaving the element closes them: DELETING, ``CloseSubscription`` (only once
the open was acknowledged, so the close can never overtake it), DELETED on its
acknowledgement.

An offer (``Correlate``) is taken if the subscription is open (CREATING counts: the message
partition knew it) and its event can still trigger: the element is triggered with the
message's variables and the message partition hears ``Correlated``; an interrupting
subscription ends with it. Otherwise the answer is ``Rejected`` and the message partition
offers the message elsewhere. Each decision is made once per offer (the link applies every
send once), so a message never triggers one subscription twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ....keys import message_partition
from ... import feel
from ...bpmn import Element
from ..expressions import (
    EXTRACT_VALUE_ERROR,
    Fail,
    evaluate_string,
    evaluate_with_warnings,
    source_of,
    with_warnings,
)
from ..values import Instance
from .catch import catch_events, is_interrupting_catch
from .triggers import CatchHandler, can_fire
from .values import CREATED, CREATING, DELETING, ProcessSubscription, record_value
from .wire import (
    CloseSubscription,
    Correlate,
    Correlated,
    OpenSubscription,
    Rejected,
    variables_of,
)

if TYPE_CHECKING:
    from ..machine import Machine

__all__ = ["MessageCatch", "correlation_key"]

_INT64 = 1 << 64


def correlation_key(text: str, variables: Mapping[str, Any], now_ms: int) -> str:
    """A subscription's correlation key: a string, or a number as its integer text (Java's
    ``Long.toString(longValue())``); anything else raises Fail with Zeebe's message."""
    value, warnings = evaluate_with_warnings(text, variables, now_ms)
    kind = feel.type_name(value)
    if kind == "STRING":
        return str(value)
    if kind == "NUMBER":
        whole = int(Decimal(value).to_integral_value(rounding="ROUND_DOWN"))
        whole = (whole + (_INT64 >> 1)) % _INT64 - (_INT64 >> 1)  # longValue keeps 64 bits
        return str(whole)
    source = source_of(text)
    raise Fail(
        EXTRACT_VALUE_ERROR,
        with_warnings(
            f"Failed to extract the correlation key for '{source}': The value must be either "
            f"a string or a number, but was '{kind}'.",
            warnings,
        ),
    )


class MessageCatch(CatchHandler):
    """:class:`~..events.EventSubscriptions` for message catch events, and the instance
    partition's handlers of the protocol."""

    def _trace(self, subscription: ProcessSubscription, intent: str, message_key: int) -> None:
        if self.state.trace is not None:
            value = record_value(subscription, messageKey=message_key)
            self.state.emit(
                "PROCESS_MESSAGE_SUBSCRIPTION", intent, subscription.element_instance_key, value
            )

    # --- EventSubscriptions -----------------------------------------------------------------

    def subscribe(self, machine: Machine, instance: Instance, element: Element) -> None:
        catches = [c for c in catch_events(machine, instance, element) if c.message is not None]
        if not catches:
            return
        view = machine.variables.view(instance.key)
        now = machine.now
        wanted: list[tuple[Element, str, str]] = []
        for catch in catches:  # evaluate all first: a failure opens nothing
            message = catch.message
            assert message is not None
            name = evaluate_string(message.name or "", view, now)
            key = correlation_key(message.correlation_key or "", view, now)
            wanted.append((catch, name, key))
        state = self.state
        process_id = state.definitions[instance.definition_key].bpmn_process_id
        for catch, name, key in wanted:
            if (instance.key, name) in self.messaging.process_subscriptions:
                continue  # opened before an incident stopped the activation
            subscription = ProcessSubscription(
                instance.key,
                name,
                key,
                catch.id,
                is_interrupting_catch(catch),
                CREATING,
                False,
                instance.process_instance_key,
                process_id,
            )
            self.messaging.put_process_subscription(subscription)
            self._trace(subscription, CREATING, -1)
            self.links.send(
                message_partition(key, state.partition_count),
                OpenSubscription(
                    instance.key,
                    name,
                    key,
                    instance.process_instance_key,
                    process_id,
                    subscription.interrupting,
                ),
            )

    def unsubscribe(self, machine: Machine, instance: Instance) -> None:
        self.close_all(instance.key)

    def close_all(
        self, element_instance_key: int, only: Callable[[str], bool] | None = None
    ) -> None:
        """Close the element instance's subscriptions (``only``: those whose catch event id
        passes)."""
        messaging = self.messaging
        for name in list(messaging.waiting_in.get(element_instance_key, ())):
            subscription = messaging.process_subscriptions[(element_instance_key, name)]
            if only is None or only(subscription.catch_id):
                self._close(subscription)

    def _close(self, subscription: ProcessSubscription) -> None:
        if subscription.state == DELETING:
            return
        send = subscription.state == CREATED
        subscription = subscription._replace(state=DELETING, close_sent=send)
        self.messaging.put_process_subscription(subscription)
        self._trace(subscription, DELETING, -1)
        if send:
            self._send_close(subscription)

    def _send_close(self, subscription: ProcessSubscription) -> None:
        self.links.send(
            message_partition(subscription.correlation_key, self.state.partition_count),
            CloseSubscription(subscription.element_instance_key, subscription.message_name),
        )

    # --- acknowledgements -------------------------------------------------------------------

    def opened(self, command: OpenSubscription) -> None:
        messaging = self.messaging
        key = (command.element_instance_key, command.message_name)
        subscription = messaging.process_subscriptions.get(key)
        if subscription is None:
            return  # an interrupting subscription that correlated already
        if subscription.state == CREATING:
            subscription = subscription._replace(state=CREATED)
            messaging.put_process_subscription(subscription)
            self._trace(subscription, CREATED, -1)
        elif subscription.state == DELETING and not subscription.close_sent:
            messaging.put_process_subscription(subscription._replace(close_sent=True))
            self._send_close(subscription)

    def closed(self, command: CloseSubscription) -> None:
        key = (command.element_instance_key, command.message_name)
        subscription = self.messaging.drop_process_subscription(key)
        if subscription is not None:
            self._trace(subscription, "DELETED", -1)

    # --- offers -----------------------------------------------------------------------------

    def correlate(self, command: Correlate, source: int) -> None:
        messaging = self.messaging
        key = (command.element_instance_key, command.message_name)
        subscription = messaging.process_subscriptions.get(key)

        def reject(closed: bool) -> None:
            self.links.send(
                source,
                Rejected(
                    command.element_instance_key,
                    command.message_name,
                    command.message_key,
                    command.bpmn_process_id,
                    closed,
                ),
            )

        if subscription is None or subscription.state == DELETING:
            reject(True)
            return
        scope = self.state.instances.get(subscription.element_instance_key)
        model = self.state.models.get(scope.definition_key) if scope is not None else None
        catch = model.elements.get(subscription.catch_id) if model is not None else None
        if scope is None or catch is None:
            self._close(subscription)  # the element is gone: nothing can trigger any more
            reject(True)
            return
        if not can_fire(scope, catch):
            reject(False)
            return
        if subscription.interrupting:
            messaging.drop_process_subscription(key)
        self._trace(subscription, "CORRELATED", command.message_key)
        self.links.send(
            source,
            Correlated(
                command.element_instance_key,
                command.message_name,
                command.message_key,
                command.bpmn_process_id,
            ),
        )
        self.fire(scope, catch, variables_of(command.variables))
