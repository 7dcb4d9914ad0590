"""Helpers for the BPMN tests: resources, and small documents written around a process body."""

from __future__ import annotations

from pathlib import Path

from trio_zeebe.engine.bpmn import (
    BpmnDeploymentError,
    CheckExpression,
    Process,
    ValidationError,
    accept_every_expression,
    parse_bpmn,
    parse_definitions,
    validate,
)

RESOURCES = Path(__file__).parent / "resources"

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" '
    'targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def resource(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


def load(name: str) -> tuple[Process, ...]:
    return parse_bpmn(name, resource(name))


def document(body: str, roots: str = "", *, process_id: str = "p") -> bytes:
    """A definitions document with one executable process around ``body``."""
    return (
        f'{HEADER}<bpmn:process id="{process_id}" isExecutable="true">\n{body}\n'
        f"</bpmn:process>\n{roots}\n</bpmn:definitions>\n"
    ).encode()


def errors(data: bytes, check: CheckExpression = accept_every_expression) -> list[tuple[str, str]]:
    """(element chain, message) of every validation error of a document."""
    found: list[ValidationError] = validate(parse_definitions("test.bpmn", data), check)
    return [(error.element, error.message) for error in found]


def rejection(data: bytes, name: str = "test.bpmn") -> BpmnDeploymentError:
    try:
        parse_bpmn(name, data)
    except BpmnDeploymentError as error:
        return error
    raise AssertionError("expected the resource to be rejected")


# A start event and an end event, for bodies that only care about what is in between.
START = '<bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'


def task(task_id: str, job_type: str = "work", extra: str = "") -> str:
    return (
        f'<bpmn:serviceTask id="{task_id}"><bpmn:extensionElements>'
        f'<zeebe:taskDefinition type="{job_type}" />{extra}</bpmn:extensionElements>'
        "</bpmn:serviceTask>"
    )


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (
        f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )
