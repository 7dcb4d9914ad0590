"""BPMN for the engine: safe parsing, Zeebe's validation, and the immutable executable model.

Entry point: :func:`parse_bpmn` takes a deployed resource (name and bytes) and returns its
executable processes, or raises :class:`BpmnDeploymentError` whose ``message`` is Zeebe's text
(the XML parser's message, or the list of validation errors, each naming its element) and whose
``str()`` is the ``'<resource>': <message>`` line of a deployment rejection. :func:`checksum` is
Zeebe's duplicate detection digest (MD5 of the resource bytes).

Modules: ``parser`` (bytes -> :class:`Definitions`, through the defused, bounded XML reader
of :mod:`trio_zeebe.engine.safexml` shared with DMN),
``validation`` (Zeebe's rules, :func:`validate` / :func:`format_errors`), ``transform``
(validated document -> :class:`Process`), ``model`` (the frozen classes the engine executes).
"""

from __future__ import annotations

import hashlib

from ..safexml import MAX_SIZE
from . import model
from .model import *  # noqa: F403 -- the model's names, listed once in model.__all__
from .model import Process
from .parser import BPMN_NS, ZEEBE_NS, BpmnDeploymentError, Definitions, parse_definitions
from .transform import transform
from .validation import (
    CheckExpression,
    ValidationError,
    accept_every_expression,
    format_errors,
    validate,
)

__all__ = [
    "BPMN_NS",
    "MAX_SIZE",
    "ZEEBE_NS",
    "BpmnDeploymentError",
    "CheckExpression",
    "Definitions",
    "ValidationError",
    "accept_every_expression",
    "checksum",
    "format_errors",
    "parse_bpmn",
    "parse_definitions",
    "transform",
    "validate",
]
__all__ += model.__all__


def parse_bpmn(
    resource_name: str,
    data: bytes,
    *,
    check_expression: CheckExpression = accept_every_expression,
    max_size: int = MAX_SIZE,
) -> tuple[Process, ...]:
    """The executable processes of a BPMN resource, XML order.

    ``check_expression(source)`` gets every FEEL source (the text after ``=``) and returns why it
    does not parse, or None. Raises :class:`BpmnDeploymentError` for unreadable XML or any
    validation error (all errors of the resource in one message).
    """
    definitions = parse_definitions(resource_name, data, max_size=max_size)
    errors = validate(definitions, check_expression)
    if errors:
        raise BpmnDeploymentError(resource_name, format_errors(errors))
    return transform(definitions)


def checksum(data: bytes) -> bytes:
    """MD5 of the resource bytes: Zeebe's checksum for duplicate deployments."""
    return hashlib.md5(data, usedforsecurity=False).digest()
