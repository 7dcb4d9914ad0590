"""trio_zeebe: a Zeebe-style clustered broker in pure Python on Trio, and its anyio client."""

__version__ = "0.1.0"

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
