"""Zeebe's rules for its extension elements and for expressions, as the validator applies them.

The design-time half (``ZeebeElementValidator``, ``ExtensionElementsValidator`` and friends):
required attributes of ``zeebe:taskDefinition``, ``zeebe:calledElement``, ``zeebe:script``,
``zeebe:loopCharacteristics`` ..., extension elements that may appear only once, reserved and
duplicate task headers, form definitions. The deploy-time half (``ZeebeExpressionValidator``):
every value that may be an expression is parsed through the ``check_expression`` hook, values
that must be expressions refuse static text, mapping targets must be variable paths, static
candidate lists and dates must have their form.

:class:`ExtensionRules` reports through the ``report(element, message)`` callable it is given, so
the structural validator owns the error list and names the elements.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable

from ..safexml import text_content
from . import timer_syntax
from .model import feel_source
from .parser import bpmn_children, zeebe_children, zeebe_extension, zeebe_extensions

__all__ = [
    "DUPLICATE_EXTENSION",
    "EXACTLY_ONE_EXTENSION",
    "MISSING_ATTRIBUTE",
    "SINGLE_EXTENSIONS",
    "CheckExpression",
    "ExtensionRules",
    "accept_every_expression",
]

CheckExpression = Callable[[str], "str | None"]


def accept_every_expression(source: str) -> str | None:
    """The default expression check: every FEEL source is accepted."""
    return None


_PATH = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)*")
_PATH_PATTERN_TEXT = r"[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)*"
_RESERVED_PATHS = (
    "null",
    "true",
    "false",
    "function",
    "if",
    "then",
    "else",
    "for",
    "between",
    "instance",
    "of",
)
_RESERVED_HEADER_PREFIX = "io.camunda.zeebe:"
MISSING_ATTRIBUTE = "Attribute '{}' must be present and not empty"
EXACTLY_ONE_EXTENSION = "Must have exactly one 'zeebe:{}' extension element"
DUPLICATE_EXTENSION = (
    "Must have exactly one 'zeebe:{}' extension element when exists. Please check process "
    "definition XML and retain only one extension element."
)
_EXPECTED_EXPRESSION = (
    "Expected expression but found static value '{0}'. An expression must start with '=' "
    "(e.g. '={0}')."
)
# Zeebe extension elements that may appear at most once, per BPMN element.
SINGLE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "serviceTask": ("taskHeaders",),
    "sendTask": ("taskHeaders",),
    "userTask": (
        "userTask",
        "assignmentDefinition",
        "formDefinition",
        "taskHeaders",
        "taskSchedule",
        "priorityDefinition",
    ),
    "businessRuleTask": ("taskDefinition", "taskHeaders", "calledDecision"),
    "scriptTask": ("script", "taskDefinition", "taskHeaders"),
    "endEvent": ("taskDefinition",),
    "intermediateThrowEvent": ("taskDefinition",),
}


class ExtensionRules:
    """Checks Zeebe extension elements and expressions, reporting each error on its element."""

    def __init__(
        self, report: Callable[[ET.Element, str], None], check_expression: CheckExpression
    ) -> None:
        self.error = report
        self.check_expression = check_expression

    def require(self, element: ET.Element, *attributes: str) -> None:
        for attribute in attributes:
            if not element.get(attribute):
                self.error(element, MISSING_ATTRIBUTE.format(attribute))

    def expression(
        self,
        element: ET.Element,
        value: str | None,
        *,
        mandatory: bool = False,
        non_static: bool = False,
        static_check: Callable[[str], bool] | None = None,
        static_description: str = "",
    ) -> None:
        """Zeebe's expression verification of one attribute (or text) value."""
        if value is None:
            if mandatory:
                self.error(element, "Expected expression but not found.")
            return
        source = feel_source(value)
        if source is not None:
            try:
                reason = self.check_expression(source)
            except Exception as failure:  # the hook must not turn bad input into a crash
                reason = f"{type(failure).__name__}: {failure}"
            if reason is not None:
                self.error(element, f"failed to parse expression '{source}': {reason}")
        elif non_static:
            self.error(element, _EXPECTED_EXPRESSION.format(value))
        elif static_check is not None and not static_check(value):
            self.error(
                element, f"Expected static value to {static_description}, but found '{value}'."
            )

    def path(self, element: ET.Element, value: str | None) -> None:
        if not value:
            self.error(element, "Expected path expression but not found.")
            return
        if _PATH.fullmatch(value) is None:
            self.error(
                element,
                f"Expected path expression '{value}' but doesn't match the pattern "
                f"'{_PATH_PATTERN_TEXT}'.",
            )
        if value in _RESERVED_PATHS:
            self.error(
                element,
                f"Expected path expression '{value}' but is one of the reserved words "
                f"({', '.join(_RESERVED_PATHS)}).",
            )

    def single_extensions(self, element: ET.Element, names: Iterable[str]) -> None:
        for name in names:
            if len(zeebe_extensions(element, name)) > 1:
                self.error(element, DUPLICATE_EXTENSION.format(name))

    def multi_instance(self, element: ET.Element) -> None:
        if len(zeebe_extensions(element, "loopCharacteristics")) != 1:
            self.error(element, EXACTLY_ONE_EXTENSION.format("loopCharacteristics"))
        condition = next(bpmn_children(element, "completionCondition"), None)
        if condition is not None:
            self.expression(element, text_content(condition))
        for loop in zeebe_extensions(element, "loopCharacteristics"):
            if not loop.get("inputCollection"):
                self.error(loop, MISSING_ATTRIBUTE.format("inputCollection"))
            output_collection = loop.get("outputCollection")
            output_element = loop.get("outputElement")
            if output_collection and not output_element:
                self.error(
                    loop,
                    "Attribute 'outputElement' must be present if the attribute "
                    "'outputCollection' is set",
                )
            elif output_element and not output_collection:
                self.error(
                    loop,
                    "Attribute 'outputCollection' must be present if the attribute "
                    "'outputElement' is set",
                )
            self.expression(loop, loop.get("inputCollection"), mandatory=True, non_static=True)
            self.expression(loop, output_element, non_static=True)

    def flow_node(self, node: ET.Element) -> None:
        """The rules of the Zeebe extension elements wherever a flow node carries them."""
        for definition in zeebe_extensions(node, "taskDefinition"):
            self.require(definition, "type")
            if definition.get("retries") == "":
                self.error(definition, MISSING_ATTRIBUTE.format("retries"))
            self.expression(definition, definition.get("type"), mandatory=True)
            self.expression(definition, definition.get("retries", "3"), mandatory=True)
        for headers in zeebe_extensions(node, "taskHeaders"):
            keys = Counter[str]()
            for header in zeebe_children(headers, "header"):
                key = header.get("key")
                if not key:
                    self.error(header, MISSING_ATTRIBUTE.format("key"))
                    continue
                keys[key] += 1
                if key.startswith(_RESERVED_HEADER_PREFIX):
                    self.error(
                        headers,
                        f"Attribute 'key' contains '{key}', but header keys starting with "
                        f"'{_RESERVED_HEADER_PREFIX}' are reserved for internal use.",
                    )
            for key, count in keys.items():
                if count > 1:
                    self.error(headers, f"Headers contain duplicate entries for key '{key}'")
        for mapping in zeebe_extensions(node, "ioMapping"):
            for item in zeebe_children(mapping, "input"):
                self.expression(item, item.get("source"), mandatory=True)
                self.path(item, item.get("target"))
            for item in zeebe_children(mapping, "output"):
                self.expression(item, item.get("source"), mandatory=True, non_static=True)
                self.path(item, item.get("target"))
        for listeners in zeebe_extensions(node, "executionListeners"):
            for listener in zeebe_children(listeners, "executionListener"):
                if listener.get("eventType") not in ("start", "end"):
                    self.error(listener, MISSING_ATTRIBUTE.format("eventType"))
                self.require(listener, "type")
                if listener.get("retries") == "":
                    self.error(listener, MISSING_ATTRIBUTE.format("retries"))
                self.expression(listener, listener.get("type"))
                self.expression(listener, listener.get("retries"))
        for called in zeebe_extensions(node, "calledElement"):
            self.require(called, "processId")
            self.expression(called, called.get("processId"), mandatory=True)
        for decision in zeebe_extensions(node, "calledDecision"):
            self.require(decision, "decisionId", "resultVariable")
            self.expression(decision, decision.get("decisionId"), mandatory=True)
        for script in zeebe_extensions(node, "script"):
            self.require(script, "expression", "resultVariable")
            self.expression(script, script.get("expression"), mandatory=True, non_static=True)
        for assignment in zeebe_extensions(node, "assignmentDefinition"):
            self.expression(assignment, assignment.get("assignee"))
            for attribute in ("candidateGroups", "candidateUsers"):
                self.expression(
                    assignment,
                    assignment.get(attribute),
                    static_check=_is_csv,
                    static_description="be a list of comma-separated values, e.g. 'a,b,c'",
                )
        for schedule in zeebe_extensions(node, "taskSchedule"):
            for attribute in ("dueDate", "followUpDate"):
                self.expression(
                    schedule,
                    schedule.get(attribute),
                    static_check=lambda text: timer_syntax.check_date(text) is None,
                    static_description=(
                        "be a valid DateTime String, e.g. '2023-03-02T15:35+02:00'"
                    ),
                )
        native = zeebe_extension(node, "userTask") is not None
        for form in zeebe_extensions(node, "formDefinition"):
            other = "externalReference" if native else "formKey"
            if bool(_blank(form.get("formId"))) == bool(_blank(form.get(other))):
                suffix = " for native user tasks" if native else ""
                self.error(
                    form,
                    f"Exactly one of the attributes 'formId, {other}' must be present and not "
                    f"blank{suffix}",
                )
            if native:
                self.expression(form, form.get("externalReference"))


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _is_csv(text: str) -> bool:
    return all(item.strip() for item in text.split(","))
