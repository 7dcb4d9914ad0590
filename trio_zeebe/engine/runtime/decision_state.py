"""The DMN families' values and their derived index.

A deployed ``.dmn`` resource is a :class:`DecisionRequirements` (Zeebe's DRG record, with the
resource bytes: the parsed graph is rebuilt from them on restore and on every partition it is
distributed to); each decision in it is a :class:`DecisionDefinition`. Both get keys made on
partition 1 and their own versions. :class:`DecisionIndex` is derived state: the parsed graphs
by key and the latest version of each DRG id and of each decision id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from ..dmn import DecisionRequirementsGraph

__all__ = ["DecisionDefinition", "DecisionIndex", "DecisionRequirements"]


class DecisionRequirements(NamedTuple):
    """A deployed decision requirements graph (one DMN resource)."""

    key: int
    drg_id: str
    name: str
    version: int
    resource_name: str
    checksum: bytes
    resource: bytes
    deployment_key: int


class DecisionDefinition(NamedTuple):
    """A deployed decision of a DRG."""

    key: int
    decision_id: str
    name: str
    version: int
    drg_key: int
    drg_id: str
    deployment_key: int


class DecisionIndex:
    def __init__(self) -> None:
        self.graphs: dict[int, DecisionRequirementsGraph] = {}
        self.latest_drg: dict[str, int] = {}
        self.latest_decision: dict[str, int] = {}
        self.decisions_of: dict[int, list[int]] = {}  # DRG key -> its decision keys, in order

    def add_drg(
        self,
        drg: DecisionRequirements,
        graph: DecisionRequirementsGraph,
        drgs: Mapping[int, DecisionRequirements],
    ) -> None:
        self.graphs[drg.key] = graph
        self.decisions_of.setdefault(drg.key, [])
        latest = self.latest_drg.get(drg.drg_id)
        if latest is None or drgs[latest].version < drg.version:
            self.latest_drg[drg.drg_id] = drg.key

    def add_decision(
        self, decision: DecisionDefinition, decisions: Mapping[int, DecisionDefinition]
    ) -> None:
        self.decisions_of.setdefault(decision.drg_key, []).append(decision.key)
        latest = self.latest_decision.get(decision.decision_id)
        if latest is None or decisions[latest].version < decision.version:
            self.latest_decision[decision.decision_id] = decision.key
