"""The immutable values of the messaging families (NamedTuples, replaced on change; the field
order is the snapshot's row layout; like the engine's values, ``..values``, never part of a
reference cycle, so they are taken out of the cyclic collector's walks).

Where they live: a :class:`Message` and its :class:`MessageSubscription` / :class:`Correlation`
records on the message partition (the one its correlation key hashes to); a
:class:`ProcessSubscription` and a :class:`SignalSubscription` on the partition of the element
instance that waits. With one partition, or when the hash says so, both sides are the same
partition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

__all__ = [
    "CREATED",
    "CREATING",
    "DELETING",
    "PROCESS_SUBSCRIPTION_STATES",
    "Correlation",
    "Message",
    "MessageSubscription",
    "ProcessSubscription",
    "SignalSubscription",
    "Started",
    "record_value",
]

# ProcessMessageSubscription states (Zeebe's intents): opened -> acknowledged -> closing.
CREATING = "CREATING"
CREATED = "CREATED"
DELETING = "DELETING"
PROCESS_SUBSCRIPTION_STATES = (CREATING, CREATED, DELETING)


class Message(NamedTuple):
    """A buffered message (published with a time to live); ``deadline`` in engine ms."""

    key: int
    name: str
    correlation_key: str
    deadline: int
    message_id: str
    variables: Mapping[str, Any]


class MessageSubscription(NamedTuple):
    """The message partition's side of a subscription (Zeebe's MessageSubscription).

    ``correlating`` is the key of the message offered to the instance partition and not
    answered yet (-1: none); a subscription that is correlating gets no other message.
    """

    element_instance_key: int
    message_name: str
    correlation_key: str
    process_instance_key: int
    bpmn_process_id: str
    interrupting: bool
    correlating: int = -1


class Correlation(NamedTuple):
    """A message went to a process (bpmnProcessId): it goes to no other instance of it while
    it is buffered. ``pending`` while the instance partition has not answered the offer;
    ``element_instance_key`` is -1 for a message start event."""

    message_key: int
    bpmn_process_id: str
    element_instance_key: int
    message_name: str
    pending: bool


class Started(NamedTuple):
    """A process instance a message started with a non-empty correlation key: while it runs,
    messages with that key start no other instance of the process."""

    process_instance_key: int
    bpmn_process_id: str
    correlation_key: str


class ProcessSubscription(NamedTuple):
    """The instance partition's side (Zeebe's ProcessMessageSubscription): the element
    instance ``element_instance_key`` waits for message ``message_name`` at catch event
    ``catch_id`` (itself, a boundary event, an event subprocess start event, or an event after
    an event-based gateway). ``close_sent``: the close went out (it waits for the open's
    acknowledgement when the subscription closes while still CREATING)."""

    element_instance_key: int
    message_name: str
    correlation_key: str
    catch_id: str
    interrupting: bool
    state: str
    close_sent: bool
    process_instance_key: int
    bpmn_process_id: str


class SignalSubscription(NamedTuple):
    """An element instance waits for signal ``signal_name`` at catch event ``catch_id``
    (signal subscriptions stay on their partition: a broadcast reaches every partition)."""

    element_instance_key: int
    catch_id: str
    signal_name: str
    process_instance_key: int
    bpmn_process_id: str
    interrupting: bool


class _Row(Protocol):
    def _asdict(self) -> dict[str, Any]: ...


def record_value(row: _Row, **extra: Any) -> dict[str, Any]:
    """A value as the trace shows it: Zeebe's camelCase field names (``messageName``, ...)."""
    value = {_camel(name): field for name, field in row._asdict().items()}
    value.update(extra)
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
