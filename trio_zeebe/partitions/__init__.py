"""Partitions across brokers: distribution, published broker info, the leader table, failover.

The pure building blocks live here (``distribution``, ``broker_info``, ``leaders``); the trio
partition manager that runs one supervised Raft group per local partition uses them.
"""

from . import broker_info
from .broker_info import *  # noqa: F403 -- listed once in broker_info.__all__
from .distribution import (
    PartitionDistribution,
    PartitionReplica,
    check_compatible,
    round_robin,
    should_campaign,
)
from .leaders import PartitionLeaderTable, rebalance_plan

__all__ = [
    "PartitionDistribution",
    "PartitionLeaderTable",
    "PartitionReplica",
    "check_compatible",
    "rebalance_plan",
    "round_robin",
    "should_campaign",
]
__all__ += broker_info.__all__
