"""The message partition's side (Pm): PublishMessage, the buffer with its time to live, the
subscriptions opened by instance partitions, correlation to them and to message start events
(reference §5).

* **Publishing** answers ALREADY_EXISTS while a message with the same name, correlation key
  and non-empty id is buffered; otherwise the message is offered to the open subscriptions of
  its name and correlation key (in the order they were opened, skipping those busy with an
  offer, at most one per bpmnProcessId), then to the message start events of the processes
  that did not get it, and buffered until its time to live ends (TTL <= 0: not at all, so it
  only reaches what is open at publish time).
* **Correlation** is an offer to the instance partition (``Correlate``), answered with
  ``Correlated`` (the instance took it) or ``Rejected``. While the answer is out the message
  counts as correlated to the process (a :class:`~.values.Correlation` record, ``pending``)
  and the subscription gets no other message. A rejection frees the message for another
  subscription of the process. A confirmed correlation keeps the message from every other
  instance of the process while it is buffered.
* **Opening** a subscription offers it the first buffered message of its name and correlation
  key (publish order, still alive, not correlated to its process); a non-interrupting one gets
  the next such message after each confirmed correlation.
* **Message start events** start an instance of the latest version with the message's
  variables -- unless the message has a correlation key and an instance of the process that a
  message with that key started is still active; the message then stays buffered and starts
  the next instance once that one has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....keys import partition_of
from ....proto import gateway_pb2 as gw
from ...rejection import RejectionType
from ..refusal import DEFAULT_TENANT, Refused, check_tenant, invalid_argument
from ..variables import InvalidDocument, dumps, parse_document
from .links import Links
from .starts import MESSAGE, event_name, latest_start_events, start_instance
from .values import Correlation, Message, MessageSubscription, Started, record_value
from .wire import CloseSubscription, Correlate, Correlated, OpenSubscription, Rejected

if TYPE_CHECKING:
    from ..machine import Machine
    from ..values import Instance

__all__ = ["MessageBuffer"]

_INT64_MAX = 2**63 - 1


class MessageBuffer:
    def __init__(self, machine: Machine, links: Links) -> None:
        self.machine = machine
        self.state = machine.state
        self.messaging = machine.state.messaging
        self.links = links

    # --- tracing ----------------------------------------------------------------------------

    def _trace_message(self, message: Message, intent: str) -> None:
        if self.state.trace is not None:
            self.state.emit(
                "MESSAGE",
                intent,
                message.key,
                {
                    "name": message.name,
                    "correlationKey": message.correlation_key,
                    "messageId": message.message_id,
                    "deadline": message.deadline,
                    "variables": dict(message.variables),
                },
            )

    def _trace(self, subscription: MessageSubscription, intent: str, message_key: int) -> None:
        if self.state.trace is not None:
            value = record_value(subscription, messageKey=message_key)
            self.state.emit(
                "MESSAGE_SUBSCRIPTION", intent, subscription.element_instance_key, value
            )

    # --- PublishMessage ---------------------------------------------------------------------

    def publish(self, request: gw.PublishMessageRequest) -> gw.PublishMessageResponse:
        check_tenant("PublishMessage", request.tenantId)
        try:
            variables = parse_document(request.variables)
        except InvalidDocument as error:
            raise invalid_argument(str(error)) from None
        state = self.state
        messaging = self.messaging
        name, correlation_key, message_id = (
            request.name,
            request.correlationKey,
            request.messageId,
        )
        if message_id and (name, correlation_key, message_id) in messaging.by_message_id:
            raise Refused(
                RejectionType.ALREADY_EXISTS,
                f"Expected to publish a new message with id '{message_id}', but a message "
                "with that id was already published",
            )
        ttl = max(request.timeToLive, 0)
        message = Message(
            state.next_key(),
            name,
            correlation_key,
            min(state.clock + ttl, _INT64_MAX),
            message_id,
            variables,
        )
        buffered = ttl > 0
        if buffered:
            messaging.put_message(message)
        self._trace_message(message, "PUBLISHED")
        taken: dict[str, None] = {}
        for key in list(messaging.open_by_correlation.get((name, correlation_key), ())):
            subscription = messaging.subscriptions[key]
            if subscription.correlating >= 0 or subscription.bpmn_process_id in taken:
                continue
            taken[subscription.bpmn_process_id] = None
            self._offer(subscription, message)
        for start in latest_start_events(state, MESSAGE, name):
            if start[0] not in taken and self._may_start(start[0], correlation_key):
                taken[start[0]] = None
                self._start(start, message, buffered)
        if not buffered:
            self._trace_message(message, "EXPIRED")
        return gw.PublishMessageResponse(key=message.key, tenantId=DEFAULT_TENANT)

    def _alive(self, message: Message) -> bool:
        return message.deadline > self.state.clock

    # --- offers -----------------------------------------------------------------------------

    def _offer(self, subscription: MessageSubscription, message: Message) -> None:
        """Correlate ``message`` to ``subscription``: ask its instance partition."""
        messaging = self.messaging
        messaging.put_correlation(
            Correlation(
                message.key,
                subscription.bpmn_process_id,
                subscription.element_instance_key,
                subscription.message_name,
                True,
            )
        )
        subscription = subscription._replace(correlating=message.key)
        messaging.put_subscription(subscription)
        self._trace(subscription, "CORRELATING", message.key)
        self.links.send(
            partition_of(subscription.element_instance_key),
            Correlate(
                subscription.element_instance_key,
                subscription.message_name,
                message.key,
                subscription.bpmn_process_id,
                dumps(dict(message.variables)),
            ),
        )

    def _offer_buffered(self, subscription: MessageSubscription) -> bool:
        """Offer the subscription the first buffered message it may take."""
        messaging = self.messaging
        pair = (subscription.message_name, subscription.correlation_key)
        for message_key in messaging.by_correlation.get(pair, ()):
            message = messaging.messages[message_key]
            if not self._alive(message):
                continue
            if (message_key, subscription.bpmn_process_id) in messaging.correlations:
                continue
            self._offer(subscription, message)
            return True
        return False

    # --- from the instance partitions -------------------------------------------------------

    def open(self, command: OpenSubscription) -> None:
        messaging = self.messaging
        key = (command.element_instance_key, command.message_name)
        if key in messaging.subscriptions:
            return  # opened before: nothing to do (the link acknowledges it again)
        subscription = MessageSubscription(
            command.element_instance_key,
            command.message_name,
            command.correlation_key,
            command.process_instance_key,
            command.bpmn_process_id,
            command.interrupting,
        )
        messaging.put_subscription(subscription)
        self._trace(subscription, "CREATED", -1)
        self._offer_buffered(subscription)

    def close(self, command: CloseSubscription) -> None:
        """The instance left: forget the subscription. An offer still out stays open until
        the instance partition answers it (it took the message before leaving, or not)."""
        subscription = self.messaging.drop_subscription(
            (command.element_instance_key, command.message_name)
        )
        if subscription is not None:
            self._trace(subscription, "DELETED", -1)

    def correlated(self, command: Correlated) -> None:
        messaging = self.messaging
        correlation = messaging.correlations.get((command.message_key, command.bpmn_process_id))
        if (
            correlation is not None
            and correlation.pending
            and correlation.element_instance_key == command.element_instance_key
        ):
            if command.message_key in messaging.messages:
                messaging.put_correlation(correlation._replace(pending=False))
            else:  # expired meanwhile: nothing left to protect
                messaging.drop_correlation(command.message_key, command.bpmn_process_id)
        key = (command.element_instance_key, command.message_name)
        subscription = messaging.subscriptions.get(key)
        if subscription is None or subscription.correlating != command.message_key:
            return
        self._trace(subscription, "CORRELATED", command.message_key)
        if subscription.interrupting:
            messaging.drop_subscription(key)
            return
        subscription = subscription._replace(correlating=-1)
        messaging.put_subscription(subscription)
        self._offer_buffered(subscription)

    def rejected(self, command: Rejected) -> None:
        messaging = self.messaging
        process_id = command.bpmn_process_id
        correlation = messaging.correlations.get((command.message_key, process_id))
        if (
            correlation is None
            or not correlation.pending
            or correlation.element_instance_key != command.element_instance_key
        ):
            return  # an answer to an offer that is settled
        messaging.drop_correlation(command.message_key, process_id)
        key = (command.element_instance_key, command.message_name)
        subscription = messaging.subscriptions.get(key)
        if subscription is not None and subscription.correlating == command.message_key:
            self._trace(subscription, "REJECTED", command.message_key)
            if command.closed:
                messaging.drop_subscription(key)
                self._trace(subscription, "DELETED", -1)
            else:
                messaging.put_subscription(subscription._replace(correlating=-1))
        elif self.state.trace is not None:  # closed before the answer came
            value = {
                "elementInstanceKey": command.element_instance_key,
                "messageName": command.message_name,
                "bpmnProcessId": process_id,
                "messageKey": command.message_key,
            }
            self.state.emit("MESSAGE_SUBSCRIPTION", "REJECTED", key[0], value)
        message = messaging.messages.get(command.message_key)
        if message is None or not self._alive(message):
            return
        # another instance of the same process may take it
        pair = (message.name, message.correlation_key)
        for other_key in list(messaging.open_by_correlation.get(pair, ())):
            other = messaging.subscriptions[other_key]
            if other_key != key and other.bpmn_process_id == process_id and other.correlating < 0:
                self._offer(other, message)
                return

    # --- message start events ---------------------------------------------------------------

    def _may_start(self, process_id: str, correlation_key: str) -> bool:
        return not correlation_key or (
            (process_id, correlation_key) not in self.messaging.active_started
        )

    def _start(self, start: tuple[str, int, str], message: Message, buffered: bool) -> None:
        messaging = self.messaging
        process_id = start[0]
        key = start_instance(self.machine, start, message.variables)
        if message.correlation_key:
            messaging.put_started(Started(key, process_id, message.correlation_key))
        if buffered:
            messaging.put_correlation(Correlation(message.key, process_id, -1, message.name, False))
        if self.state.trace is not None:
            self.state.emit(
                "MESSAGE_START_EVENT_SUBSCRIPTION",
                "CORRELATED",
                message.key,
                {
                    "processDefinitionKey": start[1],
                    "bpmnProcessId": process_id,
                    "startEventId": start[2],
                    "messageName": message.name,
                    "correlationKey": message.correlation_key,
                    "processInstanceKey": key,
                },
            )

    def process_left(self, instance: Instance) -> None:
        """A process instance completed or was terminated: if a message with a correlation
        key started it, the next buffered message with that key may start the next one."""
        messaging = self.messaging
        started = messaging.drop_started(instance.process_instance_key)
        if started is None:
            return
        process_id, correlation_key = started.bpmn_process_id, started.correlation_key
        found: tuple[Message, tuple[str, int, str]] | None = None
        definition_key = self.state.latest.get(process_id)
        if definition_key is None:
            return
        model = self.state.models[definition_key]
        for start_id in model.message_start_events:
            name = event_name(model.elements[start_id], MESSAGE)
            for message_key in messaging.by_correlation.get((name or "", correlation_key), ()):
                message = messaging.messages[message_key]
                if not self._alive(message) or (message_key, process_id) in messaging.correlations:
                    continue
                if found is None or message.key < found[0].key:
                    found = (message, (process_id, definition_key, start_id))
                break
        if found is not None:
            self._start(found[1], found[0], True)

    # --- time to live -----------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        return self.messaging.next_deadline()

    def expire(self) -> None:
        """Messages whose time to live ended leave the buffer (and with them the record of
        the processes they went to; offers still out stay until answered)."""
        messaging = self.messaging
        for message in messaging.due(self.state.clock):
            messaging.drop_message(message.key)
            for process_id in list(messaging.correlations_of.get(message.key, ())):
                correlation = messaging.correlations[(message.key, process_id)]
                if not correlation.pending:
                    messaging.drop_correlation(message.key, process_id)
            self._trace_message(message, "EXPIRED")
