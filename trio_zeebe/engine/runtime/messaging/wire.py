"""The inter-partition commands of messages and signals (msgpack through the one codec).

Between the instance partition Pi and the message partition Pm (reference §5.2), named after
the Zeebe records they stand for:

====================  ==========  ===================================================
command               direction   Zeebe
====================  ==========  ===================================================
``OpenSubscription``  Pi -> Pm    MessageSubscription CREATE (its acknowledgement:
                                  ProcessMessageSubscription CREATE -> CREATED)
``CloseSubscription`` Pi -> Pm    MessageSubscription DELETE (acknowledged: DELETED)
``Correlate``         Pm -> Pi    ProcessMessageSubscription CORRELATE
``Correlated``        Pi -> Pm    MessageSubscription CORRELATE (-> CORRELATED)
``Rejected``          Pi -> Pm    MessageSubscription REJECT (-> REJECTED)
``SignalBroadcast``   any -> all  Signal BROADCAST distributed to the other partitions
====================  ==========  ===================================================

Each travels in a :class:`~.links.Envelope` as a reliable send (kept in the sender's state and
re-sent until acknowledged, applied once by the receiver), or -- when both sides are the same
partition -- as a follow-up step of that partition, without the network. Variables travel as
JSON text.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ....codec import wire

__all__ = [
    "CloseSubscription",
    "Correlate",
    "Correlated",
    "OpenSubscription",
    "Rejected",
    "SignalBroadcast",
    "variables_of",
]


@wire("e.msg.open")
@attrs.frozen
class OpenSubscription:
    element_instance_key: int
    message_name: str
    correlation_key: str
    process_instance_key: int
    bpmn_process_id: str
    interrupting: bool


@wire("e.msg.close")
@attrs.frozen
class CloseSubscription:
    element_instance_key: int
    message_name: str


@wire("e.msg.correlate")
@attrs.frozen
class Correlate:
    element_instance_key: int
    message_name: str
    message_key: int
    bpmn_process_id: str
    variables: str


@wire("e.msg.correlated")
@attrs.frozen
class Correlated:
    element_instance_key: int
    message_name: str
    message_key: int
    bpmn_process_id: str


@wire("e.msg.rejected")
@attrs.frozen
class Rejected:
    """``closed``: the subscription is gone or closing on the instance partition (the message
    partition forgets it rather than offer it more messages)."""

    element_instance_key: int
    message_name: str
    message_key: int
    bpmn_process_id: str
    closed: bool


@wire("e.sig")
@attrs.frozen
class SignalBroadcast:
    signal_key: int
    signal_name: str
    variables: str


def variables_of(text: str) -> dict[str, Any]:
    """A command's JSON variables (an object; anything else counts as none)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
