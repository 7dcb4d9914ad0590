"""Zeebe's ``gateway_protocol.Gateway`` service (reference zeebe-engine.md §1).

Every RPC is registered raw: the request bytes go to the engine unchanged behind one command
type byte (:func:`~.answers.payload`), and the answer's response bytes go back unchanged. Only
what routing needs is parsed (a key, CreateProcessInstanceWithResult's ``requestTimeout``).
Where an RPC's command goes (§1.7):

===============================================  ==========================================
CompleteJob, FailJob, ThrowError, UpdateJobRetries,  the key's partition (``key >> 51``); a key
UpdateJobTimeout, CancelProcessInstance,             naming no partition: UNAVAILABLE
SetVariables, ResolveIncident
DeployResource, DeployProcess                        partition 1 (it distributes to the others)
CreateProcessInstance(+WithResult)                   round-robin, Zeebe's retry on the next
                                                     partition, RESOURCE_EXHAUSTED if all fail
PublishMessage                                       the correlation key's partition (Zeebe's
                                                     hash, ``keys.message_partition``)
BroadcastSignal                                      round-robin (the engine distributes it)
EvaluateDecision                                     round-robin (decisions are on every partition)
ActivateJobs                                         every partition, long polling (.activation)
StreamActivatedJobs                                  job push (.jobstream)
Topology                                             answered here from the gossiped view
===============================================  ==========================================

ModifyProcessInstance, MigrateProcessInstance and DeleteResource answer UNIMPLEMENTED here (the
engine has no modification, migration or deletion yet) without being forwarded.
"""

from __future__ import annotations

from collections.abc import Callable

import trio
from google.protobuf.message import Message

from .. import __version__
from ..engine.commands import CommandType
from ..grpc.status import GrpcError, StatusCode
from ..keys import message_partition
from ..partitions.topology import ClusterView
from ..proto import gateway_pb2 as gw
from ..transport.api import split_address
from .activation import JobActivator
from .answers import payload, response_bytes
from .grpc_call import ServerCall
from .grpc_services import RawUnaryHandler, Service, parse_request
from .jobstream import JobStreams
from .router import CommandRouter

SERVICE_NAME = "gateway_protocol.Gateway"
GATEWAY_VERSION = __version__

_C = CommandType
_KEYED: dict[str, tuple[CommandType, type[Message], str]] = {
    "CompleteJob": (_C.COMPLETE_JOB, gw.CompleteJobRequest, "jobKey"),
    "FailJob": (_C.FAIL_JOB, gw.FailJobRequest, "jobKey"),
    "ThrowError": (_C.THROW_ERROR, gw.ThrowErrorRequest, "jobKey"),
    "UpdateJobRetries": (_C.UPDATE_JOB_RETRIES, gw.UpdateJobRetriesRequest, "jobKey"),
    "UpdateJobTimeout": (_C.UPDATE_JOB_TIMEOUT, gw.UpdateJobTimeoutRequest, "jobKey"),
    "CancelProcessInstance": (
        _C.CANCEL_PROCESS_INSTANCE,
        gw.CancelProcessInstanceRequest,
        "processInstanceKey",
    ),
    "SetVariables": (_C.SET_VARIABLES, gw.SetVariablesRequest, "elementInstanceKey"),
    "ResolveIncident": (_C.RESOLVE_INCIDENT, gw.ResolveIncidentRequest, "incidentKey"),
}
_DEPLOYMENT_PARTITION = 1
_DEPLOYS = {"DeployResource": _C.DEPLOY_RESOURCE, "DeployProcess": _C.DEPLOY_PROCESS}
UNIMPLEMENTED = (
    "ModifyProcessInstance",
    "MigrateProcessInstance",
    "DeleteResource",
)
_ROLES = {
    "leader": gw.Partition.LEADER,
    "follower": gw.Partition.FOLLOWER,
    "inactive": gw.Partition.INACTIVE,
}
_HEALTH = {
    "healthy": gw.Partition.HEALTHY,
    "unhealthy": gw.Partition.UNHEALTHY,
    "dead": gw.Partition.DEAD,
}


class GatewayService:
    """The Gateway RPCs of one broker's gateway."""

    def __init__(
        self,
        router: CommandRouter,
        activator: JobActivator,
        streams: JobStreams,
        view: Callable[[], ClusterView],
    ) -> None:
        self.router = router
        self.activator = activator
        self.streams = streams
        self.view = view

    def service(self) -> Service:
        service = Service(SERVICE_NAME)
        for rpc, (kind, message, field) in _KEYED.items():
            service.unary_raw(rpc, self._keyed(rpc, kind, message, field))
        for rpc, kind in _DEPLOYS.items():
            service.unary_raw(rpc, self._deploy(kind))
        new_work = self.router.new_work
        service.unary_raw(
            "CreateProcessInstance", new_work(_C.CREATE_PROCESS_INSTANCE, one_pass=True)
        )
        service.unary_raw("CreateProcessInstanceWithResult", self._create_with_result)
        service.unary_raw("Topology", self._topology)
        service.unary_raw("PublishMessage", self._publish_message)
        service.unary_raw("BroadcastSignal", new_work(_C.BROADCAST_SIGNAL, one_pass=True))
        # Evaluation changes no state the user sees, so Zeebe's round-robin over the partitions
        # (every one has the deployed decisions) with a retry on the next is safe.
        service.unary_raw("EvaluateDecision", new_work(_C.EVALUATE_DECISION, one_pass=True))
        service.server_stream_raw("ActivateJobs", self.activator.activate)
        service.server_stream_raw("StreamActivatedJobs", self.streams.stream)
        for rpc in UNIMPLEMENTED:
            service.unary_raw(rpc, _unimplemented(rpc))
        return service

    def _keyed(
        self, rpc: str, kind: CommandType, message: type[Message], field: str
    ) -> RawUnaryHandler:
        router = self.router

        async def handle(data: bytes, call: ServerCall) -> bytes:
            key = getattr(parse_request(message, data, rpc), field)
            pid = router.partition_of_key(key)
            answer = await router.keyed(pid, payload(kind, data), router.deadline(call.deadline))
            return response_bytes(answer)

        return handle

    def _deploy(self, kind: CommandType) -> RawUnaryHandler:
        router = self.router

        async def handle(data: bytes, call: ServerCall) -> bytes:
            # A deployment retried after a lost answer is harmless: the engine deploys an
            # unchanged resource as the same version again.
            answer = await router.keyed(
                _DEPLOYMENT_PARTITION, payload(kind, data), router.deadline(call.deadline)
            )
            return response_bytes(answer)

        return handle

    async def _create_with_result(self, data: bytes, call: ServerCall) -> bytes:
        request = parse_request(
            gw.CreateProcessInstanceWithResultRequest, data, "CreateProcessInstanceWithResult"
        )
        wait = request.requestTimeout / 1000 if request.requestTimeout > 0 else None
        timeout = self.router.request_timeout if wait is None else wait
        deadline = trio.current_time() + timeout
        if call.deadline is not None:
            deadline = min(deadline, call.deadline)
        answer = await self.router.create(
            payload(_C.CREATE_PROCESS_INSTANCE_WITH_RESULT, data),
            deadline,
            one_pass=True,
            alone=True,
        )
        return response_bytes(answer)

    async def _publish_message(self, data: bytes, call: ServerCall) -> bytes:
        request = parse_request(gw.PublishMessageRequest, data, "PublishMessage")
        router = self.router
        pid = message_partition(request.correlationKey, len(router.partition_ids))
        answer = await router.keyed(
            pid,
            payload(_C.PUBLISH_MESSAGE, data),
            router.deadline(call.deadline),
            retry_unknown=False,
        )
        return response_bytes(answer)

    async def _topology(self, data: bytes, call: ServerCall) -> bytes:
        return topology_response(self.view()).SerializeToString()


def topology_response(view: ClusterView) -> gw.TopologyResponse:
    """Zeebe's TopologyResponse: live brokers (as Zeebe drops removed members), each with its
    internal (command API) address, and per partition only the highest-term leader as LEADER
    (an older claim is a FOLLOWER: that broker has not heard yet that it was replaced)."""
    best: dict[int, tuple[int, int]] = {}
    for broker in view.brokers:
        for p in broker.partitions:
            if p.role == "leader":
                claim = (p.term, -broker.node_id)
                best[p.partition_id] = max(best.get(p.partition_id, claim), claim)
    response = gw.TopologyResponse(
        clusterSize=view.cluster_size,
        partitionsCount=view.partitions_count,
        replicationFactor=view.replication_factor,
        gatewayVersion=GATEWAY_VERSION,
    )
    for broker in view.brokers:
        if broker.state == "dead":
            continue
        try:
            host, port = split_address(broker.address)
        except ValueError:
            host, port = broker.address, 0
        info = response.brokers.add(nodeId=broker.node_id, host=host, port=port)
        info.version = GATEWAY_VERSION
        for p in broker.partitions:
            role = _ROLES.get(p.role)
            if role is None:
                continue
            if role == gw.Partition.LEADER and best.get(p.partition_id) != (
                p.term,
                -broker.node_id,
            ):
                role = gw.Partition.FOLLOWER
            info.partitions.add(
                partitionId=p.partition_id, role=role, health=_HEALTH.get(p.health, 1)
            )
    return response


def _unimplemented(rpc: str) -> RawUnaryHandler:
    async def handle(data: bytes, call: ServerCall) -> bytes:
        raise GrpcError(StatusCode.UNIMPLEMENTED, f"{rpc} is not implemented yet")

    return handle
