"""The client's exception hierarchy: one :class:`ClientError` subclass per error kind.

Each class carries the gRPC status code name it stands for (``code``); :func:`error_from` turns
a gRPC status from the gateway into the matching exception (an unknown code becomes a
:class:`RequestError`).
"""

from __future__ import annotations

from ..grpc.status import GrpcError

__all__ = [
    "ClientError",
    "ConnectionFailed",
    "DeadlineExceeded",
    "GatewayUnreachable",
    "Internal",
    "InvalidArgument",
    "InvalidState",
    "NotFound",
    "RequestError",
    "ResourceExhausted",
    "Unavailable",
    "Unimplemented",
    "error_from",
]


class ClientError(Exception):
    """Base class of every error the client raises; ``code`` is the gRPC status code name."""

    code: str = "INTERNAL"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status: GrpcError | None = None
        """The gateway's gRPC status, when the error is one (its rich details included)."""


class RequestError(ClientError):
    """The gateway answered with an error of a kind without its own class."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NotFound(ClientError):
    code = "NOT_FOUND"


class InvalidState(ClientError):
    """The job, instance or incident is in a state the command does not apply to
    (FAILED_PRECONDITION)."""

    code = "FAILED_PRECONDITION"


class InvalidArgument(ClientError):
    code = "INVALID_ARGUMENT"


class DeadlineExceeded(ClientError):
    code = "DEADLINE_EXCEEDED"


class ResourceExhausted(ClientError):
    """Back-pressure: the partition's backlog is full; retry later."""

    code = "RESOURCE_EXHAUSTED"


class Unavailable(ClientError):
    code = "UNAVAILABLE"


class ConnectionFailed(Unavailable):
    """No gateway could be reached, or the connection broke while the request was out."""


class GatewayUnreachable(ConnectionFailed):
    """No gateway took the request: none could be connected to (refused, unknown host, timed
    out, TLS on one side only), or each connection broke before the request was sent. Nothing
    was delivered, so nothing was applied."""


class Unimplemented(ClientError):
    code = "UNIMPLEMENTED"


class Internal(ClientError):
    code = "INTERNAL"


_ERRORS: dict[str, type[ClientError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        InvalidState,
        InvalidArgument,
        DeadlineExceeded,
        ResourceExhausted,
        Unavailable,
        Unimplemented,
        Internal,
    )
}


def error_from(status: GrpcError) -> ClientError:
    """The exception for a gRPC status the gateway sent."""
    name = status.code.name
    cls = _ERRORS.get(name)
    error = RequestError(name, status.message) if cls is None else cls(status.message)
    error.status = status
    return error


class _NotSent(GatewayUnreachable):
    """The request provably never reached a gateway: always safe to retry elsewhere."""
