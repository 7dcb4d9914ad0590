"""``Gateway.StreamActivatedJobs``: job push to registered worker streams (reference §1.6).

Gateway side (:class:`JobStreams`): a client's stream is registered with every broker. Each
gateway sends its whole set of open streams (:class:`StreamsUpdate`) to every broker when it
changes and every :data:`REFRESH` seconds; a broker forgets a gateway's streams that were not
refreshed for :data:`EXPIRY` seconds (a gateway that died), so no stream outlives its gateway
for long.

Broker side (:class:`JobPusher`): when a local serving leader announces that jobs of a type
became activatable and a stream for that type is registered, the leader proposes an activation
on behalf of the stream -- an ordinary ``ActivateJobs`` command with the stream's worker,
timeout and variables, so it is logged and every replica agrees who holds the jobs -- and
pushes the activated jobs to the stream's gateway (:class:`PushJobs`). Streams of one type are
served in turn. Jobs the gateway cannot deliver (the stream is gone, or its queue is full because
the client does not read: HTTP/2 flow control is the client's back-pressure) are handed back
with a FailJob that keeps their retries, so polling workers or other streams get them at once.

Unlike Zeebe, a push activates the type's backlog too (in batches of :data:`PUSH_BATCH`), not
only the job whose arrival triggered it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import attrs
import trio

from ..codec import wire
from ..engine.commands import CommandType
from ..grpc.status import GrpcError, StatusCode
from ..partitions.manager import PartitionManager
from ..proto import gateway_pb2 as gw
from ..transport.api import Network, Peer, TransportError
from .answers import payload, response_bytes
from .grpc_call import ServerCall
from .grpc_services import Send, parse_request
from .tasks import CallTasks

log = logging.getLogger("trio_zeebe.gateway.jobstream")

REFRESH = 5.0
EXPIRY = 3 * REFRESH
PUSH_BATCH = 32
STREAM_QUEUE = 64  # jobs a gateway holds per stream while its client reads
PUSH_TIMEOUT = 5.0
COOLDOWN = 1.0  # a stream that could not take jobs is passed over this long


@attrs.frozen
class StreamInfo:
    stream_id: int
    type: str
    worker: str
    timeout: int  # ms
    fetch_variables: tuple[str, ...] = ()
    tenant_ids: tuple[str, ...] = ()


@wire("g.streams")
@attrs.frozen
class StreamsUpdate:
    """Gateway to brokers: all of the sender's open job streams (replaces what it sent before)."""

    node: int
    streams: tuple[StreamInfo, ...]


@wire("g.push")
@attrs.frozen
class PushJobs:
    """Leader to a stream's gateway: ``ActivatedJob`` messages for stream ``stream_id``."""

    stream_id: int
    jobs: tuple[bytes, ...]


@wire("g.push.r")
@attrs.frozen
class PushReply:
    """Indices of the pushed jobs the gateway did not take (to be handed back)."""

    undelivered: tuple[int, ...]


class _Stream:
    __slots__ = ("info", "receive", "send")

    def __init__(self, info: StreamInfo) -> None:
        self.info = info
        self.send, self.receive = trio.open_memory_channel[bytes](STREAM_QUEUE)


class JobStreams:
    """This gateway's open StreamActivatedJobs calls."""

    def __init__(
        self,
        partitions: PartitionManager,
        network: Network,
        hand_back: Callable[[list[gw.ActivatedJob], str], None],
    ) -> None:
        self.partitions = partitions
        self.network = network
        self.hand_back = hand_back
        self.local_pusher: JobPusher | None = None
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count(1)
        self._changed = trio.Event()
        network.on(PushJobs, self._on_push)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep every broker told about this gateway's streams."""
        task_status.started()
        while True:
            self._changed = trio.Event()
            self._publish()
            with trio.move_on_after(REFRESH):
                await self._changed.wait()

    def _publish(self) -> None:
        update = StreamsUpdate(
            self.partitions.node_id, tuple(s.info for s in self._streams.values())
        )
        if self.local_pusher is not None:
            self.local_pusher.update(update)
        for node, address in list(self.partitions.addresses.items()):
            if node != self.partitions.node_id:
                self.network.send(address, update)

    async def stream(self, data: bytes, call: ServerCall, send: Send[bytes]) -> None:
        request = parse_request(gw.StreamActivatedJobsRequest, data, "StreamActivatedJobs")
        text = "Expected to stream activated jobs with {} to be {}, but it was {}"
        if not request.type:
            raise GrpcError(StatusCode.INVALID_ARGUMENT, text.format("type", "present", "''"))
        if request.timeout < 1:
            raise GrpcError(
                StatusCode.INVALID_ARGUMENT,
                text.format("timeout", "greater than zero", f"'{request.timeout}'"),
            )
        stream_id = next(self._ids)
        info = StreamInfo(
            stream_id,
            request.type,
            request.worker,
            request.timeout,
            tuple(request.fetchVariable),
            tuple(request.tenantIds),
        )
        entry = _Stream(info)
        self._streams[stream_id] = entry
        self._changed.set()
        pending = b""
        try:
            async with entry.receive:
                async for job in entry.receive:
                    pending = job
                    await send(job)
                    pending = b""
        finally:
            del self._streams[stream_id]
            self._changed.set()
            entry.send.close()
            left = [pending] if pending else []
            while True:
                try:
                    left.append(entry.receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
            if left:
                self.hand_back([gw.ActivatedJob.FromString(j) for j in left], "job stream closed")

    def deliver(self, message: PushJobs) -> PushReply:
        entry = self._streams.get(message.stream_id)
        if entry is None:
            return PushReply(tuple(range(len(message.jobs))))
        undelivered = []
        for i, job in enumerate(message.jobs):
            try:
                entry.send.send_nowait(job)
            except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                undelivered.append(i)
        return PushReply(tuple(undelivered))

    async def _on_push(self, peer: Peer, message: PushJobs) -> PushReply:
        return self.deliver(message)

    @property
    def open_streams(self) -> int:
        return len(self._streams)


class JobPusher:
    """Broker side: pushes newly activatable jobs of this broker's leaders to streams."""

    def __init__(self, partitions: PartitionManager, network: Network, local: JobStreams) -> None:
        self.partitions = partitions
        self.network = network
        self.local = local
        local.local_pusher = self
        self.pushed = 0
        self.returned = 0
        self._by_node: dict[int, tuple[float, tuple[StreamInfo, ...]]] = {}
        self._turn = itertools.count()
        self._busy: set[tuple[int, str]] = set()
        self._again: set[tuple[int, str]] = set()
        self._cooling: dict[tuple[int, int], float] = {}
        self._tasks = CallTasks()
        network.on(StreamsUpdate, self._on_update)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._tasks.run(task_status=task_status)

    def update(self, message: StreamsUpdate) -> None:
        self._by_node[message.node] = (trio.current_time(), message.streams)

    async def _on_update(self, peer: Peer, message: StreamsUpdate) -> None:
        self.update(message)

    def streams_of(self, job_type: str) -> list[tuple[int, StreamInfo]]:
        now = trio.current_time()
        found: list[tuple[int, StreamInfo]] = []
        for node, (seen, streams) in list(self._by_node.items()):
            if now - seen > EXPIRY:
                del self._by_node[node]
                continue
            found.extend(
                (node, s)
                for s in streams
                if s.type == job_type and self._cooling.get((node, s.stream_id), 0.0) <= now
            )
        return found

    def jobs_available(self, pid: int, types: set[str] | None) -> None:
        """The announcer's listener: jobs of ``types`` (None: any) are activatable on ``pid``."""
        if self._tasks.nursery is None or not self._by_node:
            return
        if types is None:
            types = {s.type for _, streams in self._by_node.values() for s in streams}
        for job_type in types:
            if not self.streams_of(job_type):
                continue
            key = (pid, job_type)
            if key in self._busy:
                self._again.add(key)
            else:
                self._busy.add(key)
                self._tasks.nursery.start_soon(self._push, pid, job_type)

    async def _push(self, pid: int, job_type: str) -> None:
        key = (pid, job_type)
        try:
            while True:
                self._again.discard(key)
                full = await self._push_once(pid, job_type)
                if not full and key not in self._again:
                    return
        except Exception:
            log.exception("pushing jobs of type %r on partition %d failed", job_type, pid)
        finally:
            self._busy.discard(key)
            self._again.discard(key)

    async def _push_once(self, pid: int, job_type: str) -> bool:
        """One activation for the next stream of the type; whether it filled its batch."""
        streams = self.streams_of(job_type)
        processor = self.partitions.processor(pid)
        if not streams or processor is None or not processor.serving:
            return False
        node, info = streams[next(self._turn) % len(streams)]
        request = gw.ActivateJobsRequest(
            type=info.type,
            worker=info.worker,
            timeout=info.timeout,
            maxJobsToActivate=PUSH_BATCH,
            fetchVariable=list(info.fetch_variables),
            tenantIds=list(info.tenant_ids),
        )
        try:
            answer = await processor.submit(
                payload(CommandType.ACTIVATE_JOBS, request.SerializeToString())
            )
            response = gw.ActivateJobsResponse.FromString(response_bytes(answer))
        except Exception as exc:  # not leading any more, back-pressure, a rejection
            log.debug("push activation on partition %d refused: %r", pid, exc)
            return False
        if not response.jobs:
            return False
        message = PushJobs(info.stream_id, tuple(j.SerializeToString() for j in response.jobs))
        undelivered: tuple[int, ...] = tuple(range(len(message.jobs)))
        if node == self.partitions.node_id:
            undelivered = self.local.deliver(message).undelivered
        elif (address := self.partitions.addresses.get(node)) is not None:
            try:
                reply = await self.network.request(address, message, timeout=PUSH_TIMEOUT)
                if isinstance(reply, PushReply):
                    undelivered = reply.undelivered
            except TransportError as exc:
                log.debug("push to node %d failed: %s", node, exc)
        self.pushed += len(message.jobs) - len(undelivered)
        if undelivered:
            now = trio.current_time()
            self._cooling = {k: t for k, t in self._cooling.items() if t > now}
            self._cooling[(node, info.stream_id)] = now + COOLDOWN
        for i in undelivered:
            if 0 <= i < len(response.jobs):
                await self._return(processor.submit, response.jobs[i])
        return len(response.jobs) >= PUSH_BATCH and not undelivered

    async def _return(self, submit: Callable[[bytes], object], job: gw.ActivatedJob) -> None:
        self.returned += 1
        fail = gw.FailJobRequest(
            jobKey=job.key,
            retries=job.retries,
            errorMessage="the job stream could not take the job",
            retryBackOff=0,
        )
        try:
            await submit(payload(CommandType.FAIL_JOB, fail.SerializeToString()))  # type: ignore[misc]
        except Exception as exc:
            log.debug("could not return job %d: %r", job.key, exc)
