"""Deploying DMN resources (reference §2): what DeployResource does with a ``.dmn`` resource,
and what a partition does with the DRGs partition 1 distributes.

A resource is one decision requirements graph. Within one deployment, DRG ids and decision ids
must be unique across the DMN resources (:func:`~..dmn.deployment_conflicts`, Zeebe's texts).
A DRG is a duplicate when the latest version of its id has the same resource name, the same
checksum and the same set of decision ids: then it and its decisions keep their keys and
versions. Otherwise the DRG gets a key of partition 1 and the next version of its id, and each
decision a key and the next version of *its* id.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ...codec import wire
from ...proto import gateway_pb2 as gw
from ..dmn import DecisionRequirementsGraph, DmnDeploymentError, deployment_conflicts, parse_dmn
from .decision_state import DecisionDefinition, DecisionRequirements
from .refusal import DEFAULT_TENANT, invalid_argument
from .state import EngineState

__all__ = [
    "DMN_SUFFIX",
    "DistributedDecision",
    "DistributedDecisionRequirements",
    "DmnPlan",
    "commit_dmn",
    "conflict",
    "decision_metadata",
    "drg_metadata",
    "plan_dmn",
    "receive_dmn",
]

DMN_SUFFIX = ".dmn"


@wire("e.dist.decision")
@attrs.frozen
class DistributedDecision:
    key: int
    decision_id: str
    version: int


@wire("e.dist.drg")
@attrs.frozen
class DistributedDecisionRequirements:
    key: int
    drg_id: str
    version: int
    resource: int  # index into the command's resources
    decisions: tuple[DistributedDecision, ...]


def conflict(
    earlier: Sequence[DecisionRequirementsGraph], graph: DecisionRequirementsGraph
) -> str | None:
    """Why ``graph`` cannot join the DMN resources before it in the deployment, or None."""
    errors = deployment_conflicts([*earlier, graph])
    return errors[0] if errors else None


@attrs.frozen
class DmnPlan:
    """A DMN resource of a deployment: deployed again as it is (``duplicate``) or new."""

    name: str
    content: bytes
    graph: DecisionRequirementsGraph
    duplicate: DecisionRequirements | None


def plan_dmn(
    state: EngineState, name: str, content: bytes, graph: DecisionRequirementsGraph
) -> DmnPlan:
    """Whether the resource repeats the latest version of its DRG (changes nothing)."""
    index = state.decision_index
    latest_key = index.latest_drg.get(graph.id)
    latest = state.decision_requirements.get(latest_key) if latest_key is not None else None
    if (
        latest is not None
        and latest.resource_name == name
        and latest.checksum == graph.checksum
        and sorted(state.decisions[k].decision_id for k in index.decisions_of.get(latest.key, ()))
        == sorted(graph.decision_ids)
    ):
        return DmnPlan(name, content, graph, latest)
    return DmnPlan(name, content, graph, None)


def commit_dmn(
    state: EngineState, plan: DmnPlan, deployment_key: int
) -> tuple[DecisionRequirements, list[DecisionDefinition], bool]:
    """Store a planned resource: its DRG, its decisions, and whether they are new."""
    if plan.duplicate is not None:
        drg = plan.duplicate
        keys = state.decision_index.decisions_of.get(drg.key, ())
        return drg, [state.decisions[k] for k in keys], False
    graph = plan.graph
    latest_key = state.decision_index.latest_drg.get(graph.id)
    version = state.decision_requirements[latest_key].version + 1 if latest_key is not None else 1
    drg = DecisionRequirements(
        state.next_key(),
        graph.id,
        graph.name,
        version,
        plan.name,
        graph.checksum,
        plan.content,
        deployment_key,
    )
    state.add_decision_requirements(drg, graph)
    _trace_drg(state, drg)
    decisions: list[DecisionDefinition] = []
    for decision in graph.decisions:
        latest = state.decision_index.latest_decision.get(decision.id)
        decision_version = state.decisions[latest].version + 1 if latest is not None else 1
        definition = DecisionDefinition(
            state.next_key(),
            decision.id,
            decision.name,
            decision_version,
            drg.key,
            drg.drg_id,
            deployment_key,
        )
        state.add_decision(definition)
        _trace_decision(state, definition)
        decisions.append(definition)
    return drg, decisions, True


def receive_dmn(
    state: EngineState,
    distributed: DistributedDecisionRequirements,
    name: str,
    content: bytes,
    deployment_key: int,
) -> None:
    """Store a DRG partition 1 distributed, with its decisions (idempotent by key)."""
    if distributed.key not in state.decision_requirements:
        try:
            graph = parse_dmn(name, content)
        except DmnDeploymentError as error:
            raise invalid_argument(str(error)) from None
        if graph.id != distributed.drg_id:
            raise invalid_argument(f"no decision requirements '{distributed.drg_id}' in {name}")
        drg = DecisionRequirements(
            distributed.key,
            graph.id,
            graph.name,
            distributed.version,
            name,
            graph.checksum,
            content,
            deployment_key,
        )
        state.add_decision_requirements(drg, graph)
        _trace_drg(state, drg)
    graph = state.decision_index.graphs[distributed.key]
    for decision in distributed.decisions:
        if decision.key in state.decisions:
            continue
        model = graph.decision(decision.decision_id)
        if model is None:
            raise invalid_argument(f"no decision '{decision.decision_id}' in {name}")
        definition = DecisionDefinition(
            decision.key,
            decision.decision_id,
            model.name,
            decision.version,
            distributed.key,
            graph.id,
            deployment_key,
        )
        state.add_decision(definition)
        _trace_decision(state, definition)


def _trace_drg(state: EngineState, drg: DecisionRequirements) -> None:
    if state.trace is not None:
        value = drg._asdict()
        del value["resource"]
        state.emit("DECISION_REQUIREMENTS", "CREATED", drg.key, value)


def _trace_decision(state: EngineState, decision: DecisionDefinition) -> None:
    if state.trace is not None:
        state.emit("DECISION", "CREATED", decision.key, decision._asdict())


def decision_metadata(decision: DecisionDefinition) -> gw.DecisionMetadata:
    return gw.DecisionMetadata(
        dmnDecisionId=decision.decision_id,
        dmnDecisionName=decision.name,
        version=decision.version,
        decisionKey=decision.key,
        dmnDecisionRequirementsId=decision.drg_id,
        decisionRequirementsKey=decision.drg_key,
        tenantId=DEFAULT_TENANT,
    )


def drg_metadata(drg: DecisionRequirements) -> gw.DecisionRequirementsMetadata:
    return gw.DecisionRequirementsMetadata(
        dmnDecisionRequirementsId=drg.drg_id,
        dmnDecisionRequirementsName=drg.name,
        version=drg.version,
        decisionRequirementsKey=drg.key,
        resourceName=drg.resource_name,
        tenantId=DEFAULT_TENANT,
    )
