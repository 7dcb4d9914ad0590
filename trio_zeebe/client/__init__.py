"""The trio_zeebe client: Zeebe's gateway API over gRPC, on anyio (runs under trio and asyncio).

    async with Client(["127.0.0.1:26500", "127.0.0.1:26510"], ca="certs/ca.pem") as client:
        await client.deploy_resource("order.bpmn")
        await client.create_process_instance("order", variables={"amount": 12})
        for job in await client.activate_jobs("payment", worker="me", max_jobs=10):
            await client.complete_job(job.key, {"paid": True})

The client talks to any broker's gateway (the gateway routes to partition leaders) over one
HTTP/2 connection; given several addresses it fails over to the next when the connection
breaks, and retries a request there when that is safe:

* a request that never reached a gateway (the connection was already broken, or the request was
  refused before it was read) is always retried;
* creates are not idempotent -- CreateJob, CreateProcessInstance(+WithResult), DeployResource,
  AppendRecords: once sent, a lost connection surfaces as :class:`ConnectionFailed` (an
  :class:`Unavailable`) because the job, instance or deployment may or may not exist;
* every other request is retried after a lost connection: ActivateJobs at worst leaves jobs
  activated until their timeout (the engine's at-least-once contract), and a duplicate
  key-addressed command is refused by the engine (a completed job is gone: NotFound) or sets the
  same values again.

Results are frozen attrs classes (:class:`Job`, :class:`Deployment`, :class:`ProcessInstance`,
...); times are seconds (milliseconds on the wire), variables dicts (JSON strings on the wire).

Errors: one :class:`ClientError` subclass per gRPC status kind (``exc.code`` is the code's
name): :class:`NotFound`, :class:`InvalidState` (FAILED_PRECONDITION), :class:`InvalidArgument`,
:class:`DeadlineExceeded`, :class:`ResourceExhausted`, :class:`Unavailable` (and its
:class:`ConnectionFailed` and :class:`GatewayUnreachable`), :class:`Unimplemented`,
:class:`Internal`; another code raises :class:`RequestError`.

This package imports neither trio nor anything of the broker side.
"""

from . import errors
from .client import Client
from .connection import client_ssl_context
from .errors import *  # noqa: F403 -- listed once in errors.__all__
from .jobs import Job
from .processes import (
    BrokerInfo,
    DecisionMetadata,
    DecisionRequirementsMetadata,
    DecisionResult,
    Deployment,
    EvaluatedDecision,
    LeaderMove,
    PartitionInfo,
    ProcessInstance,
    ProcessInstanceResult,
    ProcessMetadata,
    RebalanceResponse,
    Topology,
)
from .worker import JobError, Worker

__all__ = [
    "BrokerInfo",
    "Client",
    "DecisionMetadata",
    "DecisionRequirementsMetadata",
    "DecisionResult",
    "Deployment",
    "EvaluatedDecision",
    "Job",
    "JobError",
    "LeaderMove",
    "PartitionInfo",
    "ProcessInstance",
    "ProcessInstanceResult",
    "ProcessMetadata",
    "RebalanceResponse",
    "Topology",
    "Worker",
    "client_ssl_context",
]
__all__ += errors.__all__
