"""Job workers: long-poll jobs of one type, run a handler per job, complete or fail each job.

    async def charge(job: Job) -> dict[str, Any]:
        return {"charged": job.variables["amount"]}

    async with Client(addresses, ca=ca) as client, client.worker("payment", charge):
        await anyio.sleep_forever()      # or: await client.worker(...).run()

Behaviour (anyio: runs under trio and under asyncio):

* At most ``concurrency`` handlers run at once. The worker only asks for as many jobs as it has
  free slots (at most ``max_jobs`` per request), so an activated job never waits for a slot while
  its lease (``timeout`` seconds) runs down; it asks again once a quarter of its slots are free.
* A handler returns the variables to complete the job with (a mapping, or None for none).
* A handler that raises :class:`JobError` throws that business error (the job is not retried).
  Any other exception fails the job with ``retries - 1`` (an incident at 0), the exception text
  as ``error_message`` and a back-off of ``min(backoff_max, backoff_base * 2**n)`` seconds, where
  ``n`` is how often this worker has already seen this job fail (0, 1, 2, ...; the count lives in
  the worker, bounded, and is forgotten when the job completes).
* A complete or fail that the gateway refuses (the job timed out and went elsewhere, or was
  completed already) or that cannot be delivered is logged and counted, never fatal: the engine
  re-offers the job when its lease ends (at-least-once; make handlers idempotent).
* Activation errors that may pass (unavailable, deadline, back-pressure) are retried with a
  capped exponential pause; errors that will not pass (invalid argument, unimplemented, internal)
  end the worker with that exception.
* Cancellation stops the worker: polling and running handlers are cancelled within its task
  group (no detached tasks); jobs activated but not finished are re-offered after their lease.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import anyio
import anyio.abc

from .errors import ClientError, DeadlineExceeded, ResourceExhausted, Unavailable
from .jobs import Job


class JobClient(Protocol):
    """What a worker needs of its client (:class:`~.client.Client` is one)."""

    async def activate_jobs(
        self,
        type: str,
        *,
        worker: str,
        max_jobs: int = ...,
        timeout: float = ...,  # noqa: ASYNC109 - the jobs' lease, not this call's
        fetch_variables: Sequence[str] = ...,
        request_timeout: float = ...,
    ) -> list[Job]: ...

    async def complete_job(self, key: int, variables: Mapping[str, Any] | None = ...) -> None: ...

    async def fail_job(
        self,
        key: int,
        *,
        retries: int,
        error_message: str = ...,
        retry_backoff: float = ...,
        variables: Mapping[str, Any] | None = ...,
    ) -> None: ...

    async def throw_error(
        self,
        key: int,
        error_code: str,
        error_message: str = ...,
        variables: Mapping[str, Any] | None = ...,
    ) -> None: ...


log = logging.getLogger("trio_zeebe.client.worker")

JobHandler = Callable[[Job], Awaitable[Mapping[str, Any] | None] | Mapping[str, Any] | None]
_TRANSIENT = (Unavailable, DeadlineExceeded, ResourceExhausted)
_MAX_REMEMBERED_FAILURES = 10_000
_POLL_PAUSE_MIN = 0.05


class JobError(Exception):
    """Raise from a handler to throw a business error (``error_code``) instead of failing."""

    def __init__(self, error_code: str, message: str = "") -> None:
        super().__init__(message or error_code)
        self.error_code = error_code
        self.message = message


def retry_backoff(failures: int, base: float, cap: float) -> float:
    """Capped exponential back-off: ``min(cap, base * 2**failures)`` seconds."""
    return min(cap, base * 2.0 ** min(failures, 62))


def default_worker_name(job_type: str) -> str:
    return f"{job_type}@{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Processes jobs of ``job_type`` with ``handler``; ``run()`` or ``async with``."""

    def __init__(
        self,
        client: JobClient,
        job_type: str,
        handler: JobHandler,
        *,
        max_jobs: int = 32,
        concurrency: int = 16,
        timeout: float = 300.0,
        poll_timeout: float = 10.0,
        worker_name: str | None = None,
        fetch_variables: Sequence[str] = (),
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        poll_pause_max: float = 5.0,
    ) -> None:
        if max_jobs < 1 or concurrency < 1:
            raise ValueError("max_jobs and concurrency must be >= 1")
        if timeout <= 0 or poll_timeout < 0 or backoff_base < 0 or backoff_max < 0:
            raise ValueError("timeout must be > 0; poll_timeout and back-offs >= 0")
        self.client = client
        self.job_type = job_type
        self.handler = handler
        self.max_jobs = max_jobs
        self.concurrency = concurrency
        self.timeout = timeout
        self.poll_timeout = poll_timeout
        self.worker_name = worker_name or default_worker_name(job_type)
        self.fetch_variables = tuple(fetch_variables)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.poll_pause_max = poll_pause_max
        # Counters for monitoring and tests.
        self.activated = 0
        self.completed = 0
        self.failed = 0
        self.thrown = 0
        self.report_errors = 0  # complete/fail/throw requests that were refused or lost
        self.running = 0
        self._poll_threshold = max(1, min(max_jobs, concurrency // 4))
        self._failures: dict[int, int] = {}
        self._slot_freed = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None

    async def run(self) -> None:
        """Poll and process jobs until cancelled (or until a non-transient activation error)."""
        try:
            async with anyio.create_task_group() as tg:
                await self._poll(tg)
        except BaseExceptionGroup as group:
            raise _single(group) from None

    async def _poll(self, tg: anyio.abc.TaskGroup) -> None:
        limiter = anyio.CapacityLimiter(self.concurrency)
        pause = 0.0
        while True:
            # Ask again once a quarter of the slots (or max_jobs) are free, not per freed slot:
            # fewer, fuller activations (Zeebe's workers poll at a threshold, too).
            while self.concurrency - self.running < self._poll_threshold:
                self._slot_freed = anyio.Event()
                await self._slot_freed.wait()
            wanted = min(self.max_jobs, self.concurrency - self.running)
            try:
                jobs = await self.client.activate_jobs(
                    self.job_type,
                    worker=self.worker_name,
                    max_jobs=wanted,
                    timeout=self.timeout,
                    fetch_variables=self.fetch_variables,
                    request_timeout=self.poll_timeout,
                )
            except _TRANSIENT as exc:
                pause = min(self.poll_pause_max, max(_POLL_PAUSE_MIN, pause * 2))
                log.info("worker %s: activation failed (%s); retry in %.2fs", self, exc, pause)
                await anyio.sleep(pause)
                continue
            pause = 0.0
            self.activated += len(jobs)
            for job in jobs:
                self.running += 1  # counted now so the next request asks for fewer
                tg.start_soon(self._process, job, limiter)

    async def _process(self, job: Job, limiter: anyio.CapacityLimiter) -> None:
        try:
            async with limiter:
                await self._handle(job)
        finally:
            self.running -= 1
            self._slot_freed.set()

    async def _handle(self, job: Job) -> None:
        try:
            result = self.handler(job)
            if inspect.isawaitable(result):
                result = await result
            if result is not None and not isinstance(result, Mapping):
                raise TypeError(f"handler returned {type(result).__name__}, not a dict or None")
        except JobError as exc:
            await self._report(job, "throw", exc.error_code, exc.message)
            return
        except Exception as exc:
            await self._report_failure(job, exc)
            return
        await self._report(job, "complete", result)

    async def _report_failure(self, job: Job, exc: Exception) -> None:
        failures = self._failures.pop(job.key, 0)
        retries = max(job.retries - 1, 0)
        backoff = retry_backoff(failures, self.backoff_base, self.backoff_max)
        message = str(exc) or type(exc).__name__
        log.info("worker %s: job %d failed (%s); %d retries left", self, job.key, message, retries)
        if retries > 0:
            self._failures[job.key] = failures + 1
            while len(self._failures) > _MAX_REMEMBERED_FAILURES:
                del self._failures[next(iter(self._failures))]
        await self._report(job, "fail", retries, message, backoff)

    async def _report(self, job: Job, what: str, *args: Any) -> None:
        try:
            if what == "complete":
                await self.client.complete_job(job.key, args[0])
                self._failures.pop(job.key, None)
                self.completed += 1
            elif what == "fail":
                retries, message, backoff = args
                await self.client.fail_job(
                    job.key, retries=retries, error_message=message, retry_backoff=backoff
                )
                self.failed += 1
            else:
                await self.client.throw_error(job.key, args[0], args[1])
                self.thrown += 1
        except ClientError as exc:
            # The job timed out and went elsewhere, or the answer was lost: the engine re-offers
            # it when its lease ends, so this is not the worker's to fix.
            self.report_errors += 1
            log.warning("worker %s: cannot %s job %d: %s", self, what, job.key, exc)
        except Exception:  # e.g. variables that cannot be encoded: one job, not the worker
            self.report_errors += 1
            log.exception("worker %s: cannot %s job %d", self, what, job.key)

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None, "the worker was not entered"
        tg, self._tg = self._tg, None
        tg.cancel_scope.cancel()
        try:
            return await tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            raise _single(group) from None

    def __str__(self) -> str:
        return f"{self.worker_name}/{self.job_type}"


def _single(group: BaseExceptionGroup[Any]) -> BaseException:
    """The worker's own failure comes out as itself, not wrapped in an exception group."""
    leaves = list(_leaves(group))
    return leaves[0] if len(leaves) == 1 else group


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc
