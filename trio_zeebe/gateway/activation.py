"""``Gateway.ActivateJobs``: Zeebe's round-robin activation with long polling (§1.5).

One pass asks the partitions in round-robin order (a rotating start per job type; with the
broker's ``network.new_work_partitions = "local-first"`` the partitions this broker leads come
first, :meth:`~.router.CommandRouter.partition_order`) for the jobs still missing: the request
is re-encoded per partition with ``maxJobsToActivate`` set to the remaining count. Every
partition that returns jobs yields its own ``ActivateJobsResponse`` on the stream at once. A
pass that activated a job completes the call. A pass that found none:

* RESOURCE_EXHAUSTED if any partition refused with back-pressure (Zeebe's text);
* with ``requestTimeout < 0`` the call completes (empty) after that one pass;
* else the request waits for a jobs-available notice for its type (:mod:`.longpoll`), re-probing
  every ``probe_timeout``, until ``requestTimeout`` (0: the gateway's 10 s default) passes, and
  then completes empty with OK.

Jobs are never lost to a client that went away: each partition's activation runs shielded from
the call's cancellation, and jobs that could not be sent (the client reset the stream or
disconnected, or did not read within :data:`SEND_TIMEOUT`) are handed back with a FailJob that
keeps their retries (no back-off), so they are activatable again at once; nothing further is
activated for a call that ended.
"""

from __future__ import annotations

import itertools
import logging

import trio

from ..engine.commands import CommandType
from ..grpc.status import GrpcError, StatusCode
from ..proto import gateway_pb2 as gw
from .answers import payload, response_bytes
from .grpc_call import ServerCall
from .grpc_services import Send, parse_request
from .refusals import EXHAUSTED, Status
from .router import CommandRouter
from .tasks import CallTasks

log = logging.getLogger("trio_zeebe.gateway.activation")

DEFAULT_LONG_POLL = 10.0  # Zeebe: longPolling.timeout 10000 ms
PROBE_TIMEOUT = 10.0  # Zeebe: longPolling.probeTimeout 10000 ms
SEND_TIMEOUT = 10.0
ATTEMPT_MIN = 1.0  # one partition's share of a pass gets at least this long
HAND_BACK_TIMEOUT = 15.0


class JobActivator:
    """Serves ActivateJobs calls through ``router``; :meth:`run` hosts the hand-backs."""

    def __init__(
        self,
        router: CommandRouter,
        *,
        long_poll: float = DEFAULT_LONG_POLL,
        probe_timeout: float = PROBE_TIMEOUT,
        max_message_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.router = router
        self.long_poll = long_poll
        self.probe_timeout = probe_timeout
        self.max_message_bytes = max_message_bytes
        self.handed_back = 0
        self._rotation: dict[str, itertools.count[int]] = {}
        self._tasks = CallTasks()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._tasks.run(task_status=task_status)

    async def activate(self, data: bytes, call: ServerCall, send: Send[bytes]) -> None:
        request = parse_request(gw.ActivateJobsRequest, data, "ActivateJobs")
        if request.requestTimeout == 0:
            poll: float | None = self.long_poll
        elif request.requestTimeout < 0:
            poll = None  # one pass, no long polling
        else:
            poll = request.requestTimeout / 1000
        now = trio.current_time()
        deadline = now + (poll or 0.0)
        waiters = self.router.waiters
        while True:
            # Registered before asking, so a notice arriving meanwhile is not lost.
            woken = waiters.register(request.type)
            try:
                activated, exhausted = await self._pass(request, call, send)
                if activated:
                    return
                if exhausted:
                    raise GrpcError(
                        StatusCode.RESOURCE_EXHAUSTED,
                        f"Expected to activate jobs of type '{request.type}', but no jobs "
                        "available and at least one broker returned 'RESOURCE_EXHAUSTED'. "
                        "Please try again later.",
                    )
                now = trio.current_time()
                if poll is None or now >= deadline:
                    return
                with trio.move_on_at(min(deadline, now + self.probe_timeout)):
                    await woken.wait()
                if trio.current_time() >= deadline and not woken.is_set():
                    return
            finally:
                waiters.unregister(request.type, woken)

    async def _pass(
        self, request: gw.ActivateJobsRequest, call: ServerCall, send: Send[bytes]
    ) -> tuple[int, bool]:
        """One round over the partitions: (jobs sent, whether any partition was exhausted)."""
        rotation = self._rotation.setdefault(request.type, itertools.count())
        order = self.router.partition_order(next(rotation))
        if len(self._rotation) > 10_000:  # job types are client input: keep this bounded
            self._rotation.clear()
        sent = 0
        exhausted = False
        for pid in order:
            missing = request.maxJobsToActivate - sent
            if missing <= 0 and request.maxJobsToActivate > 0:
                break
            if _gone(call):
                break
            ask = gw.ActivateJobsRequest()
            ask.CopyFrom(request)
            if request.maxJobsToActivate > 0:
                ask.maxJobsToActivate = missing
            # The leader's answer must not be lost to a cancellation here: its jobs would stay
            # activated for nobody until their timeout.
            with trio.CancelScope(shield=True):
                attempt_deadline = trio.current_time() + max(
                    ATTEMPT_MIN,
                    min(self.router.request_timeout, call.time_remaining() or ATTEMPT_MIN),
                )
                reply = await self.router.on_partition(
                    pid,
                    payload(CommandType.ACTIVATE_JOBS, ask.SerializeToString()),
                    attempt_deadline,
                )
            if reply.status in EXHAUSTED:
                exhausted = True
                continue
            if reply.status != Status.OK:
                log.debug("activation on partition %d: %s %s", pid, reply.status, reply.message)
                continue  # not leading / unreachable / leader lost: the next pass re-resolves
            body = response_bytes(reply.result)  # a rejection (bad request) ends the call
            response = gw.ActivateJobsResponse.FromString(body)
            if not response.jobs:
                continue
            if _gone(call):
                self.hand_back(response.jobs, "Failed to send activated jobs to client")
                break
            if not await self._send(response, body, send):
                self.hand_back(response.jobs, "Failed to send activated jobs to client")
                break
            sent += len(response.jobs)
        return sent, exhausted

    async def _send(
        self, response: gw.ActivateJobsResponse, body: bytes, send: Send[bytes]
    ) -> bool:
        """Send one partition's jobs (in several responses if they exceed the message size)."""
        chunks = [body] if len(body) <= self.max_message_bytes else self._split(response)
        for i, chunk in enumerate(chunks):
            delivered = False
            with trio.CancelScope(shield=True), trio.move_on_after(SEND_TIMEOUT):
                try:
                    await send(chunk)
                    delivered = True
                except Exception as exc:  # the stream is gone
                    log.debug("activated jobs not sent: %r", exc)
            if not delivered:
                if i:  # the first chunks went out: hand back only the rest
                    rest = gw.ActivateJobsResponse()
                    for later in chunks[i:]:
                        rest.MergeFromString(later)
                    self.hand_back(rest.jobs, "Failed to send activated jobs to client")
                    return True  # what went out counts; the call is over anyway
                return False
        return True

    def _split(self, response: gw.ActivateJobsResponse) -> list[bytes]:
        chunks: list[bytes] = []
        current = gw.ActivateJobsResponse()
        for job in response.jobs:
            size = job.ByteSize() + 8
            if current.jobs and current.ByteSize() + size > self.max_message_bytes:
                chunks.append(current.SerializeToString())
                current = gw.ActivateJobsResponse()
            current.jobs.append(job)
        if current.jobs:
            chunks.append(current.SerializeToString())
        return chunks

    def hand_back(self, jobs: object, reason: str) -> None:
        """FailJob each job with its retries and no back-off: activatable again at once."""
        if self._tasks.nursery is None:
            return
        for job in jobs:  # type: ignore[attr-defined]
            fail = gw.FailJobRequest(
                jobKey=job.key, retries=job.retries, errorMessage=reason, retryBackOff=0
            )
            self._tasks.nursery.start_soon(self._fail, job.key, fail.SerializeToString())

    async def _fail(self, key: int, request: bytes) -> None:
        self.handed_back += 1
        try:
            pid = self.router.partition_of_key(key)
            deadline = trio.current_time() + HAND_BACK_TIMEOUT
            await self.router.keyed(pid, payload(CommandType.FAIL_JOB, request), deadline)
        except GrpcError as exc:
            log.info("could not hand job %d back: %s", key, exc.message)


def _gone(call: ServerCall) -> bool:
    """The call ended (client reset, deadline, shutdown): nothing more is activated for it."""
    return call.cancelled
