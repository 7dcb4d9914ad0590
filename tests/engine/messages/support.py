"""Helpers for the message and signal tests on one engine (a test Driver)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trio_zeebe.engine.rejection import Rejection
from trio_zeebe.proto import gateway_pb2 as gw

from ..process.driver import C, Driver


def publish_request(
    name: str,
    key: str = "",
    *,
    ttl: int = 60_000,
    message_id: str = "",
    variables: Mapping[str, Any] | str | None = None,
) -> gw.PublishMessageRequest:
    text = variables if isinstance(variables, str) else json.dumps(variables or {})
    return gw.PublishMessageRequest(
        name=name, correlationKey=key, timeToLive=ttl, messageId=message_id, variables=text
    )


def publish(d: Driver, name: str, key: str = "", **kwargs: Any) -> int:
    response = d.ok(C.PUBLISH_MESSAGE, publish_request(name, key, **kwargs))
    result: int = response.key
    return result


def publish_rejected(d: Driver, name: str, key: str = "", **kwargs: Any) -> Rejection:
    return d.reject(C.PUBLISH_MESSAGE, publish_request(name, key, **kwargs))


def broadcast_command(
    name: str, variables: Mapping[str, Any] | None = None
) -> tuple[C, gw.BroadcastSignalRequest]:
    request = gw.BroadcastSignalRequest(signalName=name, variables=json.dumps(variables or {}))
    return C.BROADCAST_SIGNAL, request


def broadcast(d: Driver, name: str, variables: Mapping[str, Any] | None = None) -> int:
    response = d.ok(*broadcast_command(name, variables))
    result: int = response.key
    return result


def instances_of(d: Driver, process_id: str) -> list[int]:
    """Keys of the process instances of ``process_id`` that were activated, in order."""
    return [
        r.key
        for r in d.of("PROCESS_INSTANCE", "ELEMENT_ACTIVATING")
        if r.value["bpmnElementType"] == "PROCESS" and r.value["bpmnProcessId"] == process_id
    ]


def intents(d: Driver, value_type: str) -> list[str]:
    return [r.intent for r in d.of(value_type)]
