"""trio_zeebe: a Zeebe-style clustered broker in pure Python on Trio, and its anyio client.

The client names are loaded on first use, so importing a pure part of the package (the
engine, the Raft core) does not drag in anyio, trio or sockets.
"""

# ruff: noqa: F405 -- the names of __all__ come from the star imports type checkers see

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public names, listed here once; each is found in the first of _HOMES that has it.
__all__ = [
    "Client",
    "ClientError",
    "ConnectionFailed",
    "DeadlineExceeded",
    "Deployment",
    "GatewayUnreachable",
    "Internal",
    "InvalidArgument",
    "InvalidState",
    "Job",
    "JobError",
    "NotFound",
    "ProcessInstance",
    "ProcessInstanceResult",
    "RequestError",
    "ResourceExhausted",
    "Unavailable",
    "Unimplemented",
    "Worker",
    "__version__",
]
_HOMES = (".client",)

if TYPE_CHECKING:  # what type checkers see of _HOMES; __all__ says which names are public
    from .client import *  # noqa: F403


def __getattr__(name: str) -> Any:
    if name in __all__:
        for home in _HOMES:
            module = importlib.import_module(home, __name__)
            if hasattr(module, name):
                return getattr(module, name)
    raise AttributeError(f"module 'trio_zeebe' has no attribute {name!r}")
