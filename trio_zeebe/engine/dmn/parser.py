"""DMN XML -> :class:`DecisionRequirementsGraph`: reads the ``definitions`` element as the Camunda
Modeler writes it (DMN 1.3, also the DMN 1.1/1.2 namespaces of older Modelers and 1.4/1.5),
compiles every FEEL text once and collects every problem of the document, each naming its
element, into one :class:`DmnDeploymentError`.

Only decisions with a decision table or a literal expression are supported. Input data,
business knowledge models, knowledge sources, text annotations, rule annotations, descriptions,
``requiredInput`` / knowledge / authority requirements and the diagram (``dmndi``) are read
past and ignored.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from trio_zeebe.engine.feel import (
    Expression,
    FeelSyntaxError,
    UnaryTests,
    compile_expression,
    compile_unary_tests,
)

from ..safexml import MAX_SIZE, read_xml, text_content
from .model import (
    Aggregation,
    Decision,
    DecisionLogic,
    DecisionRequirementsGraph,
    DecisionTable,
    DmnDeploymentError,
    HitPolicy,
    Input,
    LiteralExpression,
    Output,
    Rule,
)
from .validation import duplicate_ids, local_name, requirement_cycles, unknown_requirements

__all__ = ["DMN_NAMESPACES", "ZEEBE_NS", "parse_dmn"]

#: The DMN model namespaces a ``definitions`` element may have (DMN 1.1 ... 1.5).
DMN_NAMESPACES = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "https://www.omg.org/spec/DMN/20211108/MODEL/",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
)
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"

#: ``expressionLanguage`` values that mean FEEL (DMN-Scala accepts these, case-insensitive).
_FEEL_LANGUAGES = frozenset(
    {
        "feel",
        "http://www.omg.org/spec/feel/20140401",
        "http://www.omg.org/spec/dmn/20180521/feel/",
        "https://www.omg.org/spec/dmn/20191111/feel/",
        "https://www.omg.org/spec/dmn/20211108/feel/",
        "https://www.omg.org/spec/dmn/20230324/feel/",
    }
)
_UNSUPPORTED_LOGIC = {
    "context": "context",
    "invocation": "invocation",
    "list": "list",
    "relation": "relation",
    "functionDefinition": "function definition",
    "conditional": "conditional",
    "filter": "filter",
    "for": "for",
    "every": "every",
    "some": "some",
}
_HIT_POLICIES = {policy.value: policy for policy in HitPolicy}
_AGGREGATIONS = {aggregation.value: aggregation for aggregation in Aggregation}
_SHOWN_SOURCE = 100

T = TypeVar("T")


def parse_dmn(
    resource_name: str, data: bytes, *, max_size: int = MAX_SIZE
) -> DecisionRequirementsGraph:
    """The decision requirements graph of a DMN resource, every FEEL text compiled.

    Raises :class:`DmnDeploymentError` (and nothing else, whatever the bytes) for unreadable or
    unsafe XML and for every validation error, all of them in one message, one per line.
    """
    root = read_xml(resource_name, data, kind="DMN", error=DmnDeploymentError, max_size=max_size)
    try:
        return _Reader(resource_name, root).graph(hashlib.md5(data, usedforsecurity=False).digest())
    except DmnDeploymentError:
        raise
    except RecursionError:
        raise DmnDeploymentError(resource_name, "the DMN document is nested too deeply") from None
    except Exception as error:  # a bug must not take a broker down: reject this resource
        raise DmnDeploymentError(
            resource_name, f"internal error while reading the DMN: {type(error).__name__}: {error}"
        ) from None


def _shown(source: str) -> str:
    return source if len(source) <= _SHOWN_SOURCE else source[: _SHOWN_SOURCE - 3] + "..."


def _syntax_error(kind: str, source: str, error: FeelSyntaxError) -> str:
    detail = error.message.removeprefix("failed to parse expression: ")
    return f"FEEL {kind}: failed to parse expression '{_shown(source)}': {detail}"


def _href_id(href: str) -> str:
    """``#decisionId`` -> ``decisionId`` (other hrefs are kept and then reported unknown)."""
    href = href.strip()
    return href[1:] if href.startswith("#") else href


def _output_values(text: str) -> tuple[str | Decimal, ...]:
    """The items of an ``outputValues`` list (``"a","b"`` or ``1, 2``): strings unquoted,
    numbers as Decimal, commas inside quotes kept."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    values: list[str | Decimal] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if len(item) >= 2 and item[0] == item[-1] == '"':
            values.append(item[1:-1].replace('\\"', '"').replace("\\\\", "\\"))
            continue
        try:
            number = Decimal(item)
        except InvalidOperation:
            values.append(item)
        else:
            values.append(number if number.is_finite() else item)
    return tuple(values)


class _Reader:
    """Walks one ``definitions`` element, building the model and collecting errors."""

    def __init__(self, resource_name: str, root: ET.Element) -> None:
        self.resource_name = resource_name
        self.root = root
        self.errors: list[str] = []
        self.ns = ""

    # --- helpers ---------------------------------------------------------------------------

    def _tag(self, name: str) -> str:
        return "{" + self.ns + "}" + name

    def _children(self, element: ET.Element, name: str) -> list[ET.Element]:
        tag = self._tag(name)
        return [child for child in element if child.tag == tag]

    def _child(self, element: ET.Element, name: str) -> ET.Element | None:
        found = self._children(element, name)
        return found[0] if found else None

    def _error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def _compile(
        self, where: str, kind: str, source: str, compile_fn: Callable[[str], T]
    ) -> T | None:
        try:
            return compile_fn(source)
        except FeelSyntaxError as error:
            self._error(where, _syntax_error(kind, source, error))
            return None

    def _check_language(self, where: str, element: ET.Element) -> bool:
        language = element.get("expressionLanguage")
        if language is None or language.strip().lower() in _FEEL_LANGUAGES:
            return True
        self._error(where, f"Expression language '{language}' is not supported")
        return False

    def _text(self, element: ET.Element) -> str | None:
        """The ``text`` child's content, None if there is no ``text`` child."""
        text = self._child(element, "text")
        return None if text is None else text_content(text)

    @staticmethod
    def _named(kind: str, element: ET.Element, position: int) -> str:
        element_id = element.get("id")
        return f"{kind} '{element_id}'" if element_id else f"{kind} #{position}"

    def _required_id(self, where: str, element: ET.Element) -> str:
        element_id = (element.get("id") or "").strip()
        if not element_id:
            self._error(where, "the attribute 'id' is missing")
        return element_id

    # --- definitions and decisions ---------------------------------------------------------

    def graph(self, checksum: bytes) -> DecisionRequirementsGraph:
        root = self.root
        namespace, _, local = str(root.tag)[1:].partition("}")
        if (
            not str(root.tag).startswith("{")
            or local != "definitions"
            or (namespace not in DMN_NAMESPACES)
        ):
            raise DmnDeploymentError(
                self.resource_name,
                "Expected the root element 'definitions' of a DMN model namespace "
                f"({', '.join(DMN_NAMESPACES)}), but found '{local_name(root.tag)}'"
                + (f" of namespace '{namespace}'" if str(root.tag).startswith("{") else ""),
            )
        self.ns = namespace
        graph_id = self._required_id("definitions", root)
        decisions: list[Decision] = []
        requirements: dict[str, tuple[str, ...]] = {}
        for position, element in enumerate(self._children(root, "decision"), start=1):
            decision_id, required, decision = self._decision(element, position)
            if decision_id:
                # also for a decision with errors, so that its dependants are not told it is missing
                requirements.setdefault(decision_id, required)
            if decision is not None:
                decisions.append(decision)
        self.errors.extend(duplicate_ids(root))
        self.errors.extend(unknown_requirements(requirements))
        self.errors.extend(requirement_cycles(requirements))
        if not decisions and not self.errors:
            self._error("definitions", "the decision requirements graph has no decision")
        if self.errors:
            raise DmnDeploymentError(self.resource_name, "\n".join(self.errors))
        return DecisionRequirementsGraph(
            id=graph_id,
            name=root.get("name") or "",
            namespace=root.get("namespace") or "",
            resource_name=self.resource_name,
            checksum=checksum,
            decisions=tuple(decisions),
        )

    def _decision(
        self, element: ET.Element, position: int
    ) -> tuple[str, tuple[str, ...], Decision | None]:
        """The decision's id, its required decision ids and the decision (None if invalid)."""
        where = self._named("decision", element, position)
        decision_id = self._required_id(where, element)
        required: list[str] = []
        for requirement in self._children(element, "informationRequirement"):
            required_decision = self._child(requirement, "requiredDecision")
            if required_decision is None:
                continue  # requiredInput: input data are plain variables at runtime
            href = required_decision.get("href")
            if not href or not _href_id(href):
                self._error(where, "a requiredDecision has no 'href' naming the decision")
                continue
            required.append(_href_id(href))
        variable = self._child(element, "variable")
        variable_name = (variable.get("name") or "").strip() if variable is not None else ""
        type_ref = (variable.get("typeRef") or "").strip() if variable is not None else ""
        logic = self._logic(where, element)
        if logic is None or not decision_id:
            return decision_id, tuple(required), None
        decision = Decision(
            id=decision_id,
            name=element.get("name") or "",
            logic=logic,
            required_decisions=tuple(required),
            result_name=variable_name or decision_id,
            result_type_ref=type_ref,
            version_tag=self._version_tag(element),
        )
        return decision_id, decision.required_decisions, decision

    def _version_tag(self, element: ET.Element) -> str:
        for extensions in self._children(element, "extensionElements"):
            for child in extensions:
                if child.tag == "{" + ZEEBE_NS + "}versionTag":
                    return child.get("value") or ""
        return ""

    def _logic(self, where: str, element: ET.Element) -> DecisionLogic | None:
        found = [
            child
            for child in element
            if str(child.tag).startswith("{" + self.ns + "}")
            and (
                local_name(child.tag) in ("decisionTable", "literalExpression")
                or local_name(child.tag) in _UNSUPPORTED_LOGIC
            )
        ]
        if not found:
            self._error(
                where, "the decision has no decision logic (a decision table or literal expression)"
            )
            return None
        if len(found) > 1:
            self._error(where, "the decision has more than one decision logic element")
            return None
        logic = found[0]
        kind = local_name(logic.tag)
        if kind == "decisionTable":
            return self._decision_table(where, logic)
        if kind == "literalExpression":
            return self._literal_expression(where, logic)
        self._error(
            where,
            f"the decision logic '{_UNSUPPORTED_LOGIC[kind]}' is not supported; a decision must be "
            "a decision table or a literal expression",
        )
        return None

    def _literal_expression(self, where: str, element: ET.Element) -> LiteralExpression | None:
        if not self._check_language(where, element):
            return None
        text = self._text(element)
        if text is None or not text.strip():
            self._error(where, "the literal expression is empty")
            return None
        expression = self._compile(where, "expression", text, compile_expression)
        return None if expression is None else LiteralExpression(text, expression)

    # --- decision tables -------------------------------------------------------------------

    def _decision_table(self, where: str, element: ET.Element) -> DecisionTable | None:
        errors_before = len(self.errors)
        hit_policy = HitPolicy.UNIQUE
        hit_text = element.get("hitPolicy")
        if hit_text is not None:
            parsed = _HIT_POLICIES.get(hit_text.strip())
            if parsed is None:
                self._error(
                    where,
                    f"unknown hit policy '{hit_text}' (expected one of {', '.join(_HIT_POLICIES)})",
                )
            else:
                hit_policy = parsed
        aggregation: Aggregation | None = None
        aggregation_text = element.get("aggregation")
        if aggregation_text is not None and hit_policy is HitPolicy.COLLECT:
            aggregation = _AGGREGATIONS.get(aggregation_text.strip())
            if aggregation is None:
                self._error(
                    where,
                    f"unknown aggregation '{aggregation_text}' (expected one of "
                    f"{', '.join(_AGGREGATIONS)})",
                )
        inputs = [
            self._input(where, child, position)
            for position, child in enumerate(self._children(element, "input"), start=1)
        ]
        outputs = [
            self._output(where, child, position)
            for position, child in enumerate(self._children(element, "output"), start=1)
        ]
        self._check_outputs(where, hit_policy, aggregation, outputs)
        rules = [
            self._rule(where, child, index, len(inputs), len(outputs))
            for index, child in enumerate(self._children(element, "rule"), start=1)
        ]
        if len(self.errors) > errors_before:
            return None
        return DecisionTable(
            hit_policy=hit_policy,
            aggregation=aggregation,
            inputs=tuple(i for i in inputs if i is not None),
            outputs=tuple(o for o in outputs if o is not None),
            rules=tuple(r for r in rules if r is not None),
        )

    def _check_outputs(
        self,
        where: str,
        hit_policy: HitPolicy,
        aggregation: Aggregation | None,
        outputs: list[Output | None],
    ) -> None:
        if not outputs:
            self._error(where, "the decision table has no output")
            return
        known = [o for o in outputs if o is not None]
        if len(outputs) > 1:
            if aggregation is not None:
                self._error(
                    where, "hit policy 'COLLECT' with aggregator is not defined for compound output"
                )
            names: set[str] = set()
            for output in known:
                if not output.name:
                    self._error(
                        f"{where} > output '{output.id}'",
                        "the output has no name; every output of a decision table with several "
                        "outputs needs one",
                    )
                elif output.name in names:
                    self._error(
                        f"{where} > output '{output.id}'",
                        f"the output name '{output.name}' is used by more than one output",
                    )
                names.add(output.name)
        if hit_policy in (HitPolicy.PRIORITY, HitPolicy.OUTPUT_ORDER) and not any(
            o.output_values for o in known
        ):
            self._error(
                where,
                f"hit policy '{hit_policy.value}' orders the results by the output values, but no "
                "output has output values",
            )

    def _input(self, table: str, element: ET.Element, position: int) -> Input | None:
        where = f"{table} > {self._named('input', element, position)}"
        input_id = self._required_id(where, element)
        expression_element = self._child(element, "inputExpression")
        if expression_element is None:
            self._error(where, "the input has no input expression")
            return None
        if not self._check_language(where, expression_element):
            return None
        text = self._text(expression_element)
        if text is None or not text.strip():
            self._error(where, "the input expression is empty")
            return None
        expression = self._compile(where, "expression", text, compile_expression)
        if expression is None or not input_id:
            return None
        return Input(
            id=input_id,
            label=element.get("label") or "",
            expression_text=text,
            expression=expression,
            type_ref=expression_element.get("typeRef") or "",
        )

    def _output(self, table: str, element: ET.Element, position: int) -> Output | None:
        where = f"{table} > {self._named('output', element, position)}"
        output_id = self._required_id(where, element)
        values: tuple[str | Decimal, ...] = ()
        values_element = self._child(element, "outputValues")
        if values_element is not None:
            values = _output_values(self._text(values_element) or "")
        default: Expression | None = None
        default_element = self._child(element, "defaultOutputEntry")
        if default_element is not None and self._check_language(where, default_element):
            text = self._text(default_element) or ""
            if text.strip():
                default = self._compile(where, "expression", text, compile_expression)
        if not output_id:
            return None
        return Output(
            id=output_id,
            name=(element.get("name") or "").strip(),
            label=element.get("label") or "",
            type_ref=element.get("typeRef") or "",
            output_values=values,
            default_output=default,
        )

    def _rule(
        self, table: str, element: ET.Element, index: int, inputs: int, outputs: int
    ) -> Rule | None:
        where = f"{table} > {self._named('rule', element, index)}"
        errors_before = len(self.errors)
        rule_id = self._required_id(where, element)
        input_elements = self._children(element, "inputEntry")
        output_elements = self._children(element, "outputEntry")
        if len(input_elements) != inputs:
            self._error(
                where,
                f"expected {inputs} input entries (one per input), but found {len(input_elements)}",
            )
        if len(output_elements) != outputs:
            self._error(
                where,
                f"expected {outputs} output entries (one per output), but found "
                f"{len(output_elements)}",
            )
        tests: list[UnaryTests | None] = []
        for position, entry in enumerate(input_elements, start=1):
            entry_where = f"{where} > {self._named('input entry', entry, position)}"
            if self._check_language(entry_where, entry):
                text = self._text(entry) or ""
                tests.append(self._compile(entry_where, "unary-tests", text, compile_unary_tests))
        results: list[Expression | None] = []
        for position, entry in enumerate(output_elements, start=1):
            entry_where = f"{where} > {self._named('output entry', entry, position)}"
            if self._check_language(entry_where, entry):
                text = self._text(entry) or ""
                # an empty output entry is allowed: its output is null
                if text.strip():
                    results.append(
                        self._compile(entry_where, "expression", text, compile_expression)
                    )
                else:
                    results.append(None)
        if len(self.errors) > errors_before:
            return None
        return Rule(
            id=rule_id,
            index=index,
            input_entries=tuple(t for t in tests if t is not None),
            output_entries=tuple(results),
        )
