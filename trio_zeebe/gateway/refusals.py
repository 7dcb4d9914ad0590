"""The one table of Raft and processor refusals: what they mean for routing and for the client.

A command's partition leader refuses it for reasons of the cluster, not of the engine: it does
not lead (any more), it leads but is still applying its backlog, its uncommitted tail or in-flight
bound is full, its disk is below ``data.disk.free_space_processing``, it lost leadership while
the command was pending, its processor halted, it has no replica of the partition.
:func:`refusal` turns the exception into a :class:`Status` (sent between brokers in a
:class:`~.forward.ForwardReply`), and :func:`grpc_error` turns a status the router gives up on
into the gRPC status the client sees, with Zeebe's codes and texts (reference zeebe-engine.md
§1.2). Engine rejections are not refusals: they are answers (:mod:`.answers`).
"""

from __future__ import annotations

from enum import StrEnum

from ..grpc.status import GrpcError, StatusCode
from ..processing.processor import NotServing, OutOfDiskSpace, PartitionHalted
from ..raft.errors import Backpressure, LeadershipLost, NotLeader, ProposalDropped


class Status(StrEnum):
    OK = "ok"
    NOT_LEADER = "not_leader"  # not proposed; ``leader`` is the replica's hint
    NOT_SERVING = "not_serving"  # leads but still applying its backlog; not proposed
    DROPPED = "dropped"  # refused before proposing (e.g. leadership transfer); not proposed
    BACKPRESSURE = "backpressure"  # Raft's uncommitted tail or the in-flight bound is full
    OUT_OF_DISK = "out_of_disk"  # the leader's free disk is below free_space_processing
    LOST = "lost"  # leadership lost while pending: the command may or may not have been applied
    HALTED = "halted"  # the partition's processor stopped on a failing record; not proposed
    NO_PARTITION = "no_partition"  # this broker has no replica of the partition
    TIMEOUT = "timeout"  # proposed, but no answer within the forward's timeout


RETRY_ELSEWHERE = frozenset({Status.NOT_LEADER, Status.NOT_SERVING, Status.DROPPED})
"""Refusals that guarantee the command was not proposed: retried on the (new) leader."""


def refusal(exc: Exception, pid: int, node: int) -> tuple[Status, str, int | None]:
    """``(status, message, leader hint)`` for a refusal raised by the processor or Raft.

    Anything else is not a refusal and is raised again (a bug must not pass as one).
    """
    if isinstance(exc, NotServing):
        return (
            Status.NOT_SERVING,
            f"partition {pid}: leader {node} is still applying its backlog",
            None,
        )
    if isinstance(exc, NotLeader):
        return (
            Status.NOT_LEADER,
            f"node {node} does not lead partition {pid} (leader: {exc.leader})",
            exc.leader,
        )
    if isinstance(exc, PartitionHalted):
        return Status.HALTED, str(exc), None
    if isinstance(exc, LeadershipLost):
        return Status.LOST, str(exc), None
    if isinstance(exc, OutOfDiskSpace):
        return Status.OUT_OF_DISK, str(exc), None
    if isinstance(exc, Backpressure):
        return Status.BACKPRESSURE, f"partition {pid}: {exc}", None
    if isinstance(exc, ProposalDropped):
        return Status.DROPPED, f"partition {pid}: {exc}", None
    raise exc


def unknown_partition(pid: int) -> GrpcError:
    """Zeebe's answer for a partition the gateway does not know (also a key naming none)."""
    return GrpcError(
        StatusCode.UNAVAILABLE,
        f"Expected to execute command on partition {pid}, but either it does not exist, or the "
        "gateway is not yet aware of it",
    )


def grpc_error(status: Status, message: str, pid: int) -> GrpcError:
    """The client's status for a refusal the gateway does not (or no longer) retry."""
    if status is Status.BACKPRESSURE:
        return GrpcError(
            StatusCode.RESOURCE_EXHAUSTED,
            f"Failed to write client request to partition '{pid}', because the writer buffer "
            f"is full ({message})",
        )
    if status is Status.OUT_OF_DISK:
        return out_of_disk_space(pid)
    if status is Status.NO_PARTITION:
        return unknown_partition(pid)
    if status is Status.TIMEOUT:
        return timed_out(message)
    if status is Status.HALTED:
        return GrpcError(StatusCode.UNAVAILABLE, message)
    if status in RETRY_ELSEWHERE:
        # Retried until the deadline; what is left is the last refusal.
        return timed_out(message)
    return GrpcError(StatusCode.UNAVAILABLE, message)


def out_of_disk_space(pid: int) -> GrpcError:
    """Zeebe's answer when the partition's leader is below its free space for processing."""
    return GrpcError(
        StatusCode.RESOURCE_EXHAUSTED,
        f"Cannot accept requests for partition {pid}. Broker is out of disk space",
    )


EXHAUSTED = frozenset({Status.BACKPRESSURE, Status.OUT_OF_DISK})
"""Refusals the client sees as RESOURCE_EXHAUSTED: the leader takes no more for now."""


def timed_out(detail: str) -> GrpcError:
    """Zeebe's DEADLINE_EXCEEDED between gateway and broker."""
    return GrpcError(StatusCode.DEADLINE_EXCEEDED, f"Time out between gateway and broker: {detail}")


def outcome_unknown(detail: str) -> GrpcError:
    """A create (job, instance, deployment) that may or may not have been applied: UNAVAILABLE,
    and not retried by the gateway (it could create a second one)."""
    return GrpcError(
        StatusCode.UNAVAILABLE,
        f"outcome unknown, the command may or may not have been applied ({detail}); not retried "
        "to avoid a duplicate",
    )
