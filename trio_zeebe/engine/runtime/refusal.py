"""How a command processor refuses a command: raise :class:`Refused` before changing anything.

The engine turns it into a :class:`~trio_zeebe.engine.rejection.Rejection` naming the command's
intent and value type. Reasons are Zeebe's texts.
"""

from __future__ import annotations

from ..rejection import RejectionType

__all__ = [
    "Refused",
    "check_tenant",
    "invalid_argument",
    "invalid_state",
    "not_found",
]

DEFAULT_TENANT = "<default>"


class Refused(Exception):
    def __init__(self, rejection_type: RejectionType, reason: str) -> None:
        super().__init__(reason)
        self.rejection_type = rejection_type
        self.reason = reason


def invalid_argument(reason: str) -> Refused:
    return Refused(RejectionType.INVALID_ARGUMENT, reason)


def not_found(reason: str) -> Refused:
    return Refused(RejectionType.NOT_FOUND, reason)


def invalid_state(reason: str) -> Refused:
    return Refused(RejectionType.INVALID_STATE, reason)


def check_tenant(rpc: str, tenant: str) -> None:
    """Multi-tenancy is off: only the default tenant (or none) is accepted, as Zeebe's gateway
    does."""
    if tenant and tenant != DEFAULT_TENANT:
        raise invalid_argument(
            f"Expected to handle gRPC request {rpc} with tenant identifier '{tenant}', "
            "but multi-tenancy is disabled"
        )
