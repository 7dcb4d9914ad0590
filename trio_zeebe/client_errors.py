"""The client's exception hierarchy: one :class:`ClientError` subclass per error kind.

``error_from`` turns an error answer (a gateway ErrorResponse or an engine Rejection) into the
matching exception. Re-exported by :mod:`trio_zeebe.client`, the place to import them from.
"""

from __future__ import annotations

from .gateway.messages import ErrorCode

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
    """Base class of every error the client raises; ``code`` is an ErrorCode value."""

    code: str = ErrorCode.INTERNAL

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class RequestError(ClientError):
    """The gateway answered with an error of a kind without its own class (e.g. a newer one)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NotFound(ClientError):
    code = ErrorCode.NOT_FOUND


class InvalidState(ClientError):
    """The job is in a state the command does not apply to (FAILED_PRECONDITION)."""

    code = ErrorCode.FAILED_PRECONDITION


class InvalidArgument(ClientError):
    code = ErrorCode.INVALID_ARGUMENT


class DeadlineExceeded(ClientError):
    code = ErrorCode.DEADLINE_EXCEEDED


class ResourceExhausted(ClientError):
    """Back-pressure: the partition's backlog is full; retry later."""

    code = ErrorCode.RESOURCE_EXHAUSTED


class Unavailable(ClientError):
    code = ErrorCode.UNAVAILABLE


class ConnectionFailed(Unavailable):
    """No gateway could be reached, or the connection broke while the request was out."""


class GatewayUnreachable(ConnectionFailed):
    """No gateway took the request: none could be connected to (refused, unknown host, timed
    out, TLS on one side only), or each connection broke before the request was sent. Nothing
    was delivered, so nothing was applied."""


class Unimplemented(ClientError):
    code = ErrorCode.UNIMPLEMENTED


class Internal(ClientError):
    code = ErrorCode.INTERNAL


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


def error_from(code: str, message: str) -> ClientError:
    """The exception for an error answer (ErrorResponse or an engine Rejection)."""
    cls = _ERRORS.get(code)
    return RequestError(code, message) if cls is None else cls(message)


class _NotSent(GatewayUnreachable):
    """The request provably never reached the gateway: always safe to retry elsewhere."""
