"""A refused command, as Zeebe reports it: rejection type, the command's intent and value type,
and a reason in Zeebe's style ("Expected to ..., but ...").

The engine answers a refused client command with a :class:`Rejection` (see :mod:`.commands` for
the answer framing). The gateway turns it into a gRPC status once, at the edge, with
:meth:`Rejection.grpc_message` and :func:`grpc_code` -- Zeebe's text
``Command '<INTENT>' rejected with code '<REJECTION_TYPE>': <reason>`` and Zeebe's code mapping.
"""

from __future__ import annotations

from enum import IntEnum

import attrs

from .. import codec
from ..codec import wire

__all__ = ["GRPC_CODES", "Rejection", "RejectionType", "decode_rejection", "grpc_code"]


class RejectionType(IntEnum):
    """Zeebe's ``RejectionType`` (numbers as in its protocol)."""

    INVALID_ARGUMENT = 0
    NOT_FOUND = 1
    ALREADY_EXISTS = 2
    INVALID_STATE = 3
    PROCESSING_ERROR = 4
    EXCEEDED_BATCH_RECORD_SIZE = 5


#: Zeebe's gateway mapping of rejection types to gRPC status codes (anything else: UNKNOWN).
GRPC_CODES = {
    "INVALID_ARGUMENT": "INVALID_ARGUMENT",
    "NOT_FOUND": "NOT_FOUND",
    "ALREADY_EXISTS": "ALREADY_EXISTS",
    "INVALID_STATE": "FAILED_PRECONDITION",
    "PROCESSING_ERROR": "INTERNAL",
}


@wire("e.rejection")
@attrs.frozen
class Rejection:
    """``type``: a :class:`RejectionType` name; ``intent``: the refused command's intent
    (``CREATE``, ``COMPLETE``, ...); ``value_type``: Zeebe's value type (``JOB``,
    ``PROCESS_INSTANCE_CREATION``, ...); ``reason``: why."""

    type: str
    intent: str
    value_type: str
    reason: str

    def grpc_message(self) -> str:
        """The gRPC status message Zeebe's gateway sends for this rejection."""
        return f"Command '{self.intent}' rejected with code '{self.type}': {self.reason}"

    def encode(self) -> bytes:
        return codec.encode(self)


def grpc_code(rejection: Rejection) -> str:
    """The gRPC status code name for a rejection (Zeebe: INVALID_STATE -> FAILED_PRECONDITION,
    PROCESSING_ERROR -> INTERNAL, unknown -> UNKNOWN)."""
    return GRPC_CODES.get(rejection.type, "UNKNOWN")


def decode_rejection(data: bytes) -> Rejection:
    """Inverse of :meth:`Rejection.encode`; raises :class:`~trio_zeebe.codec.DecodeError`."""
    value = codec.decode(data)
    if not isinstance(value, Rejection):
        raise codec.DecodeError("not a rejection")
    return value
