"""The immutable, precompiled DMN model the engine evaluates: a decision requirements graph of
decisions, each a decision table or a literal expression, with every FEEL text compiled once at
deployment (:mod:`.parser` builds it, :mod:`.evaluate` runs it).

Names follow the DMN 1.3 XML (``decisionTable``, ``inputEntry``, ``hitPolicy`` ...). Texts that
Zeebe reports (ids, names, labels) are kept as the document has them; an absent optional text is
``""`` (what the gateway's protobuf strings default to).
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from trio_zeebe.engine.feel import Expression, UnaryTests

from ..safexml import ResourceError

__all__ = [
    "Aggregation",
    "Decision",
    "DecisionLogic",
    "DecisionRequirementsGraph",
    "DecisionTable",
    "DecisionType",
    "DmnDeploymentError",
    "HitPolicy",
    "Input",
    "LiteralExpression",
    "Output",
    "Rule",
]

#: Zeebe shows at most this many characters of an input expression as the name of an input
#: without a label (``EvaluatedDmnScalaInput``).
INPUT_NAME_LENGTH = 30


class DmnDeploymentError(ResourceError):
    """A DMN resource that cannot be deployed.

    ``message`` names every problem, one per line, each with the element it concerns;
    ``str(error)`` is ``'<resource name>': <message>``, the line Zeebe puts into a deployment
    rejection (``Expected to deploy new resources, but encountered the following errors: ...``).
    """


class DecisionType(enum.StrEnum):
    """The kind of decision logic; the value is Zeebe's ``decisionType`` text."""

    DECISION_TABLE = "DECISION_TABLE"
    LITERAL_EXPRESSION = "LITERAL_EXPRESSION"


class HitPolicy(enum.StrEnum):
    """``decisionTable/@hitPolicy``; the value is the XML text."""

    UNIQUE = "UNIQUE"
    FIRST = "FIRST"
    PRIORITY = "PRIORITY"
    ANY = "ANY"
    COLLECT = "COLLECT"
    RULE_ORDER = "RULE ORDER"
    OUTPUT_ORDER = "OUTPUT ORDER"

    @property
    def single_hit(self) -> bool:
        return self in (HitPolicy.UNIQUE, HitPolicy.FIRST, HitPolicy.PRIORITY, HitPolicy.ANY)


class Aggregation(enum.StrEnum):
    """``decisionTable/@aggregation`` of a COLLECT table."""

    SUM = "SUM"
    MIN = "MIN"
    MAX = "MAX"
    COUNT = "COUNT"


@attrs.frozen
class Input:
    """An input clause: its expression is evaluated once per evaluation, against the variables
    (and the results of required decisions)."""

    id: str
    label: str
    expression_text: str
    expression: Expression
    type_ref: str

    @property
    def name(self) -> str:
        """The name Zeebe reports for the evaluated input: the label, else the beginning of the
        input expression."""
        return self.label or self.expression_text[:INPUT_NAME_LENGTH]


@attrs.frozen
class Output:
    """An output clause. ``name`` keys the value in a multi-output result; ``output_values`` is
    the priority order (``outputValues``) that PRIORITY and OUTPUT ORDER sort by: strings and
    numbers (``Decimal``), most important first."""

    id: str
    name: str
    label: str
    type_ref: str
    output_values: tuple[str | Decimal, ...] = ()
    default_output: Expression | None = None

    @property
    def display_name(self) -> str:
        """The name Zeebe reports for an evaluated output: the label, else the name (as the
        Modeler shows it)."""
        return self.label or self.name


@attrs.frozen
class Rule:
    """A rule: one compiled unary test per input, one compiled expression per output (None for an
    empty output entry, which yields null). ``index`` is 1-based, in document order."""

    id: str
    index: int
    input_entries: tuple[UnaryTests, ...]
    output_entries: tuple[Expression | None, ...]


@attrs.frozen
class DecisionTable:
    """A ``decisionTable``: inputs, outputs, rules and how matching rules make the result."""

    hit_policy: HitPolicy
    aggregation: Aggregation | None
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    rules: tuple[Rule, ...]


@attrs.frozen
class LiteralExpression:
    """A ``literalExpression``: one FEEL expression whose value is the decision's result."""

    text: str
    expression: Expression


DecisionLogic = DecisionTable | LiteralExpression


@attrs.frozen
class Decision:
    """A decision of the graph.

    ``required_decisions``: ids from ``informationRequirement/requiredDecision``, document order;
    they are evaluated first. ``result_name``: the name under which dependants see this decision's
    result (the ``variable`` name, else the decision id, as DMN-Scala does). ``result_type_ref``:
    the variable's ``typeRef``, checked against the result. ``version_tag``: ``zeebe:versionTag``.
    """

    id: str
    name: str
    logic: DecisionLogic
    required_decisions: tuple[str, ...]
    result_name: str
    result_type_ref: str = ""
    version_tag: str = ""

    @property
    def decision_type(self) -> DecisionType:
        if isinstance(self.logic, DecisionTable):
            return DecisionType.DECISION_TABLE
        return DecisionType.LITERAL_EXPRESSION


@attrs.frozen
class DecisionRequirementsGraph:
    """One deployed DMN resource (its ``definitions`` element).

    ``decisions`` in document order; ``checksum`` is the MD5 of the resource bytes (Zeebe's
    duplicate detection compares it with the resource name and the decision set).
    """

    id: str
    name: str
    namespace: str
    resource_name: str
    checksum: bytes
    decisions: tuple[Decision, ...]
    _by_id: dict[str, Decision] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {d.id: d for d in self.decisions})

    def decision(self, decision_id: str) -> Decision | None:
        """The decision with that id, or None."""
        return self._by_id.get(decision_id)

    @property
    def decision_ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.decisions)
