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
"""

from __future__ import annotations

import itertools
import math
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc

from . import codec
from .engine.records import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    FailJob,
    Job,
    JobKey,
    Rejection,
    ThrowError,
    UpdateJobRetries,
    UpdateJobTimeout,
)
from .gateway.messages import (
    MAGIC,
    ActivateJobsRequest,
    AppendRequest,
    AppendResponse,
    ErrorCode,
    ErrorResponse,
    RebalanceRequest,
    RebalanceResponse,
    Topology,
    TopologyRequest,
)
from .transport.api import split_address
from .transport.frames import FrameDecoder, FrameTooLarge, frame

if TYPE_CHECKING:
    from .worker import Worker

__all__ = [
    "Client",
    "ClientError",
    "ConnectionFailed",
    "DeadlineExceeded",
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


class _NotSent(ConnectionFailed):
    """The request provably never reached the gateway: always safe to retry elsewhere."""


_NOT_IDEMPOTENT = (CreateJob, AppendRequest)


def client_ssl_context(
    ca: str | None, cert: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """Verify the gateway against ``ca`` (or the system store); optional client certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


class _Connection:
    """One gateway connection: a writer lock, a reader task, pending requests by id."""

    def __init__(self, stream: anyio.abc.ByteStream, max_frame: int, name: str) -> None:
        self.stream = stream
        self.name = name
        self.decoder = FrameDecoder(max_frame)
        self.write_lock = anyio.Lock()
        self.pending: dict[int, anyio.Event] = {}
        self.results: dict[int, Any] = {}
        self.ids = itertools.count(1)
        self.broken: ClientError | None = None

    async def read_loop(self) -> None:
        try:
            while True:
                data = await self.stream.receive()
                self.decoder.feed(data)
                for payload in self.decoder.frames():
                    corr, message = self._parse(payload)
                    if corr in self.pending:
                        self.results[corr] = message
                        self.pending.pop(corr).set()
        except (
            anyio.EndOfStream,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            OSError,
            ssl.SSLError,
        ) as exc:
            why = str(exc) or type(exc).__name__
            self._fail(ConnectionFailed(f"connection to gateway {self.name} lost: {why}"))
        except (FrameTooLarge, codec.DecodeError) as exc:
            self._fail(ConnectionFailed(f"gateway {self.name} sent a malformed frame: {exc}"))

    @staticmethod
    def _parse(frame: bytes) -> tuple[int, Any]:
        body = codec.unpackb(frame)
        if not isinstance(body, list) or len(body) != 2 or not isinstance(body[0], int):
            raise codec.DecodeError("response is not [correlation id, message]")
        return body[0], codec.from_wire(body[1])

    def _fail(self, exc: ClientError) -> None:
        self.broken = exc
        for corr, event in self.pending.items():
            self.results[corr] = exc
            event.set()
        self.pending.clear()

    async def request(self, message: Any, timeout: float) -> Any:  # noqa: ASYNC109
        if self.broken is not None:
            raise _NotSent(self.broken.message)
        corr = next(self.ids)
        done = anyio.Event()
        self.pending[corr] = done
        data = frame(codec.packb([corr, codec.to_wire(message)]))
        try:
            with anyio.fail_after(timeout):
                async with self.write_lock:
                    if self.broken is not None:
                        raise _NotSent(self.broken.message)
                    try:
                        await self.stream.send(data)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                        # A failed send never wrote the frame's last bytes (or its TLS record),
                        # so the gateway cannot have decoded the request.
                        self.broken = ConnectionFailed(f"cannot send to gateway {self.name}: {exc}")
                        raise _NotSent(self.broken.message) from None
                await done.wait()
        except TimeoutError:
            raise DeadlineExceeded(f"no answer from gateway within {timeout:g}s") from None
        except BaseException:
            self.results.pop(corr, None)
            raise
        finally:
            self.pending.pop(corr, None)
        result = self.results.pop(corr)
        if isinstance(result, ClientError):
            raise result
        if isinstance(result, ErrorResponse | Rejection):
            raise error_from(result.code, result.message)
        return result


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
                except (OSError, ssl.SSLError, TimeoutError, anyio.BrokenResourceError) as exc:
                    errors.append(f"{host}:{port}: {_reason(exc)}")
            raise ConnectionFailed("cannot reach any gateway: " + "; ".join(errors))

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
                    raise ConnectionFailed(exc.message) from None
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
        """Append raw records to a partition (at its leader's gateway); returns their positions
        (entry index, offset) once committed."""
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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message}); pass the cluster CA"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if exc.__cause__ is not None:
        return _reason(exc.__cause__)  # anyio: "All connection attempts failed" from <cause>
    return str(exc) or type(exc).__name__
