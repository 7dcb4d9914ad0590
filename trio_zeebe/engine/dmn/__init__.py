"""DMN decisions for the engine: safe parsing and deploy-time validation of ``.dmn`` resources,
and the evaluation of their decisions as Zeebe (DMN-Scala with FEEL-Scala) evaluates them.

Entry points: :func:`parse_dmn` takes a deployed resource (name and bytes) and returns its
:class:`DecisionRequirementsGraph` with every FEEL text compiled, or raises
:class:`DmnDeploymentError` naming every problem with its element; :func:`evaluate_decision`
evaluates one decision (its required decisions first) and returns a :class:`DecisionEvaluation`
that fills Zeebe's ``EvaluateDecisionResponse`` field by field; failures are results, not
exceptions. :func:`deployment_conflicts` gives Zeebe's rejections for DMN resources of one
deployment that reuse an earlier resource's ids.

Modules: ``parser`` (bytes -> element tree through :mod:`trio_zeebe.engine.safexml`, then ->
model, per-element checks), ``validation`` (document-wide checks), ``model`` (the frozen
classes), ``hit_policy`` (matched rules -> result), ``evaluate`` (a decision and its
requirements -> result and audit trail).
"""

from __future__ import annotations

from ..safexml import MAX_SIZE
from . import model
from .evaluate import (
    DecisionEvaluation,
    EvaluatedDecision,
    EvaluatedInput,
    EvaluatedOutput,
    MatchedRule,
    evaluate_decision,
)
from .model import *  # noqa: F403 -- listed once in model.__all__
from .parser import DMN_NAMESPACES, parse_dmn
from .validation import deployment_conflicts

__all__ = [
    "DMN_NAMESPACES",
    "MAX_SIZE",
    "DecisionEvaluation",
    "EvaluatedDecision",
    "EvaluatedInput",
    "EvaluatedOutput",
    "MatchedRule",
    "deployment_conflicts",
    "evaluate_decision",
    "parse_dmn",
]
__all__ += model.__all__
