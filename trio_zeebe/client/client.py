""":class:`Client`: the job and process commands of Zeebe's gateway API, and the extension's.

The client speaks gRPC (Zeebe's ``gateway_protocol.Gateway`` and ``trio_zeebe.v1.TrioZeebe``)
over one HTTP/2 connection on anyio, so it runs under trio and under asyncio; it fails over
between the gateway addresses it is given (:mod:`.connection`).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Self

from ..grpc.framing import MAX_MESSAGE_BYTES
from ..proto import gateway_pb2 as gw
from ..proto import trio_zeebe_pb2 as tz
from . import jobs, processes
from .connection import Connections, client_ssl_context
from .errors import Internal
from .jobs import EXTENSION, GATEWAY, Job, check
from .processes import (
    DecisionResult,
    Deployment,
    ProcessInstance,
    ProcessInstanceResult,
    RebalanceResponse,
    Resource,
    Topology,
)
from .worker import Worker

ACTIVATE_GRACE = 5.0
"""Seconds the client waits for a long poll beyond its ``request_timeout`` (network, routing)."""
WITH_RESULT_DEFAULT = 15.0  # the gateway's default when the request sets no timeout


class Client:
    """A gateway client. Use as ``async with Client(...) as client``.

    ``request_timeout`` bounds every request (seconds), failover included; a request that gets
    no answer in time raises :class:`~.errors.DeadlineExceeded`. Long polls and
    ``create_process_instance_with_result`` wait their own timeout plus ``ACTIVATE_GRACE``.
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
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        if not self.addresses:
            raise ValueError("no gateway address given")
        if insecure:
            context: ssl.SSLContext | None = None
        else:
            context = ssl_context or client_ssl_context(ca, cert, key)
            if ssl_context is not None:
                ssl_context.set_alpn_protocols(["h2"])
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self._conns = Connections(
            self.addresses,
            context,
            connect_timeout=connect_timeout,
            max_message_bytes=max_message_bytes,
        )

    async def __aenter__(self) -> Self:
        await self._conns.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._conns.close()

    @property
    def failovers(self) -> int:
        """How often a broken connection was replaced (diagnostics, tests)."""
        return self._conns.failovers

    async def call(
        self,
        path: str,
        request: bytes,
        *,
        idempotent: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> bytes:
        """One unary RPC by its full path; the response bytes (or a ClientError)."""
        return await self._conns.unary(
            path,
            request,
            timeout=self.request_timeout if timeout is None else timeout,
            idempotent=idempotent,
        )

    # --- jobs -----------------------------------------------------------------------------

    async def create_job(
        self,
        type: str,
        *,
        retries: int = 3,
        variables: Mapping[str, Any] | None = None,
        custom_headers: Mapping[str, str] | None = None,
    ) -> int:
        """Create a standalone job (the extension's CreateJob); returns its key once the job is
        committed on its partition. Not retried once sent (a lost connection raises
        :class:`~.errors.ConnectionFailed`): an error means "maybe not created"."""
        request = jobs.create_job(type, retries, variables, custom_headers)
        data = await self.call(EXTENSION + "CreateJob", request, idempotent=False)
        return int(tz.CreateJobResponse.FromString(data).key)

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
        ``request_timeout`` seconds (0: ask once, do not wait).
        """
        request = jobs.activate_jobs(
            type, worker, max_jobs, timeout, fetch_variables, request_timeout
        )
        wait = request_timeout + max(ACTIVATE_GRACE, self.request_timeout)
        found: list[Job] = []
        for message in await self._conns.stream_all(
            GATEWAY + "ActivateJobs", request, timeout=wait
        ):
            found.extend(jobs.job_from(j) for j in gw.ActivateJobsResponse.FromString(message).jobs)
        return found

    async def complete_job(self, key: int, variables: Mapping[str, Any] | None = None) -> None:
        """Complete an activated job, with ``variables`` for its element (merged as Zeebe
        merges job variables)."""
        await self.call(GATEWAY + "CompleteJob", jobs.complete_job(key, variables))

    async def fail_job(
        self,
        key: int,
        *,
        retries: int,
        error_message: str = "",
        retry_backoff: float = 0.0,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """Report a failure; ``retries`` is the new count (0: incident). The job is activatable
        again after ``retry_backoff`` seconds; ``variables`` are set local on the task."""
        request = jobs.fail_job(key, retries, error_message, retry_backoff, variables)
        await self.call(GATEWAY + "FailJob", request)

    async def throw_error(
        self,
        key: int,
        error_code: str,
        error_message: str = "",
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """Report a business error (caught by an error event, else an incident)."""
        request = jobs.throw_error(key, error_code, error_message, variables)
        await self.call(GATEWAY + "ThrowError", request)

    async def update_job_retries(self, key: int, retries: int) -> None:
        await self.call(GATEWAY + "UpdateJobRetries", jobs.update_job_retries(key, retries))

    async def update_job_timeout(self, key: int, timeout: float) -> None:  # noqa: ASYNC109
        """Extend (or shorten) an activated job's lease: it ends ``timeout`` seconds from now."""
        await self.call(GATEWAY + "UpdateJobTimeout", jobs.update_job_timeout(key, timeout))

    def worker(
        self,
        job_type: str,
        handler: Callable[[Job], Awaitable[Mapping[str, Any] | None] | Mapping[str, Any] | None],
        **options: Any,
    ) -> Worker:
        """A :class:`~.worker.Worker` for ``job_type`` (see there for the options)."""
        return Worker(self, job_type, handler, **options)

    # --- processes ------------------------------------------------------------------------

    async def deploy_resources(self, *resources: Resource) -> Deployment:
        """Deploy BPMN (and DMN) resources, each a path or ``(name, bytes)``. Not retried once
        sent."""
        request = processes.deploy_resources(resources)
        data = await self.call(GATEWAY + "DeployResource", request, idempotent=False)
        return processes.deployment_from(data)

    async def deploy_resource(self, resource: Resource) -> Deployment:
        return await self.deploy_resources(resource)

    async def create_process_instance(
        self,
        bpmn_process_id: str | None = None,
        *,
        key: int | None = None,
        version: int = -1,
        variables: Mapping[str, Any] | None = None,
    ) -> ProcessInstance:
        """Start an instance of the latest (or ``version``) definition of ``bpmn_process_id``,
        or of the definition with ``key``. Not retried once sent."""
        request = processes.create_instance(bpmn_process_id, key, version, variables)
        data = await self.call(
            GATEWAY + "CreateProcessInstance", request.SerializeToString(), idempotent=False
        )
        return processes.instance_from(data)

    async def create_process_instance_with_result(
        self,
        bpmn_process_id: str | None = None,
        *,
        key: int | None = None,
        version: int = -1,
        variables: Mapping[str, Any] | None = None,
        fetch_variables: Sequence[str] = (),
        request_timeout: float | None = None,
    ) -> ProcessInstanceResult:
        """Start an instance and wait until it completes (at most ``request_timeout`` seconds,
        default the gateway's 15 s: then DeadlineExceeded, the instance goes on)."""
        inner = processes.create_instance(bpmn_process_id, key, version, variables)
        wait = WITH_RESULT_DEFAULT if request_timeout is None else request_timeout
        check(wait > 0, f"request_timeout must be > 0, got {request_timeout}")
        request = gw.CreateProcessInstanceWithResultRequest(
            request=inner,
            requestTimeout=jobs.millis(wait, "request_timeout"),
            fetchVariables=list(fetch_variables),
        )
        data = await self.call(
            GATEWAY + "CreateProcessInstanceWithResult",
            request.SerializeToString(),
            idempotent=False,
            timeout=wait + ACTIVATE_GRACE,
        )
        return processes.result_from(data)

    async def publish_message(
        self,
        name: str,
        correlation_key: str,
        *,
        variables: Mapping[str, Any] | None = None,
        time_to_live: float = 0.0,
        message_id: str = "",
    ) -> int:
        """Publish a message (routed to its correlation key's partition, buffered for
        ``time_to_live`` seconds); returns its key. Not retried once sent (with a
        ``message_id`` a second publish would be refused as ALREADY_EXISTS)."""
        check(bool(name), "message name must not be empty")
        request = gw.PublishMessageRequest(
            name=name,
            correlationKey=correlation_key,
            timeToLive=jobs.millis(time_to_live, "time_to_live"),
            messageId=message_id,
            variables=jobs.document(variables),
        )
        data = await self.call(
            GATEWAY + "PublishMessage", request.SerializeToString(), idempotent=False
        )
        return int(gw.PublishMessageResponse.FromString(data).key)

    async def broadcast_signal(self, name: str, variables: Mapping[str, Any] | None = None) -> int:
        """Broadcast a signal to every partition; returns its key. Not retried once sent."""
        check(bool(name), "signal name must not be empty")
        request = gw.BroadcastSignalRequest(signalName=name, variables=jobs.document(variables))
        data = await self.call(
            GATEWAY + "BroadcastSignal", request.SerializeToString(), idempotent=False
        )
        return int(gw.BroadcastSignalResponse.FromString(data).key)

    async def cancel_process_instance(self, key: int) -> None:
        request = gw.CancelProcessInstanceRequest(processInstanceKey=key)
        await self.call(GATEWAY + "CancelProcessInstance", request.SerializeToString())

    async def set_variables(
        self, element_instance_key: int, variables: Mapping[str, Any], *, local: bool = False
    ) -> int:
        """Set variables on an element instance's scope (``local``) or propagate them up as
        Zeebe does; returns the key of the variable document update."""
        request = gw.SetVariablesRequest(
            elementInstanceKey=element_instance_key,
            variables=jobs.document(variables) or "{}",
            local=local,
        )
        data = await self.call(GATEWAY + "SetVariables", request.SerializeToString())
        return int(gw.SetVariablesResponse.FromString(data).key)

    async def evaluate_decision(
        self,
        decision_id: str | None = None,
        *,
        key: int | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> DecisionResult:
        """Evaluate the latest version of decision ``decision_id`` (or the decision with
        ``key``) with ``variables``. An evaluation that fails (a FEEL error, no matching rule
        with a hit policy that needs one) is an answer with ``failed_decision_id`` set, not an
        error; an unknown decision raises InvalidArgument. Retried after a lost connection
        (an evaluation changes no state)."""
        request = processes.evaluate_decision(decision_id, key, variables)
        data = await self.call(GATEWAY + "EvaluateDecision", request)
        return processes.decision_result_from(data)

    async def resolve_incident(self, incident_key: int) -> None:
        request = gw.ResolveIncidentRequest(incidentKey=incident_key)
        await self.call(GATEWAY + "ResolveIncident", request.SerializeToString())

    # --- the cluster ----------------------------------------------------------------------

    async def topology(self) -> Topology:
        """The cluster as the answering broker sees it (the extension's ClusterStatus: what
        ``python -m trio_zeebe status`` prints). Zeebe's own shape: :meth:`gateway_topology`."""
        data = await self.call(EXTENSION + "ClusterStatus", b"")
        return processes.topology_from(data)

    status = topology

    async def gateway_topology(self) -> gw.TopologyResponse:
        """Zeebe's ``Topology`` answer, as the message zbctl and the Zeebe clients read."""
        return gw.TopologyResponse.FromString(await self.call(GATEWAY + "Topology", b""))

    async def rebalance(self) -> RebalanceResponse:
        """Ask leaders that are not their partition's primary to hand over to the primary."""
        return processes.rebalance_from(await self.call(EXTENSION + "Rebalance", b""))

    async def append(self, partition_id: int, records: Sequence[bytes]) -> list[tuple[int, int]]:
        """Append raw records to a partition run by an embedder's state machine (through its
        leader's gateway); their positions (entry index, slot), consecutive in one entry and
        in the order given, once committed and applied. Not retried once sent."""
        positions, _ = await self.append_with_answers(partition_id, records)
        return positions

    async def append_with_answers(
        self, partition_id: int, records: Sequence[bytes]
    ) -> tuple[list[tuple[int, int]], list[bytes]]:
        """:meth:`append`, and the state machine's answer to each record."""
        request = tz.AppendRecordsRequest(partitionId=partition_id, records=list(records))
        data = await self.call(
            EXTENSION + "AppendRecords", request.SerializeToString(), idempotent=False
        )
        response = tz.AppendRecordsResponse.FromString(data)
        if len(response.positions) != len(records):
            raise Internal(f"{len(response.positions)} positions for {len(records)} records")
        return [(p.index, p.offset) for p in response.positions], list(response.answers)
