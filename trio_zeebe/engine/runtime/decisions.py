"""Decisions (reference §7, §1.3): the EvaluateDecision command and the decisions business rule
tasks call (``zeebe:calledDecision``), both over the DRGs deployed to this partition.

* :meth:`Decisions.evaluate` answers EvaluateDecision: the decision by id (its latest version;
  the id wins when both are given) or by key, evaluated against the request's variables; the
  response is filled field by field as Zeebe's gateway fills it (every evaluated decision with
  its inputs and matched rules, JSON texts for the values). An evaluation *failure* is an OK
  answer naming the failed decision and why; only an unknown decision is a rejection
  (INVALID_ARGUMENT, Zeebe's texts).
* :meth:`Decisions.call` evaluates a business rule task's decision (its id static or an
  expression, latest version) with every variable visible at the task, after its input
  mappings: the result under ``resultVariable`` is the task's payload (merged, or seen by its
  output mappings). A decision that is not deployed is a CALLED_DECISION_ERROR incident, a
  failing evaluation a DECISION_EVALUATION_ERROR incident with the evaluation's message;
  resolving the incident evaluates again.

Every evaluation gets a key (Zeebe's decision evaluation key) and a DECISION_EVALUATION trace
record, EVALUATED or FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...proto import gateway_pb2 as gw
from ..bpmn import Element
from ..dmn import DecisionEvaluation, DecisionRequirementsGraph, evaluate_decision
from ..feel import to_json
from .decision_state import DecisionDefinition, DecisionRequirements
from .expressions import Fail, evaluate_string
from .machine import Machine
from .refusal import DEFAULT_TENANT, check_tenant, invalid_argument
from .values import Instance
from .variables import InvalidDocument, dumps, parse_document

__all__ = ["CALLED_DECISION_ERROR", "DECISION_EVALUATION_ERROR", "Decisions"]

CALLED_DECISION_ERROR = "CALLED_DECISION_ERROR"
DECISION_EVALUATION_ERROR = "DECISION_EVALUATION_ERROR"


def _json(value: Any) -> str:
    return dumps(to_json(value))


class Decisions:
    """The DMN side of the engine, over the machine's state."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.state = machine.state

    # --- lookups ----------------------------------------------------------------------------

    def latest(self, decision_id: str) -> DecisionDefinition | None:
        key = self.state.decision_index.latest_decision.get(decision_id)
        return self.state.decisions[key] if key is not None else None

    def _graph(
        self, decision: DecisionDefinition
    ) -> tuple[DecisionRequirements, DecisionRequirementsGraph] | None:
        drg = self.state.decision_requirements.get(decision.drg_key)
        graph = self.state.decision_index.graphs.get(decision.drg_key)
        return (drg, graph) if drg is not None and graph is not None else None

    def _run(
        self, decision: DecisionDefinition, graph: DecisionRequirementsGraph, variables: Any
    ) -> tuple[int, DecisionEvaluation]:
        state = self.state
        result = evaluate_decision(graph, decision.decision_id, variables, now=state.clock / 1000)
        key = state.next_key()
        if state.trace is not None:
            state.emit(
                "DECISION_EVALUATION",
                "FAILED" if result.failed else "EVALUATED",
                key,
                {
                    "decisionKey": decision.key,
                    "decisionId": decision.decision_id,
                    "decisionVersion": decision.version,
                    "decisionRequirementsKey": decision.drg_key,
                    "decisionOutput": None if result.failed else to_json(result.output),
                    "evaluatedDecisions": [d.decision_id for d in result.evaluated_decisions],
                    "failedDecisionId": result.failed_decision_id,
                    "evaluationFailureMessage": result.failure_message,
                },
            )
        return key, result

    # --- EvaluateDecision -------------------------------------------------------------------

    def evaluate(self, request: gw.EvaluateDecisionRequest) -> gw.EvaluateDecisionResponse:
        check_tenant("EvaluateDecision", request.tenantId)
        state = self.state
        if request.decisionId:
            decision = self.latest(request.decisionId)
            if decision is None:
                raise invalid_argument(
                    f"Expected to evaluate decision '{request.decisionId}', but no decision "
                    f"found for id '{request.decisionId}'"
                )
        elif request.decisionKey > 0:
            decision = state.decisions.get(request.decisionKey)
            if decision is None:
                raise invalid_argument(
                    f"Expected to evaluate decision '{request.decisionKey}', but no decision "
                    f"found for key '{request.decisionKey}'"
                )
        else:
            raise invalid_argument(
                "Expected either a decision id or a valid decision key, but none provided"
            )
        try:
            variables = parse_document(request.variables)
        except InvalidDocument as error:
            raise invalid_argument(str(error)) from None
        found = self._graph(decision)
        if found is None:
            raise invalid_argument(
                f"Expected to evaluate decision '{decision.decision_id}', but no drg found for "
                f"id '{decision.drg_id}'"
            )
        drg, graph = found
        _, result = self._run(decision, graph, variables)
        return self._response(decision, drg, result)

    def _response(
        self, decision: DecisionDefinition, drg: DecisionRequirements, result: DecisionEvaluation
    ) -> gw.EvaluateDecisionResponse:
        state = self.state
        in_graph = {
            state.decisions[k].decision_id: state.decisions[k]
            for k in state.decision_index.decisions_of.get(drg.key, ())
        }
        response = gw.EvaluateDecisionResponse(
            decisionKey=decision.key,
            decisionId=decision.decision_id,
            decisionName=decision.name,
            decisionVersion=decision.version,
            decisionRequirementsId=drg.drg_id,
            decisionRequirementsKey=drg.key,
            tenantId=DEFAULT_TENANT,
        )
        for evaluated in result.evaluated_decisions:
            definition = in_graph.get(evaluated.decision_id)
            entry = response.evaluatedDecisions.add(
                decisionKey=definition.key if definition is not None else -1,
                decisionId=evaluated.decision_id,
                decisionName=evaluated.decision_name,
                decisionVersion=definition.version if definition is not None else -1,
                decisionType=evaluated.decision_type.value,
                decisionOutput=_json(evaluated.output),
                tenantId=DEFAULT_TENANT,
            )
            for value in evaluated.evaluated_inputs:
                entry.evaluatedInputs.add(
                    inputId=value.input_id,
                    inputName=value.input_name,
                    inputValue=_json(value.value),
                )
            for rule in evaluated.matched_rules:
                matched = entry.matchedRules.add(ruleId=rule.rule_id, ruleIndex=rule.rule_index)
                for output in rule.evaluated_outputs:
                    matched.evaluatedOutputs.add(
                        outputId=output.output_id,
                        outputName=output.output_name,
                        outputValue=_json(output.value),
                    )
        if result.failed:
            response.failedDecisionId = result.failed_decision_id
            response.failureMessage = result.failure_message
        else:
            response.decisionOutput = _json(result.output)
        return response

    # --- business rule tasks ----------------------------------------------------------------

    def call(self, instance: Instance, element: Element) -> Mapping[str, Any]:
        """Evaluate the task's called decision; its result as ``{resultVariable: value}``.
        Raises Fail (an incident) when the decision is missing or its evaluation fails."""
        called = element.called_decision
        assert called is not None
        m = self.machine
        view = m.variables.view(instance.key)
        decision_id = evaluate_string(called.decision_id, view, m.now)
        decision = self.latest(decision_id)
        if decision is None:
            raise Fail(
                CALLED_DECISION_ERROR,
                f"Expected to evaluate decision '{decision_id}', but no decision found for id "
                f"'{decision_id}'",
            )
        found = self._graph(decision)
        if found is None:
            raise Fail(
                CALLED_DECISION_ERROR,
                f"Expected to evaluate decision '{decision_id}', but no drg found for id "
                f"'{decision.drg_id}'",
            )
        _, result = self._run(decision, found[1], view)
        if result.failed:
            raise Fail(DECISION_EVALUATION_ERROR, result.failure_message)
        return {called.result_variable: to_json(result.output)}
