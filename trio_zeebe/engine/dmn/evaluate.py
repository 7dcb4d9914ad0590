"""Evaluating a decision of a deployed graph, as Zeebe (DMN-Scala on FEEL-Scala) does, with the
audit trail the gateway's ``EvaluateDecisionResponse`` and the DecisionEvaluation record need.

Required decisions are evaluated first, depth-first in requirement order, each once; a decision
sees the variables plus the results of its own required decisions, each under that decision's
result name (its variable name, else its id). An evaluation failure is a result, not an
exception: :class:`DecisionEvaluation` then names the decision that failed and carries Zeebe's
text ``Expected to evaluate decision '<id>', but <reason>`` with DMN-Scala's reason.

Types: the ``typeRef`` of the decision's ``variable`` is checked against its result (string,
number, boolean, date, time, dateTime, dayTimeDuration, yearMonthDuration; others and null pass);
the ``typeRef`` of inputs and outputs is not enforced, as in DMN-Scala.

Values (outputs, input values) are FEEL values; :func:`trio_zeebe.engine.feel.to_json` turns
them into what Zeebe writes as JSON. Deterministic: the only clock is the ``now`` argument.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any

import attrs

from trio_zeebe.engine.feel import FeelEvaluationError, type_name

from .hit_policy import HitPolicyFailure, Row, apply_hit_policy, show
from .model import (
    Decision,
    DecisionRequirementsGraph,
    DecisionTable,
    DecisionType,
    HitPolicy,
    LiteralExpression,
    Rule,
)

__all__ = [
    "DecisionEvaluation",
    "EvaluatedDecision",
    "EvaluatedInput",
    "EvaluatedOutput",
    "MatchedRule",
    "evaluate_decision",
]

#: ``variable/@typeRef`` -> the FEEL result type it demands (DMN-Scala's TypeChecker; other
#: type names are not checked). A null result passes every check.
_TYPE_CHECKS = {
    "string": "STRING",
    "number": "NUMBER",
    "boolean": "BOOLEAN",
    "time": "TIME",
    "date": "DATE",
    "dateTime": "DATE_TIME",
    "dayTimeDuration": "DURATION",
    "yearMonthDuration": "PERIOD",
}


@attrs.frozen
class EvaluatedInput:
    """An input of a decision table and the value its expression gave
    (``EvaluatedDecisionInput``); ``input_name`` is the label, else the expression's start."""

    input_id: str
    input_name: str
    value: Any


@attrs.frozen
class EvaluatedOutput:
    """One output of a matched rule (``EvaluatedDecisionOutput``); ``output_name`` is the label,
    else the name."""

    output_id: str
    output_name: str
    value: Any


@attrs.frozen
class MatchedRule:
    """A rule whose input entries all matched (``MatchedDecisionRule``); ``rule_index`` is
    1-based in document order."""

    rule_id: str
    rule_index: int
    evaluated_outputs: tuple[EvaluatedOutput, ...]


@attrs.frozen
class EvaluatedDecision:
    """One decision evaluated on the way (``EvaluatedDecision``). A decision that failed has
    ``output`` None and the inputs and rules it got to."""

    decision_id: str
    decision_name: str
    decision_type: DecisionType
    output: Any
    evaluated_inputs: tuple[EvaluatedInput, ...] = ()
    matched_rules: tuple[MatchedRule, ...] = ()


@attrs.frozen
class DecisionEvaluation:
    """The outcome of :func:`evaluate_decision` (``EvaluateDecisionResponse``).

    ``evaluated_decisions`` in evaluation order (required decisions first, the requested one
    last unless something failed before it). On failure ``output`` is None,
    ``failed_decision_id`` names the decision that failed and ``failure_message`` says why;
    both are ``""`` on success.
    """

    decision_id: str
    output: Any
    evaluated_decisions: tuple[EvaluatedDecision, ...]
    failed_decision_id: str = ""
    failure_message: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.failed_decision_id)


class _Failure(Exception):
    """Internal: one decision failed; carries DMN-Scala's reason and the partial audit entry."""

    def __init__(self, reason: str, audit: EvaluatedDecision) -> None:
        super().__init__(reason)
        self.reason = reason
        self.audit = audit


def evaluate_decision(
    drg: DecisionRequirementsGraph,
    decision_id: str,
    variables: Mapping[str, Any],
    *,
    now: float,
) -> DecisionEvaluation:
    """Evaluate ``decision_id`` of ``drg`` against ``variables`` (JSON or FEEL values).

    ``now`` (epoch seconds) is the engine's clock for ``now()`` / ``today()``. Never raises:
    every failure, including an unknown decision id, is a failed :class:`DecisionEvaluation`.
    """
    decision = drg.decision(decision_id)
    if decision is None:
        return DecisionEvaluation(
            decision_id=decision_id,
            output=None,
            evaluated_decisions=(),
            failed_decision_id=decision_id,
            failure_message=(
                f"Expected to evaluate decision '{decision_id}', but no decision found with id "
                f"'{decision_id}'"
            ),
        )
    results: dict[str, Any] = {}
    audits: list[EvaluatedDecision] = []
    for current in _evaluation_order(drg, decision):
        scope: Mapping[str, Any] = variables
        if current.required_decisions:
            scope = ChainMap(
                {
                    drg_decision.result_name: results[drg_decision.id]
                    for required in current.required_decisions
                    if (drg_decision := drg.decision(required)) is not None
                },
                dict(variables),
            )
        try:
            audit, value = _evaluate(current, scope, now)
        except _Failure as failure:
            audits.append(failure.audit)
            return DecisionEvaluation(
                decision_id=decision_id,
                output=None,
                evaluated_decisions=tuple(audits),
                failed_decision_id=current.id,
                failure_message=(
                    f"Expected to evaluate decision '{decision_id}', but {failure.reason}"
                ),
            )
        audits.append(audit)
        results[current.id] = value
    return DecisionEvaluation(
        decision_id=decision_id, output=results[decision.id], evaluated_decisions=tuple(audits)
    )


def _evaluation_order(drg: DecisionRequirementsGraph, target: Decision) -> list[Decision]:
    """The target's requirement closure in post-order (requirements first), each decision once;
    iterative, so a long requirement chain cannot exhaust the stack. The graph is acyclic
    (checked at deployment)."""
    order: list[Decision] = []
    visited = {target.id}
    stack = [(target, iter(target.required_decisions))]
    while stack:
        decision, pending = stack[-1]
        required_id = next(pending, None)
        if required_id is None:
            stack.pop()
            order.append(decision)
            continue
        required = drg.decision(required_id)
        if required is not None and required.id not in visited:
            visited.add(required.id)
            stack.append((required, iter(required.required_decisions)))
    return order


def _feel_failure(source: str, error: FeelEvaluationError) -> str:
    # FEEL-Scala's failure texts, as DMN-Scala passes them on
    if error.kind == "ASSERT_FAILURE":
        return f"Assertion failure on evaluate the expression '{source}': {error.message}"
    return f"failed to evaluate expression '{source}': {error.message}"


def _evaluate(
    decision: Decision, scope: Mapping[str, Any], now: float
) -> tuple[EvaluatedDecision, Any]:
    """One decision's audit entry and result; raises :class:`_Failure`."""
    try:
        if isinstance(decision.logic, DecisionTable):
            audit, value = _TableRun(decision, decision.logic, scope, now).run()
        else:
            audit, value = _literal(decision, decision.logic, scope, now)
    except _Failure:
        raise
    except Exception as error:  # a bug must not take a broker down: fail this decision
        raise _Failure(
            f"an internal error occurred while evaluating the decision: "
            f"{type(error).__name__}: {error}",
            _audit(decision, None),
        ) from None
    expected = _TYPE_CHECKS.get(decision.result_type_ref.removeprefix("feel:"))
    if expected is not None and value is not None and type_name(value) != expected:
        raise _Failure(
            f"expected '{decision.result_type_ref.removeprefix('feel:')}' but found "
            f"'{show(value)}'",
            audit,
        )
    return audit, value


def _audit(
    decision: Decision,
    output: Any,
    inputs: tuple[EvaluatedInput, ...] = (),
    rules: tuple[MatchedRule, ...] = (),
) -> EvaluatedDecision:
    return EvaluatedDecision(
        decision_id=decision.id,
        decision_name=decision.name,
        decision_type=decision.decision_type,
        output=output,
        evaluated_inputs=inputs,
        matched_rules=rules,
    )


def _literal(
    decision: Decision, literal: LiteralExpression, scope: Mapping[str, Any], now: float
) -> tuple[EvaluatedDecision, Any]:
    try:
        value = literal.expression.evaluate(scope, now=now).value
    except FeelEvaluationError as error:
        raise _Failure(_feel_failure(literal.text, error), _audit(decision, None)) from None
    return _audit(decision, value), value


class _TableRun:
    """One evaluation of a decision table, in DMN-Scala's steps: inputs, rule matching, output
    entries of the matched rules (only the first for FIRST), then the hit policy."""

    def __init__(
        self, decision: Decision, table: DecisionTable, scope: Mapping[str, Any], now: float
    ) -> None:
        self.decision = decision
        self.table = table
        self.scope = scope
        self.now = now
        self.inputs: tuple[EvaluatedInput, ...] = ()

    def _fail(self, reason: str, rules: tuple[MatchedRule, ...] = ()) -> _Failure:
        return _Failure(reason, _audit(self.decision, None, self.inputs, rules))

    def run(self) -> tuple[EvaluatedDecision, Any]:
        values = []
        for clause in self.table.inputs:
            try:
                values.append(clause.expression.evaluate(self.scope, now=self.now).value)
            except FeelEvaluationError as error:
                raise self._fail(_feel_failure(clause.expression_text, error)) from None
        self.inputs = tuple(
            EvaluatedInput(clause.id, clause.name, value)
            for clause, value in zip(self.table.inputs, values, strict=True)
        )
        matched = [rule for rule in self.table.rules if self._matches(rule, values)]
        if not matched:
            value = self._default_result()
            return _audit(self.decision, value, self.inputs), value
        if self.table.hit_policy is HitPolicy.FIRST:
            matched = matched[:1]
        rows = [self._outputs(rule) for rule in matched]
        audited = tuple(
            MatchedRule(
                rule.id,
                rule.index,
                tuple(EvaluatedOutput(o.id, o.display_name, v) for o, v in row),
            )
            for rule, row in zip(matched, rows, strict=True)
        )
        try:
            value = apply_hit_policy(self.table, rows)
        except HitPolicyFailure as failure:
            raise self._fail(failure.message, audited) from None
        return _audit(self.decision, value, self.inputs, audited), value

    def _matches(self, rule: Rule, values: list[Any]) -> bool:
        for test, value in zip(rule.input_entries, values, strict=True):
            try:
                result = test.evaluate(value, self.scope, now=self.now).value
            except FeelEvaluationError as error:
                raise self._fail(_feel_failure(test.source, error)) from None
            if result is True:
                continue
            if result is False or result is None:
                return False
            raise self._fail(
                f"input entry must return true, false, or null, but found '{show(result)}'"
            )
        return True

    def _outputs(self, rule: Rule) -> Row:
        row = []
        for output, entry in zip(self.table.outputs, rule.output_entries, strict=True):
            if entry is None:
                row.append((output, None))
                continue
            try:
                row.append((output, entry.evaluate(self.scope, now=self.now).value))
            except FeelEvaluationError as error:
                raise self._fail(_feel_failure(entry.source, error)) from None
        return tuple(row)

    def _default_result(self) -> Any:
        """No rule matched: the outputs' default output entries (DMN's ``defaultOutputEntry``),
        null when there are none, whatever the hit policy (as DMN-Scala)."""
        defaults: dict[str, Any] = {}
        for output in self.table.outputs:
            if output.default_output is None:
                continue
            try:
                defaults[output.name] = output.default_output.evaluate(
                    self.scope, now=self.now
                ).value
            except FeelEvaluationError as error:
                raise self._fail(_feel_failure(output.default_output.source, error)) from None
        if not defaults:
            return None
        if len(defaults) == 1:
            return next(iter(defaults.values()))
        return defaults
