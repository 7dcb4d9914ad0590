"""The trio_zeebe client, built on anyio so it runs under trio and under asyncio.

    async with Client(["127.0.0.1:26500", "127.0.0.1:26510"], ca="certs/ca.pem") as client:
        key = await client.create_job("payment", variables={"amount": 12})
        for job in await client.activate_jobs("payment", worker="me", max_jobs=10):
            await client.complete_job(job.key, {"paid": True})

A client talks to any broker's gateway (the gateway routes to partition leaders); requests are
multiplexed over one connection with correlation ids. Given several addresses it fails over to
the next one when a connection breaks, and retries the request there when that is safe:

* a request that never left the client (the connection was already broken, or the send failed
  before the whole frame was written, so the gateway cannot have decoded it) is always retried;
* CreateJob and Append are not idempotent: once sent, a lost connection surfaces as
  :class:`ConnectionFailed` (an :class:`Unavailable`) because the job may or may not exist;
* every other request is retried after a lost connection: Topology and Rebalance change nothing
  by themselves, ActivateJobs at worst leaves jobs activated until their timeout (the engine's
  at-least-once contract), and a duplicate key-addressed job command is either refused by the
  engine (a completed job is gone: NotFound; a thrown error: InvalidState) or sets the same
  values again (retries, back-off, lease).

Results are the engine's own frozen attrs records: ``create_job`` returns the key (an int, the
partition id is ``key >> 51``), ``activate_jobs`` a list of :class:`~trio_zeebe.engine.records.Job`
and the key-addressed commands the :class:`Job` as it is after the command.

Errors: one :class:`ClientError` subclass per kind (``exc.code`` is the
:class:`~trio_zeebe.errors.ErrorCode`): :class:`NotFound`, :class:`InvalidState`,
:class:`InvalidArgument`, :class:`DeadlineExceeded`, :class:`ResourceExhausted`,
:class:`Unavailable` (and its :class:`ConnectionFailed`), :class:`Unimplemented`, :class:`Internal`.

This module holds :class:`Client` (failover, retries, the typed job commands); the error classes
live in :mod:`trio_zeebe.client_errors` and the single gateway connection in
:mod:`trio_zeebe.client_connection`. Import them all from here (or from ``trio_zeebe``).
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc

# The names below moved out of this module; re-exported (``x as x``) so every import from
# trio_zeebe.client keeps working. The error classes are re-exported through __all__.
from .client_connection import _Connection as _Connection
from .client_connection import _reason as _reason
from .client_connection import client_ssl_context as client_ssl_context
from .client_errors import _ERRORS as _ERRORS
from .client_errors import (
    ClientError,
    ConnectionFailed,
    DeadlineExceeded,
    GatewayUnreachable,
    Internal,
    InvalidArgument,
    InvalidState,
    NotFound,
    RequestError,
    ResourceExhausted,
    Unavailable,
    Unimplemented,
)
from .client_errors import _NotSent as _NotSent
from .client_errors import error_from as error_from
from .engine.records import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    FailJob,
    Job,
    JobKey,
    ThrowError,
    UpdateJobRetries,
    UpdateJobTimeout,
)
from .gateway.messages import (
    MAGIC,
    ActivateJobsRequest,
    AppendRequest,
    AppendResponse,
    RebalanceRequest,
    RebalanceResponse,
    Topology,
    TopologyRequest,
)
from .transport.api import split_address

if TYPE_CHECKING:
    from .worker import Worker

__all__ = [
    "Client",
    "ClientError",
    "ConnectionFailed",
    "DeadlineExceeded",
    "GatewayUnreachable",
    "Internal",
    "InvalidArgument",
    "InvalidState",
    "Job",
    "NotFound",
    "RequestError",
    "ResourceExhausted",
    "Unavailable",
    "Unimplemented",
]

DEFAULT_MAX_FRAME = 4 * 1024 * 1024
ACTIVATE_GRACE = 5.0
"""Seconds the client waits for a long poll beyond its ``request_timeout`` (network, routing)."""

_NOT_IDEMPOTENT = (CreateJob, AppendRequest)


class Client:
    """A gateway client. Use as ``async with Client(...) as client``.

    ``request_timeout`` bounds every request (seconds), failover included; a request that gets no
    answer in time raises :class:`DeadlineExceeded`. Long polls wait their own timeout plus
    ``ACTIVATE_GRACE``.
    """

    def __init__(
        self,
        addresses: Sequence[str] | str = ("127.0.0.1:26500",),
        *,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        insecure: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        request_timeout: float = 15.0,
        connect_timeout: float = 5.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        if not self.addresses:
            raise ValueError("no gateway address given")
        self._targets = [split_address(a) for a in self.addresses]
        if insecure:
            self._ssl: ssl.SSLContext | None = None
        else:
            self._ssl = ssl_context or client_ssl_context(ca, cert, key)
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_frame_bytes = max_frame_bytes
        self.failovers = 0  # connections replaced after one broke (diagnostics, tests)
        self._next_target = 0
        self._conn: _Connection | None = None
        self._connect_lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        if self._conn is not None:
            await self._close(self._conn)
        # The task group only hosts connection readers: the caller's own exception must come
        # out as itself, not wrapped in an exception group.
        await self._tg.__aexit__(None, None, None)
        self._tg = None
        return None

    async def _close(self, conn: _Connection) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await conn.stream.aclose()
            except Exception:  # closing a dead TLS stream can fail in many ways; it is closed
                pass
        if self._conn is conn:
            self._conn = None

    async def _connection(self) -> _Connection:
        async with self._connect_lock:
            if self._conn is not None and self._conn.broken is None:
                return self._conn
            if self._conn is not None:
                self.failovers += 1
                await self._close(self._conn)
            errors = []
            for _ in range(len(self._targets)):
                host, port = self._targets[self._next_target]
                self._next_target = (self._next_target + 1) % len(self._targets)
                try:
                    self._conn = await self._open(host, port)
                    return self._conn
                except (
                    OSError,
                    ssl.SSLError,
                    TimeoutError,
                    anyio.BrokenResourceError,
                    anyio.EndOfStream,  # the TLS handshake met a closed connection
                ) as exc:
                    errors.append(f"{host}:{port}: {_reason(exc, tls=self._ssl is not None)}")
            raise GatewayUnreachable("cannot reach any gateway: " + "; ".join(errors))

    async def _open(self, host: str, port: int) -> _Connection:
        assert self._tg is not None, "use the client as 'async with Client(...)'"
        with anyio.fail_after(self.connect_timeout):
            stream: anyio.abc.ByteStream
            if self._ssl is None:
                stream = await anyio.connect_tcp(host, port)
            else:
                stream = await anyio.connect_tcp(
                    host,
                    port,
                    ssl_context=self._ssl,
                    tls_standard_compatible=False,
                    tls_hostname=host,
                )
            try:
                await stream.send(MAGIC)
            except BaseException:
                await stream.aclose()
                raise
        conn = _Connection(stream, self.max_frame_bytes, f"{host}:{port}")
        self._tg.start_soon(conn.read_loop)
        return conn

    async def request(self, message: Any, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """Send one gateway request and return its answer, failing over between gateways.

        A broken connection is replaced by one to the next address (each address is tried once
        per attempt); the request is retried there unless it is not idempotent and may have been
        delivered (see the module docstring). ``timeout`` (default ``request_timeout``) bounds
        the whole call.
        """
        timeout = self.request_timeout if timeout is None else timeout
        deadline = anyio.current_time() + timeout
        retry_after_send = not isinstance(message, _NOT_IDEMPOTENT)
        attempts = len(self._targets) + 1
        while True:
            attempts -= 1
            left = deadline - anyio.current_time()
            if left <= 0:
                raise DeadlineExceeded(f"no answer from any gateway within {timeout:g}s")
            try:
                with anyio.fail_after(left):
                    conn = await self._connection()
            except TimeoutError:
                raise DeadlineExceeded(f"no gateway connection within {timeout:g}s") from None
            try:
                return await conn.request(message, deadline - anyio.current_time())
            except _NotSent as exc:
                if attempts <= 0:
                    raise GatewayUnreachable(exc.message) from None
            except ConnectionFailed as exc:
                if not retry_after_send:
                    raise ConnectionFailed(
                        f"{exc.message}; the {type(message).__name__} request was sent and may "
                        "or may not have been applied (not retried: it is not idempotent)"
                    ) from None
                if attempts <= 0:
                    raise

    async def _expect(
        self,
        message: Any,
        kind: type[Any],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        result = await self.request(message, timeout=timeout)
        if not isinstance(result, kind):
            raise Internal(f"unexpected answer {type(result).__name__} to {type(message).__name__}")
        return result

    # --- cluster ------------------------------------------------------------------------------

    async def append(self, partition_id: int, records: Sequence[bytes]) -> list[tuple[int, int]]:
        """Append raw records to a partition run by an embedder's state machine (at its leader's
        gateway); returns their positions (entry index, slot), consecutive in one entry and in
        the order given, once committed and applied. A job engine partition refuses them
        (:class:`Unimplemented`)."""
        result = await self._expect(AppendRequest(partition_id, tuple(records)), AppendResponse)
        return list(result.positions)

    async def rebalance(self) -> RebalanceResponse:
        """Ask leaders that are not their partition's primary to hand over to the primary."""
        result: RebalanceResponse = await self._expect(RebalanceRequest(), RebalanceResponse)
        return result

    async def topology(self) -> Topology:
        result: Topology = await self._expect(TopologyRequest(), Topology)
        return result

    # --- jobs ---------------------------------------------------------------------------------

    async def create_job(
        self,
        type: str,
        *,
        retries: int = 3,
        variables: Mapping[str, Any] | None = None,
        custom_headers: Mapping[str, str] | None = None,
    ) -> int:
        """Create a job; returns its key once the job is committed on its partition.

        Not retried once sent (a lost connection raises :class:`ConnectionFailed`), so a key
        returned here belongs to exactly one job and an error means "maybe not created".
        """
        _check(bool(type), "job type must not be empty")
        _check(retries >= 0, f"retries must be >= 0, got {retries}")
        command = CreateJob(type, retries, dict(variables or {}), dict(custom_headers or {}))
        result: JobKey = await self._expect(command, JobKey)
        return result.key

    async def activate_jobs(
        self,
        type: str,
        *,
        worker: str,
        max_jobs: int = 32,
        timeout: float = 300.0,  # noqa: ASYNC109 - the jobs' lease, not this call's
        fetch_variables: Sequence[str] = (),
        request_timeout: float = 10.0,
    ) -> list[Job]:
        """Activate up to ``max_jobs`` jobs of ``type`` for ``worker`` for ``timeout`` seconds.

        Long-polls: answers as soon as a job is available, or with ``[]`` after
        ``request_timeout`` seconds.
        """
        _check(bool(type), "job type must not be empty")
        _check(max_jobs >= 1, f"max_jobs must be >= 1, got {max_jobs}")
        _check(timeout > 0 and math.isfinite(timeout), f"timeout must be > 0, got {timeout}")
        _check(request_timeout >= 0, f"request_timeout must be >= 0, got {request_timeout}")
        command = ActivateJobs(type, worker, max_jobs, float(timeout), tuple(fetch_variables))
        result: ActivatedJobs = await self._expect(
            ActivateJobsRequest(command, float(request_timeout)),
            ActivatedJobs,
            timeout=request_timeout + max(ACTIVATE_GRACE, self.request_timeout),
        )
        return list(result.jobs)

    async def complete_job(self, key: int, variables: Mapping[str, Any] | None = None) -> Job:
        """Complete an activated job, merging ``variables`` into the job's."""
        result: Job = await self._expect(CompleteJob(key, dict(variables or {})), Job)
        return result

    async def fail_job(
        self,
        key: int,
        *,
        retries: int,
        error_message: str = "",
        retry_backoff: float = 0.0,
        variables: Mapping[str, Any] | None = None,
    ) -> Job:
        """Report a failure; ``retries`` is the new count (0: incident). The job is activatable
        again after ``retry_backoff`` seconds."""
        _check(retries >= 0, f"retries must be >= 0, got {retries}")
        _check(retry_backoff >= 0, f"retry_backoff must be >= 0, got {retry_backoff}")
        command = FailJob(key, retries, error_message, float(retry_backoff), dict(variables or {}))
        result: Job = await self._expect(command, Job)
        return result

    async def throw_error(
        self,
        key: int,
        error_code: str,
        error_message: str = "",
        variables: Mapping[str, Any] | None = None,
    ) -> Job:
        """Report a business error: the job is not retried."""
        command = ThrowError(key, error_code, error_message, dict(variables or {}))
        result: Job = await self._expect(command, Job)
        return result

    async def update_job_retries(self, key: int, retries: int) -> Job:
        _check(retries >= 0, f"retries must be >= 0, got {retries}")
        result: Job = await self._expect(UpdateJobRetries(key, retries), Job)
        return result

    async def update_job_timeout(self, key: int, timeout: float) -> Job:  # noqa: ASYNC109
        """Extend (or shorten) an activated job's lease: it ends ``timeout`` seconds from now."""
        _check(timeout > 0 and math.isfinite(timeout), f"timeout must be > 0, got {timeout}")
        result: Job = await self._expect(UpdateJobTimeout(key, float(timeout)), Job)
        return result

    def worker(
        self,
        job_type: str,
        handler: Callable[[Job], Awaitable[Mapping[str, Any] | None]],
        **options: Any,
    ) -> Worker:
        """A :class:`~trio_zeebe.worker.Worker` for ``job_type`` (see there for the options)."""
        from .worker import Worker

        return Worker(self, job_type, handler, **options)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidArgument(message)
