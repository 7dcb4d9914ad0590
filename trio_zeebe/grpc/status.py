"""gRPC status codes and the exception that carries a non-OK status across our code.

A call ends with ``grpc-status`` (a :class:`StatusCode`), an optional ``grpc-message`` and,
for the rich error model, ``grpc-status-details-bin``: a serialized ``google.rpc.Status``
whose details are Any-packed messages (Zeebe packs one Status per failed partition).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from google.protobuf.message import DecodeError, Message

from ..proto import status_pb2


class StatusCode(enum.IntEnum):
    """gRPC's status codes, with their numeric values on the wire."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @classmethod
    def from_wire(cls, value: int) -> StatusCode:
        """A received code; one outside the known range is UNKNOWN, as gRPC specifies."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


# gRPC's doc/http-grpc-status-mapping.md: the status of a response that has no grpc-status.
_HTTP_TO_GRPC = {
    400: StatusCode.INTERNAL,
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.UNIMPLEMENTED,
    429: StatusCode.UNAVAILABLE,
    502: StatusCode.UNAVAILABLE,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.UNAVAILABLE,
}


def status_for_http(http_status: int) -> StatusCode:
    return _HTTP_TO_GRPC.get(http_status, StatusCode.UNKNOWN)


class GrpcError(Exception):
    """A call's non-OK outcome: raised by server handlers, raised to callers by the channel.

    ``details`` is a serialized ``google.rpc.Status`` (the ``grpc-status-details-bin``
    trailer) or None; :meth:`with_details` builds one, :meth:`status` parses it.
    """

    def __init__(self, code: StatusCode, message: str = "", details: bytes | None = None) -> None:
        super().__init__(f"{code.name}: {message}" if message else code.name)
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def with_details(cls, code: StatusCode, message: str, details: Iterable[Message]) -> GrpcError:
        """An error whose rich status packs ``details`` (each as a google.protobuf.Any)."""
        status = status_pb2.Status(code=int(code), message=message)
        for detail in details:
            status.details.add().Pack(detail)
        return cls(code, message, status.SerializeToString())

    def status(self) -> status_pb2.Status | None:
        """The rich status, if the error has one that parses."""
        if self.details is None:
            return None
        try:
            return status_pb2.Status.FromString(self.details)
        except DecodeError:
            return None
