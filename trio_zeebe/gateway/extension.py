"""The project's extension service ``trio_zeebe.v1.TrioZeebe``: what Zeebe's API lacks.

* ``CreateJob``: a standalone job, on a partition chosen round-robin (passes until the request
  deadline; an outcome-unknown create is UNAVAILABLE "maybe created", never retried).
* ``AppendRecords``: opaque records for an embedder's own state machine, through the gateway of
  the partition's leader, as one processor unit (see
  :meth:`~trio_zeebe.processing.processor.PartitionProcessor.submit_unit`): answered after commit
  and apply with positions (entry index, slot) and the machine's answers. A partition running
  the process engine refuses them (FAILED_PRECONDITION).
* ``Rebalance``: ask leaders that are not their partition's primary to hand over.
* ``ClusterStatus``: the broker's cluster view (membership states, addresses, terms, health and
  a halted partition's problem), what ``python -m trio_zeebe status`` prints.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import __version__
from ..engine.commands import CommandType
from ..engine.engine import Engine
from ..grpc.status import GrpcError, StatusCode
from ..partitions.manager import PartitionManager
from ..partitions.topology import ClusterView
from ..processing.processor import MAX_UNIT_RECORDS
from ..proto import trio_zeebe_pb2 as tz
from ..raft.errors import LeadershipLost, NotLeader, ProposalDropped
from .grpc_call import ServerCall
from .grpc_services import Service, parse_request
from .refusals import Status, grpc_error, refusal
from .router import CommandRouter

SERVICE_NAME = "trio_zeebe.v1.TrioZeebe"

_STATES = {
    "alive": tz.ClusterBroker.ALIVE,
    "suspect": tz.ClusterBroker.SUSPECT,
    "dead": tz.ClusterBroker.DEAD,
}
_ROLES = {
    "leader": tz.ClusterPartition.LEADER,
    "follower": tz.ClusterPartition.FOLLOWER,
    "inactive": tz.ClusterPartition.INACTIVE,
}
_HEALTH = {
    "healthy": tz.ClusterPartition.HEALTHY,
    "unhealthy": tz.ClusterPartition.UNHEALTHY,
    "dead": tz.ClusterPartition.DEAD,
}


class ExtensionService:
    def __init__(
        self,
        router: CommandRouter,
        partitions: PartitionManager,
        view: Callable[[], ClusterView],
    ) -> None:
        self.router = router
        self.partitions = partitions
        self.view = view

    def service(self) -> Service:
        service = Service(SERVICE_NAME)
        service.unary_raw("CreateJob", self.router.new_work(CommandType.CREATE_JOB, one_pass=False))
        service.unary_raw("AppendRecords", self._append)
        service.unary_raw("Rebalance", self._rebalance)
        service.unary_raw("ClusterStatus", self._status)
        return service

    async def _append(self, data: bytes, call: ServerCall) -> bytes:
        request = parse_request(tz.AppendRecordsRequest, data, "AppendRecords")
        pid = request.partitionId
        count = len(request.records)
        if not 1 <= count <= MAX_UNIT_RECORDS:
            raise GrpcError(
                StatusCode.INVALID_ARGUMENT,
                f"an append takes 1..{MAX_UNIT_RECORDS} records, got {count}",
            )
        processor = self.partitions.processor(pid)
        node = self.partitions.node_id
        if processor is None:
            leader = self.partitions.leader_of(pid)
            raise GrpcError(
                StatusCode.UNAVAILABLE,
                f"partition {pid} is not on node {node} (its leader: {_node(leader)}); append "
                "through the leader's gateway",
            )
        if isinstance(processor.machine, Engine):
            raise GrpcError(
                StatusCode.FAILED_PRECONDITION,
                f"partition {pid} runs the process engine; raw records are accepted only by an "
                "embedder's state machine",
            )
        try:
            appended = await processor.submit_unit(list(request.records))
        except (NotLeader, ProposalDropped) as exc:
            status, message, leader = refusal(exc, pid, node)
            if status is Status.NOT_LEADER:
                raise GrpcError(
                    StatusCode.UNAVAILABLE,
                    f"node {node} does not lead partition {pid} (its leader: {_node(leader)}); "
                    "append through the leader's gateway",
                ) from None
            raise grpc_error(status, message, pid) from None
        except LeadershipLost as exc:
            raise GrpcError(
                StatusCode.UNAVAILABLE,
                f"partition {pid}: outcome unknown, not retried ({exc})",
            ) from None
        response = tz.AppendRecordsResponse(partitionId=pid, answers=list(appended.answers))
        for index, slot in appended.positions:
            response.positions.add(index=index, offset=slot)
        return response.SerializeToString()

    async def _rebalance(self, data: bytes, call: ServerCall) -> bytes:
        response = tz.RebalanceResponse()
        for pid, source, target in self.partitions.rebalance():
            response.moves.add(partitionId=pid, fromNode=source, toNode=target)
        return response.SerializeToString()

    async def _status(self, data: bytes, call: ServerCall) -> bytes:
        return cluster_status(self.view()).SerializeToString()


def cluster_status(view: ClusterView) -> tz.ClusterStatusResponse:
    response = tz.ClusterStatusResponse(
        clusterSize=view.cluster_size,
        partitionsCount=view.partitions_count,
        replicationFactor=view.replication_factor,
        version=__version__,
    )
    for b in view.brokers:
        broker = response.brokers.add(
            nodeId=b.node_id,
            internalAddress=b.address,
            gatewayAddress=b.gateway,
            state=_STATES.get(b.state, tz.ClusterBroker.DEAD),
        )
        for p in b.partitions:
            broker.partitions.add(
                partitionId=p.partition_id,
                role=_ROLES.get(p.role, tz.ClusterPartition.INACTIVE),
                term=p.term,
                health=_HEALTH.get(p.health, tz.ClusterPartition.UNHEALTHY),
                problem=p.problem,
            )
    return response


def _node(node: int | None) -> str:
    return "unknown" if node is None else f"node {node}"
