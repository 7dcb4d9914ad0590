"""trio_zeebe: a Zeebe-style clustered broker in pure Python on Trio, and its anyio client.

The client names are loaded on first use, so importing a pure part of the package (the job
engine, the Raft core) does not drag in anyio, trio or sockets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Client": ".client",
    "ClientError": ".client",
    "ConnectionFailed": ".client",
    "DeadlineExceeded": ".client",
    "Internal": ".client",
    "InvalidArgument": ".client",
    "InvalidState": ".client",
    "NotFound": ".client",
    "RequestError": ".client",
    "ResourceExhausted": ".client",
    "Unavailable": ".client",
    "Unimplemented": ".client",
    "Job": ".engine.records",
    "JobError": ".worker",
    "Worker": ".worker",
}

__all__ = [
    "Client",
    "ClientError",
    "ConnectionFailed",
    "DeadlineExceeded",
    "Internal",
    "InvalidArgument",
    "InvalidState",
    "Job",
    "JobError",
    "NotFound",
    "RequestError",
    "ResourceExhausted",
    "Unavailable",
    "Unimplemented",
    "Worker",
    "__version__",
]

if TYPE_CHECKING:
    from .client import (
        Client,
        ClientError,
        ConnectionFailed,
        DeadlineExceeded,
        Internal,
        InvalidArgument,
        InvalidState,
        NotFound,
        RequestError,
        ResourceExhausted,
        Unavailable,
        Unimplemented,
    )
    from .engine.records import Job
    from .worker import JobError, Worker


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trio_zeebe' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
