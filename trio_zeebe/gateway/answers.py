"""Engine answers at the edge: response bytes to the client, a rejection to a gRPC status once.

An answer is the state machine's status byte and body (:mod:`trio_zeebe.engine.commands`). OK
bodies are the gRPC response message, passed on unchanged; a REJECTED body is a Zeebe rejection,
turned into Zeebe's status here and nowhere else (``Command '<INTENT>' rejected with code
'<TYPE>': <reason>`` with Zeebe's code mapping, reference zeebe-engine.md §1.2).
"""

from __future__ import annotations

from ..codec import DecodeError
from ..engine.commands import AnswerStatus, CommandType, command
from ..engine.rejection import Rejection, decode_rejection, grpc_code
from ..grpc.status import GrpcError, StatusCode

_OK = AnswerStatus.OK
_REJECTED = AnswerStatus.REJECTED


def payload(kind: CommandType, request: bytes) -> bytes:
    """The engine's command payload for a client request: its type byte and the bytes as
    the client sent them (see :func:`trio_zeebe.engine.commands.command` for messages)."""
    return bytes((kind,)) + request


def rejection_error(rejection: Rejection) -> GrpcError:
    return GrpcError(StatusCode[grpc_code(rejection)], rejection.grpc_message())


def response_bytes(answer: bytes) -> bytes:
    """The response message bytes of an OK answer; GrpcError for a rejection."""
    if answer and answer[0] == _OK:
        return answer[1:]
    if answer and answer[0] == _REJECTED:
        try:
            rejection = decode_rejection(answer[1:])
        except DecodeError as exc:
            raise GrpcError(StatusCode.INTERNAL, f"undecodable engine rejection: {exc}") from None
        raise rejection_error(rejection)
    raise GrpcError(
        StatusCode.INTERNAL, f"unexpected engine answer (status byte {answer[:1].hex() or 'none'})"
    )


__all__ = ["command", "payload", "rejection_error", "response_bytes"]
