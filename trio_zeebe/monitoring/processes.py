"""The live page's process view: deployed processes and what runs on each of their elements.

Counted from the partitions this broker has a replica of (leader or follower: every replica
applies every committed record, so a follower's counts are as current as its applied records).
Where the broker holds a replica of every partition (replication factor = cluster size, the
usual development and small production layout) the counts are the whole cluster's; otherwise
the document lists the partitions it could not count in ``missing`` and the page says so.

:class:`ProcessesView` caches the document for ``min_interval`` seconds, so however many pages
poll, each partition is counted at most once per interval.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..engine.overview import PartitionOverview, merge

if TYPE_CHECKING:
    from ..partitions.manager import PartitionManager

MIN_INTERVAL = 1.0


@attrs.frozen
class ReplicaOverview:
    partition_id: int
    leader: bool  # this broker's replica is the serving leader
    overview: PartitionOverview


async def broker_overviews(partitions: PartitionManager | None) -> list[ReplicaOverview]:
    """The process overview of every local replica whose state machine is a process engine
    (none before the broker's partitions started)."""
    found: list[ReplicaOverview] = []
    if partitions is None:
        return found
    for pid, part in sorted(partitions.local.items()):
        processor = part.processor
        if processor is None:
            continue
        overview = await processor.process_overview()
        if overview is not None:
            found.append(ReplicaOverview(pid, processor.serving, overview))
    return found


def broker_resource(partitions: PartitionManager | None, definition_key: int) -> bytes | None:
    """The BPMN XML of a process definition, from any local replica that has it."""
    if partitions is None:
        return None
    for _, part in sorted(partitions.local.items()):
        if part.processor is not None:
            resource = part.processor.process_resource(definition_key)
            if resource is not None:
                return resource
    return None


class ProcessesView:
    def __init__(
        self,
        *,
        node_id: int,
        partitions_count: Callable[[], int],
        overviews: Callable[[], Awaitable[Sequence[ReplicaOverview]]],
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.node_id = node_id
        self.partitions_count = partitions_count
        self.overviews = overviews
        self.min_interval = min_interval
        self._document: dict[str, Any] | None = None
        self._taken_at = -float("inf")
        self._lock = trio.Lock()  # concurrent requests share one count

    async def snapshot(self) -> dict[str, Any]:
        async with self._lock:
            now = trio.current_time()
            if self._document is None or now - self._taken_at >= self.min_interval:
                self._document = await self._count()
                self._taken_at = trio.current_time()
            return self._document

    async def _count(self) -> dict[str, Any]:
        replicas = await self.overviews()
        counted = sorted(r.partition_id for r in replicas)
        total = self.partitions_count()
        return {
            "served_by": self.node_id,
            "partitions_count": total,
            "counted_partitions": [
                {
                    "partition_id": r.partition_id,
                    "leader": r.leader,
                    "position": r.overview.position,
                }
                for r in sorted(replicas, key=lambda r: r.partition_id)
            ],
            "missing_partitions": [p for p in range(1, total + 1) if p not in counted],
            "processes": [p.to_json() for p in merge(r.overview for r in replicas)],
        }
