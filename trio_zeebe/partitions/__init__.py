"""Partitions across brokers: distribution, published broker info, the leader table, failover.

The pure building blocks live here (``distribution``, ``broker_info``, ``leaders``); the trio
partition manager that runs one supervised Raft group per local partition uses them.
"""

from .broker_info import (
    BrokerInfoProps,
    PartitionHealth,
    PartitionRole,
    PartitionStatus,
    decode_broker_info,
    encode_broker_info,
)
from .distribution import (
    PartitionDistribution,
    PartitionReplica,
    check_compatible,
    round_robin,
    should_campaign,
)
from .leaders import PartitionLeaderTable, rebalance_plan

__all__ = [
    "BrokerInfoProps",
    "PartitionDistribution",
    "PartitionHealth",
    "PartitionLeaderTable",
    "PartitionReplica",
    "PartitionRole",
    "PartitionStatus",
    "check_compatible",
    "decode_broker_info",
    "encode_broker_info",
    "rebalance_plan",
    "round_robin",
    "should_campaign",
]
