"""Client <-> gateway protocol: the magic preamble, request/response envelopes, messages.

Job commands travel as the engine's own records (``trio_zeebe.engine.records``: CreateJob,
CompleteJob, FailJob, ThrowError, UpdateJobRetries, UpdateJobTimeout); the gateway routes them
to the right partition leader and answers with the engine's result (JobKey, Job) or an
:class:`ErrorResponse`. Activation is wrapped in :class:`ActivateJobsRequest` because it
long-polls across partitions.

A client opens a (TLS) connection to any broker's gateway port and sends :data:`MAGIC` first. The
magic cannot be mistaken for HTTP/2's connection preface (``PRI * HTTP/2.0``), so a gRPC endpoint
may share the port later. After the magic both sides exchange length-prefixed frames (the peer
transport's framing); a frame body is ``[correlation_id, message]`` from the client and
``[correlation_id, message]`` back, where a failed request answers with :class:`ErrorResponse`.

This module is imported by the anyio client, so it must not import trio.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..codec import converter, wire
from ..engine.records import ActivateJobs
from ..errors import ErrorCode as ErrorCode  # re-exported: part of the protocol

MAGIC = b"TZGW\x00\x01\r\n"
"""8 bytes: 'TZGW', protocol major 0 / minor 1, CRLF (so a stray HTTP client sees garbage early)."""


@wire("g.error")
@attrs.frozen
class ErrorResponse:
    code: str
    message: str


@wire("g.topology?")
@attrs.frozen
class TopologyRequest:
    pass


@attrs.frozen
class PartitionInfo:
    partition_id: int
    role: str  # leader | follower | inactive
    term: int
    health: str  # healthy | unhealthy | dead


@attrs.frozen
class BrokerInfo:
    node_id: int
    address: str  # internal API (gossip, Raft)
    gateway: str  # client API
    state: str  # alive | suspect | dead, as seen by the answering broker
    partitions: tuple[PartitionInfo, ...] = ()


@wire("g.topology")
@attrs.frozen
class Topology:
    cluster_size: int
    partitions_count: int
    replication_factor: int
    brokers: tuple[BrokerInfo, ...]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = converter.unstructure(self)
        data["brokers"] = [{**b, "partitions": list(b["partitions"])} for b in data["brokers"]]
        return data


@wire("g.rebalance?")
@attrs.frozen
class RebalanceRequest:
    pass


@attrs.frozen
class LeaderMove:
    partition_id: int
    from_node: int
    to_node: int


@wire("g.rebalance")
@attrs.frozen
class RebalanceResponse:
    """The transfers that were requested (they complete asynchronously)."""

    moves: tuple[LeaderMove, ...]


@wire("g.append?")
@attrs.frozen
class AppendRequest:
    """Append raw records to a partition run by an embedder's state machine.

    The records are opaque payloads: the partition's processor frames them as one unit, so they
    land in one log entry, contiguous and in the order given, and each is applied with the
    leader's timestamp. Answered by the partition's leader once they are committed (durable on
    a quorum) and applied. A partition running the built-in job engine refuses raw records
    (UNIMPLEMENTED): its commands come only from the job API.
    """

    partition_id: int
    records: tuple[bytes, ...]


@wire("g.append")
@attrs.frozen
class AppendResponse:
    partition_id: int
    positions: tuple[tuple[int, int], ...]
    """(log entry index, slot within the entry) of each record, in request order."""
    answers: tuple[bytes, ...] = ()
    """The state machine's answer to each record, in request order."""


@wire("g.activate?")
@attrs.frozen
class ActivateJobsRequest:
    """Long-polling activation: answered as soon as any partition has a matching job, with up to
    ``command.max_jobs`` jobs gathered round-robin over partitions, or with an empty
    ActivatedJobs once ``request_timeout`` seconds pass."""

    command: ActivateJobs
    request_timeout: float = 10.0
