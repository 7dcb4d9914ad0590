"""The messaging families and their derived indexes (an owned collaborator of the engine
state: ``EngineState.messaging``).

Families are dicts of immutable values whose insertion order is state (the snapshot keeps it,
restore rebuilds it); every change goes through the ``put_*`` / ``drop_*`` methods, which keep
the indexes in step. The indexes answer the protocol's questions without scans: the buffered
messages of a (name, correlation key) in publish order, the message with a given id, the
earliest deadline, the open subscriptions of a (name, correlation key) in opening order, the
subscriptions of an element instance, the signal subscriptions of a name.

Besides the families the state holds the link counters of the reliable inter-partition sends
(:mod:`.links`): the last sequence number sent to each partition and, per sending partition,
which sequence numbers arrived.
"""

from __future__ import annotations

import heapq

from ..family import Family
from .values import (
    Correlation,
    Message,
    MessageSubscription,
    ProcessSubscription,
    SignalSubscription,
    Started,
)

__all__ = ["MessagingState", "Received", "StartEvent"]

SubscriptionKey = tuple[int, str]  # (element instance key, message name)
SignalKey = tuple[int, str]  # (element instance key, catch event id)
Received = tuple[int, tuple[int, ...]]  # (all up to here arrived, the ones above that did)
StartEvent = tuple[str, int, str]  # (bpmnProcessId, definition key, start event id)


class MessagingState:
    def __init__(self) -> None:
        # --- families (snapshotted) ---
        self.messages: Family[int, Message] = Family()
        self.subscriptions: Family[SubscriptionKey, MessageSubscription] = Family()
        self.correlations: Family[tuple[int, str], Correlation] = Family()
        self.started: Family[int, Started] = Family()
        self.process_subscriptions: Family[SubscriptionKey, ProcessSubscription] = Family()
        self.signal_subscriptions: Family[SignalKey, SignalSubscription] = Family()
        self.sequences: Family[int, int] = Family()  # target partition -> last sequence number sent
        self.received: Family[int, Received] = Family()  # source partition -> what arrived
        # --- derived (rebuilt on restore) ---
        self.by_correlation: dict[tuple[str, str], dict[int, None]] = {}
        self.by_message_id: dict[tuple[str, str, str], int] = {}
        self.deadlines: list[tuple[int, int]] = []  # heap of (deadline, message key)
        self.open_by_correlation: dict[tuple[str, str], dict[SubscriptionKey, None]] = {}
        self.correlations_of: dict[int, dict[str, None]] = {}  # message key -> process ids
        self.active_started: dict[tuple[str, str], int] = {}
        self.waiting_in: dict[int, dict[str, None]] = {}  # element instance -> message names
        self.signals_named: dict[str, dict[SignalKey, None]] = {}
        self.signals_in: dict[int, dict[str, None]] = {}  # element instance -> catch ids
        # start events of the latest versions: (definition count, name -> start events)
        self.start_cache: dict[str, tuple[int, dict[str, list[StartEvent]]]] = {}

    # --- messages ---------------------------------------------------------------------------

    def put_message(self, message: Message) -> None:
        self.messages[message.key] = message
        self._index_message(message)

    def _index_message(self, message: Message) -> None:
        key = (message.name, message.correlation_key)
        self.by_correlation.setdefault(key, {})[message.key] = None
        if message.message_id:
            self.by_message_id[(*key, message.message_id)] = message.key
        heapq.heappush(self.deadlines, (message.deadline, message.key))

    def drop_message(self, key: int) -> Message | None:
        message = self.messages.pop(key, None)
        if message is None:
            return None
        pair = (message.name, message.correlation_key)
        keys = self.by_correlation.get(pair)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self.by_correlation[pair]
        if message.message_id:
            id_key = (*pair, message.message_id)
            if self.by_message_id.get(id_key) == key:
                del self.by_message_id[id_key]
        return message  # its heap entry goes when it comes up

    def next_deadline(self) -> int | None:
        heap = self.deadlines
        while heap:
            deadline, key = heap[0]
            message = self.messages.get(key)
            if message is not None and message.deadline == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def due(self, now: int) -> list[Message]:
        """The buffered messages whose time to live ended by ``now``, earliest first."""
        found: list[Message] = []
        heap = self.deadlines
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            message = self.messages.get(key)
            if message is not None and message.deadline == deadline:
                found.append(message)
        return found

    # --- subscriptions on the message partition ---------------------------------------------

    def put_subscription(self, subscription: MessageSubscription) -> None:
        key = (subscription.element_instance_key, subscription.message_name)
        if key not in self.subscriptions:
            pair = (subscription.message_name, subscription.correlation_key)
            self.open_by_correlation.setdefault(pair, {})[key] = None
        self.subscriptions[key] = subscription

    def drop_subscription(self, key: SubscriptionKey) -> MessageSubscription | None:
        subscription = self.subscriptions.pop(key, None)
        if subscription is not None:
            pair = (subscription.message_name, subscription.correlation_key)
            keys = self.open_by_correlation.get(pair)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del self.open_by_correlation[pair]
        return subscription

    # --- correlations -----------------------------------------------------------------------

    def put_correlation(self, correlation: Correlation) -> None:
        self.correlations[(correlation.message_key, correlation.bpmn_process_id)] = correlation
        self.correlations_of.setdefault(correlation.message_key, {})[
            correlation.bpmn_process_id
        ] = None

    def drop_correlation(self, message_key: int, process_id: str) -> Correlation | None:
        correlation = self.correlations.pop((message_key, process_id), None)
        if correlation is not None:
            ids = self.correlations_of.get(message_key)
            if ids is not None:
                ids.pop(process_id, None)
                if not ids:
                    del self.correlations_of[message_key]
        return correlation

    # --- instances started by a message -----------------------------------------------------

    def put_started(self, started: Started) -> None:
        self.started[started.process_instance_key] = started
        self.active_started[(started.bpmn_process_id, started.correlation_key)] = (
            started.process_instance_key
        )

    def drop_started(self, process_instance_key: int) -> Started | None:
        started = self.started.pop(process_instance_key, None)
        if started is not None:
            pair = (started.bpmn_process_id, started.correlation_key)
            if self.active_started.get(pair) == process_instance_key:
                del self.active_started[pair]
        return started

    # --- subscriptions on the instance partition --------------------------------------------

    def put_process_subscription(self, subscription: ProcessSubscription) -> None:
        key = (subscription.element_instance_key, subscription.message_name)
        self.process_subscriptions[key] = subscription
        self.waiting_in.setdefault(key[0], {})[key[1]] = None

    def drop_process_subscription(self, key: SubscriptionKey) -> ProcessSubscription | None:
        subscription = self.process_subscriptions.pop(key, None)
        if subscription is not None:
            names = self.waiting_in.get(key[0])
            if names is not None:
                names.pop(key[1], None)
                if not names:
                    del self.waiting_in[key[0]]
        return subscription

    # --- signal subscriptions ---------------------------------------------------------------

    def put_signal_subscription(self, subscription: SignalSubscription) -> None:
        key = (subscription.element_instance_key, subscription.catch_id)
        self.signal_subscriptions[key] = subscription
        self.signals_named.setdefault(subscription.signal_name, {})[key] = None
        self.signals_in.setdefault(key[0], {})[key[1]] = None

    def drop_signal_subscription(self, key: SignalKey) -> SignalSubscription | None:
        subscription = self.signal_subscriptions.pop(key, None)
        if subscription is None:
            return None
        keys = self.signals_named.get(subscription.signal_name)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self.signals_named[subscription.signal_name]
        catches = self.signals_in.get(key[0])
        if catches is not None:
            catches.pop(key[1], None)
            if not catches:
                del self.signals_in[key[0]]
        return subscription

    # --- rebuilding derived state -----------------------------------------------------------

    def rebuild_indexes(self) -> None:
        """Recompute every derived index from the families (after a restore)."""
        for message in self.messages.values():
            self._index_message(message)
        for key, subscription in self.subscriptions.items():
            pair = (subscription.message_name, subscription.correlation_key)
            self.open_by_correlation.setdefault(pair, {})[key] = None
        for correlation in self.correlations.values():
            self.correlations_of.setdefault(correlation.message_key, {})[
                correlation.bpmn_process_id
            ] = None
        for started in self.started.values():
            self.active_started[(started.bpmn_process_id, started.correlation_key)] = (
                started.process_instance_key
            )
        for eik, name in self.process_subscriptions:
            self.waiting_in.setdefault(eik, {})[name] = None
        for key, signal in self.signal_subscriptions.items():
            self.signals_named.setdefault(signal.signal_name, {})[key] = None
            self.signals_in.setdefault(key[0], {})[key[1]] = None
