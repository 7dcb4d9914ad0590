"""Zeebe's validation rules: each produces Zeebe's message on the element's id chain."""

from __future__ import annotations

import pytest

from trio_zeebe.engine.bpmn import parse_bpmn

from .support import START, document, errors, flow, rejection, task

UNSUPPORTED = (
    "Elements of type '{}' are currently not supported. Please refer to the documentation for a "
    "list of supported elements: https://docs.camunda.io/docs/components/modeler/bpmn/"
    "bpmn-coverage/"
)
END = '<bpmn:endEvent id="end" />'


def linear(*middle: str) -> str:
    """start -> middle elements (ids taken from the snippets' order) -> end."""
    return "\n".join([START, *middle, END])


def case(body: str, element: str, message: str, roots: str = "") -> object:
    return pytest.param(body, roots, element, message, id=f"{element}: {message[:40]}")


CASES = [
    # --- elements and extension elements ----------------------------------------------------
    case(
        START + '<bpmn:complexGateway id="cg" />',
        "cg",
        UNSUPPORTED.format("ComplexGateway"),
    ),
    case(
        START + '<bpmn:transaction id="tx"><bpmn:startEvent id="ts" /></bpmn:transaction>',
        "tx",
        UNSUPPORTED.format("Transaction"),
    ),
    case(
        START + '<bpmn:task id="t"><bpmn:standardLoopCharacteristics /></bpmn:task>',
        "t > standardLoopCharacteristics",
        UNSUPPORTED.format("StandardLoopCharacteristics"),
    ),
    case(
        START + '<bpmn:serviceTask id="st" />',
        "st",
        "Must have exactly one 'zeebe:taskDefinition' extension element",
    ),
    case(
        START + '<bpmn:sendTask id="st" />',
        "st",
        "Must have exactly one 'zeebe:taskDefinition' extension element",
    ),
    case(
        START + task("st", job_type=""),
        "st > extensionElements > taskDefinition",
        "Attribute 'type' must be present and not empty",
    ),
    case(
        START + '<bpmn:serviceTask id="st"><bpmn:extensionElements><zeebe:taskDefinition type="a" '
        'retries="" /></bpmn:extensionElements></bpmn:serviceTask>',
        "st > extensionElements > taskDefinition",
        "Attribute 'retries' must be present and not empty",
    ),
    case(
        START + '<bpmn:scriptTask id="s" />',
        "s",
        "Must have either one 'zeebe:script' or one 'zeebe:taskDefinition' extension element",
    ),
    case(
        START + '<bpmn:scriptTask id="s"><bpmn:extensionElements><zeebe:script expression="=1" '
        'resultVariable="r" /><zeebe:taskDefinition type="x" /></bpmn:extensionElements>'
        "</bpmn:scriptTask>",
        "s",
        "Must have either one 'zeebe:script' or one 'zeebe:taskDefinition' extension element",
    ),
    case(
        START + '<bpmn:scriptTask id="s"><bpmn:extensionElements><zeebe:script expression="=1" />'
        "</bpmn:extensionElements></bpmn:scriptTask>",
        "s > extensionElements > script",
        "Attribute 'resultVariable' must be present and not empty",
    ),
    case(
        START + '<bpmn:businessRuleTask id="b" />',
        "b",
        "Must have either one 'zeebe:calledDecision' or one 'zeebe:taskDefinition' extension "
        "element",
    ),
    case(
        START + '<bpmn:businessRuleTask id="b"><bpmn:extensionElements><zeebe:calledDecision '
        'decisionId="d" /></bpmn:extensionElements></bpmn:businessRuleTask>',
        "b > extensionElements > calledDecision",
        "Attribute 'resultVariable' must be present and not empty",
    ),
    case(
        START + '<bpmn:businessRuleTask id="b"><bpmn:extensionElements><zeebe:calledDecision '
        'resultVariable="r" /></bpmn:extensionElements></bpmn:businessRuleTask>',
        "b > extensionElements > calledDecision",
        "Attribute 'decisionId' must be present and not empty",
    ),
    case(
        START + '<bpmn:callActivity id="c" />',
        "c",
        "Must have exactly one 'zeebe:calledElement' extension element",
    ),
    case(
        START + '<bpmn:callActivity id="c"><bpmn:extensionElements><zeebe:calledElement />'
        "</bpmn:extensionElements></bpmn:callActivity>",
        "c > extensionElements > calledElement",
        "Attribute 'processId' must be present and not empty",
    ),
    case(
        START
        + task(
            "st",
            extra='<zeebe:ioMapping><zeebe:input source="=a" target="x" /></zeebe:ioMapping>'
            '<zeebe:ioMapping><zeebe:input source="=b" target="y" /></zeebe:ioMapping>',
        ),
        "st",
        "Must have exactly one 'zeebe:ioMapping' extension element when exists. Please check "
        "process definition XML and retain only one extension element.",
    ),
    case(
        START
        + task(
            "st",
            extra='<zeebe:taskHeaders><zeebe:header key="io.camunda.zeebe:x" value="1" />'
            "</zeebe:taskHeaders>",
        ),
        "st > extensionElements > taskHeaders",
        "Attribute 'key' contains 'io.camunda.zeebe:x', but header keys starting with "
        "'io.camunda.zeebe:' are reserved for internal use.",
    ),
    case(
        START
        + task(
            "st",
            extra='<zeebe:taskHeaders><zeebe:header key="k" value="1" /><zeebe:header key="k" '
            'value="2" /></zeebe:taskHeaders>',
        ),
        "st > extensionElements > taskHeaders",
        "Headers contain duplicate entries for key 'k'",
    ),
    case(
        START
        + task(
            "st",
            extra='<zeebe:executionListeners><zeebe:executionListener eventType="later" '
            'type="t" /></zeebe:executionListeners>',
        ),
        "st > extensionElements > executionListeners > executionListener",
        "Attribute 'eventType' must be present and not empty",
    ),
    case(
        START + '<bpmn:userTask id="u"><bpmn:extensionElements><zeebe:formDefinition />'
        "</bpmn:extensionElements></bpmn:userTask>",
        "u > extensionElements > formDefinition",
        "Exactly one of the attributes 'formId, formKey' must be present and not blank",
    ),
    case(
        START + '<bpmn:userTask id="u"><bpmn:extensionElements><zeebe:userTask />'
        '<zeebe:formDefinition formKey="k" /></bpmn:extensionElements></bpmn:userTask>',
        "u > extensionElements > formDefinition",
        "Exactly one of the attributes 'formId, externalReference' must be present and not "
        "blank for native user tasks",
    ),
    case(
        START + '<bpmn:userTask id="u"><bpmn:extensionElements><zeebe:assignmentDefinition '
        'candidateGroups="a,,b" /></bpmn:extensionElements></bpmn:userTask>',
        "u > extensionElements > assignmentDefinition",
        "Expected static value to be a list of comma-separated values, e.g. 'a,b,c', but found "
        "'a,,b'.",
    ),
    case(
        START + '<bpmn:userTask id="u"><bpmn:extensionElements><zeebe:taskSchedule '
        'dueDate="tomorrow" /></bpmn:extensionElements></bpmn:userTask>',
        "u > extensionElements > taskSchedule",
        "Expected static value to be a valid DateTime String, e.g. '2023-03-02T15:35+02:00', "
        "but found 'tomorrow'.",
    ),
    # --- multi-instance ---------------------------------------------------------------------
    case(
        START + '<bpmn:task id="t"><bpmn:multiInstanceLoopCharacteristics /></bpmn:task>',
        "t > multiInstanceLoopCharacteristics",
        "Must have exactly one 'zeebe:loopCharacteristics' extension element",
    ),
    case(
        START + '<bpmn:task id="t"><bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
        '<zeebe:loopCharacteristics inputElement="x" /></bpmn:extensionElements>'
        "</bpmn:multiInstanceLoopCharacteristics></bpmn:task>",
        "t > multiInstanceLoopCharacteristics > extensionElements > loopCharacteristics",
        "Attribute 'inputCollection' must be present and not empty",
    ),
    case(
        START + '<bpmn:task id="t"><bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
        '<zeebe:loopCharacteristics inputCollection="=xs" outputCollection="ys" />'
        "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:task>",
        "t > multiInstanceLoopCharacteristics > extensionElements > loopCharacteristics",
        "Attribute 'outputElement' must be present if the attribute 'outputCollection' is set",
    ),
    case(
        START + '<bpmn:task id="t"><bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
        '<zeebe:loopCharacteristics inputCollection="=xs" outputElement="=y" />'
        "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:task>",
        "t > multiInstanceLoopCharacteristics > extensionElements > loopCharacteristics",
        "Attribute 'outputCollection' must be present if the attribute 'outputElement' is set",
    ),
    # --- gateways and flows -----------------------------------------------------------------
    case(
        START
        + '<bpmn:exclusiveGateway id="g" />'
        + END
        + '<bpmn:endEvent id="end2" />'
        + flow("f0", "start", "g")
        + flow("f1", "g", "end", "=x")
        + flow("f2", "g", "end2"),
        "f2",
        "Must have a condition or be default flow",
    ),
    case(
        START
        + '<bpmn:inclusiveGateway id="g" />'
        + END
        + '<bpmn:endEvent id="end2" />'
        + flow("f0", "start", "g")
        + flow("f1", "g", "end", "=x")
        + flow("f2", "g", "end2"),
        "f2",
        "Must have a condition",
    ),
    case(
        START
        + '<bpmn:exclusiveGateway id="g" default="f0" />'
        + END
        + flow("f0", "start", "g")
        + flow("f1", "g", "end"),
        "g",
        "Default flow must start at gateway",
    ),
    case(
        START
        + '<bpmn:parallelGateway id="g" />'
        + END
        + flow("f0", "start", "g")
        + flow("f1", "g", "end", "=x"),
        "g",
        "Conditional sequence flows are only supported at exclusive or inclusive gateway",
    ),
    case(
        START + flow("f0", "start", "nowhere"),
        "f0",
        "SequenceFlow has targetRef 'nowhere'  which cannot be resolved",
    ),
    case(
        START + '<bpmn:sequenceFlow id="f0" targetRef="start" />',
        "f0",
        "SequenceFlow is missing required attribute sourceRef",
    ),
    case(
        START
        + '<bpmn:subProcess id="sp"><bpmn:startEvent id="in" /></bpmn:subProcess>'
        + flow("f0", "start", "in"),
        "f0",
        "SequenceFlow has targetRef 'in' which is not in the flow scope of the sequence flow",
    ),
    case(
        START
        + '<bpmn:eventBasedGateway id="g" />'
        + '<bpmn:intermediateCatchEvent id="c"><bpmn:timerEventDefinition><bpmn:timeDuration>'
        "PT1S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + flow("f0", "start", "g")
        + flow("f1", "g", "c"),
        "g",
        "Event-based gateway must have at least 2 outgoing sequence flows.",
    ),
    case(
        START
        + '<bpmn:eventBasedGateway id="g" />'
        + '<bpmn:intermediateCatchEvent id="c"><bpmn:timerEventDefinition><bpmn:timeDuration>'
        "PT1S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + task("t")
        + flow("f0", "start", "g")
        + flow("f1", "g", "c")
        + flow("f2", "g", "t"),
        "g",
        "Event-based gateway must not have an outgoing sequence flow to other elements than "
        "message/timer/signal intermediate catch events.",
    ),
    case(
        START
        + '<bpmn:eventBasedGateway id="g" />'
        + '<bpmn:intermediateCatchEvent id="c"><bpmn:timerEventDefinition><bpmn:timeDuration>'
        "PT1S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + '<bpmn:intermediateCatchEvent id="d"><bpmn:timerEventDefinition><bpmn:timeDuration>'
        "PT2S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + flow("f0", "start", "g")
        + flow("f1", "g", "c")
        + flow("f2", "g", "d")
        + flow("f3", "start", "d"),
        "g",
        "Target elements of an event gateway must not have any additional incoming sequence "
        "flows other than that from the event gateway.",
    ),
    # --- start and end events ---------------------------------------------------------------
    case(START + '<bpmn:startEvent id="s2" />', "p", "Multiple none start events are not allowed"),
    case(task("t"), "p", "Must have at least one start event"),
    case(
        START + '<bpmn:subProcess id="sp" />',
        "sp",
        "Must have exactly one start event",
    ),
    case(
        START + '<bpmn:subProcess id="sp"><bpmn:startEvent id="a" /><bpmn:startEvent id="b" />'
        "</bpmn:subProcess>",
        "sp",
        "Must have exactly one start event",
    ),
    case(
        START + '<bpmn:subProcess id="sp"><bpmn:startEvent id="a"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:startEvent></bpmn:subProcess>",
        "sp",
        "Start events in subprocesses must be of type none",
    ),
    case(
        START + '<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="a" />'
        "</bpmn:subProcess>",
        "esp",
        "Start events in event subprocesses must be one of: message, timer, error, signal or "
        "escalation",
    ),
    case(
        START + '<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="a" '
        'isInterrupting="false"><bpmn:errorEventDefinition /></bpmn:startEvent></bpmn:subProcess>',
        "esp",
        "Non-Interrupting event of this type is not allowed",
    ),
    case(
        START + '<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="a">'
        "<bpmn:timerEventDefinition><bpmn:timeCycle>R/PT1S</bpmn:timeCycle>"
        "</bpmn:timerEventDefinition></bpmn:startEvent></bpmn:subProcess>",
        "esp",
        "Interrupting timer event with time cycle is not allowed.",
    ),
    case(
        '<bpmn:startEvent id="s"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1S'
        "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent>",
        "s",
        "Timer start event must have either a time date or a time cycle.",
    ),
    case(
        '<bpmn:startEvent id="s"><bpmn:errorEventDefinition /></bpmn:startEvent>',
        "s",
        "Start event must be one of the following types: none, timer, message, signal",
    ),
    case(
        '<bpmn:startEvent id="s"><bpmn:timerEventDefinition><bpmn:timeCycle>R/P1D'
        "</bpmn:timeCycle></bpmn:timerEventDefinition><bpmn:signalEventDefinition "
        'signalRef="sig" /></bpmn:startEvent>',
        "s",
        "Start event can't have more than one type",
        roots='<bpmn:signal id="sig" name="s" />',
    ),
    case(
        START + flow("f0", "start", "end") + END + task("t") + flow("f1", "end", "t"),
        "end",
        "End events must not have outgoing sequence flows to other elements.",
    ),
    case(
        START + '<bpmn:endEvent id="e"><bpmn:timerEventDefinition /></bpmn:endEvent>',
        "e",
        "End events must be one of: none, error, message, terminate, signal, escalation or "
        "compensation",
    ),
    case(
        START + '<bpmn:endEvent id="e"><bpmn:errorEventDefinition id="ed" /></bpmn:endEvent>',
        "ed",
        "Must reference an error",
    ),
    case(
        START
        + '<bpmn:endEvent id="e"><bpmn:errorEventDefinition errorRef="err" /></bpmn:endEvent>',
        "e > errorEventDefinition",
        "ErrorCode must be present and not empty",
        roots='<bpmn:error id="err" name="no code" />',
    ),
    case(
        START + '<bpmn:endEvent id="e"><bpmn:messageEventDefinition /></bpmn:endEvent>',
        "e",
        "Must have exactly one 'zeebe:taskDefinition' extension element",
    ),
    case(
        START + '<bpmn:endEvent id="e"><bpmn:escalationEventDefinition /></bpmn:endEvent>',
        "e > escalationEventDefinition",
        "Must reference an escalation",
    ),
    case(
        START + '<bpmn:endEvent id="e"><bpmn:escalationEventDefinition escalationRef="esc" />'
        "</bpmn:endEvent>",
        "esc",
        "EscalationCode must be present and not empty",
        roots='<bpmn:escalation id="esc" />',
    ),
    case(
        START + '<bpmn:endEvent id="e"><bpmn:signalEventDefinition /></bpmn:endEvent>',
        "e > signalEventDefinition",
        "Must reference a signal",
    ),
    case(
        START
        + '<bpmn:endEvent id="e"><bpmn:signalEventDefinition signalRef="s" /></bpmn:endEvent>',
        "s",
        "Name must be present and not empty",
        roots='<bpmn:signal id="s" />',
    ),
    # --- intermediate events ----------------------------------------------------------------
    case(
        START + '<bpmn:intermediateCatchEvent id="c" />',
        "c",
        "Must have exactly one event definition",
    ),
    case(
        START + '<bpmn:intermediateCatchEvent id="c"><bpmn:errorEventDefinition />'
        "</bpmn:intermediateCatchEvent>",
        "c",
        "Event definition must be one of: message, timer, signal, or link",
    ),
    case(
        START
        + '<bpmn:intermediateCatchEvent id="c"><bpmn:timerEventDefinition><bpmn:timeCycle>R/PT1S'
        "</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
        "c",
        "Intermediate timer catch event must have either a time duration or a time date.",
    ),
    case(
        START + '<bpmn:intermediateCatchEvent id="c"><bpmn:timerEventDefinition id="td" />'
        "</bpmn:intermediateCatchEvent>",
        "td",
        "Must be exactly one type of timer: timeDuration, timeDate or timeCycle",
    ),
    case(
        START + '<bpmn:intermediateCatchEvent id="c"><bpmn:conditionalEventDefinition id="cd" />'
        "</bpmn:intermediateCatchEvent>",
        "cd",
        "Event definition of this type is not supported",
    ),
    case(
        START + '<bpmn:intermediateCatchEvent id="c"><bpmn:messageEventDefinition id="md" />'
        "</bpmn:intermediateCatchEvent>",
        "md",
        "Must reference a message",
    ),
    case(
        START + '<bpmn:intermediateCatchEvent id="c"><bpmn:messageEventDefinition messageRef="m" />'
        "</bpmn:intermediateCatchEvent>",
        "m",
        "Must have exactly one zeebe:subscription extension element",
        roots='<bpmn:message id="m" name="x" />',
    ),
    case(
        START + '<bpmn:intermediateCatchEvent id="c"><bpmn:messageEventDefinition messageRef="m" />'
        "</bpmn:intermediateCatchEvent>",
        "m",
        "Name must be present and not empty",
        roots='<bpmn:message id="m"><bpmn:extensionElements><zeebe:subscription '
        'correlationKey="=k" /></bpmn:extensionElements></bpmn:message>',
    ),
    case(
        START + '<bpmn:receiveTask id="r" messageRef="m" />',
        "m > extensionElements > subscription",
        "Attribute 'correlationKey' must be present and not empty",
        roots='<bpmn:message id="m" name="x"><bpmn:extensionElements><zeebe:subscription />'
        "</bpmn:extensionElements></bpmn:message>",
    ),
    case(START + '<bpmn:receiveTask id="r" />', "r", "Must reference a message"),
    case(
        '<bpmn:startEvent id="s1"><bpmn:messageEventDefinition messageRef="m" /></bpmn:startEvent>'
        '<bpmn:startEvent id="s2"><bpmn:messageEventDefinition messageRef="m" /></bpmn:startEvent>',
        "m",
        "A message cannot be referred by more than one start event",
        roots='<bpmn:message id="m" name="x" />',
    ),
    case(
        '<bpmn:startEvent id="s1"><bpmn:messageEventDefinition messageRef="m1" />'
        '</bpmn:startEvent><bpmn:startEvent id="s2"><bpmn:messageEventDefinition '
        'messageRef="m2" /></bpmn:startEvent>',
        "p",
        "Multiple message event definitions with the same name 'x' are not allowed.",
        roots='<bpmn:message id="m1" name="x" /><bpmn:message id="m2" name="x" />',
    ),
    case(
        START + '<bpmn:intermediateThrowEvent id="t"><bpmn:linkEventDefinition name="A" />'
        "</bpmn:intermediateThrowEvent>",
        "p",
        "Can't find an catch link event for the throw link event with the name 'A'.",
    ),
    case(
        START + '<bpmn:intermediateCatchEvent id="a"><bpmn:linkEventDefinition name="L" />'
        '</bpmn:intermediateCatchEvent><bpmn:intermediateCatchEvent id="b">'
        '<bpmn:linkEventDefinition name="L" /></bpmn:intermediateCatchEvent>',
        "p",
        "Multiple intermediate catch link event definitions with the same name 'L' are not "
        "allowed.",
    ),
    case(
        START + '<bpmn:intermediateCatchEvent id="a"><bpmn:linkEventDefinition id="ld" />'
        "</bpmn:intermediateCatchEvent>",
        "ld",
        "Link name must be present and not empty.",
    ),
    case(
        START + '<bpmn:intermediateThrowEvent id="t"><bpmn:errorEventDefinition />'
        "</bpmn:intermediateThrowEvent>",
        "t",
        "Intermediate throw events must be one of: none, message, signal, escalation, link or "
        "compensation",
    ),
    # --- boundary events --------------------------------------------------------------------
    case(
        START + '<bpmn:boundaryEvent id="b"><bpmn:outgoing>x</bpmn:outgoing>'
        "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration>"
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>" + END + flow("x", "b", "end"),
        "b",
        "Must be attached to an activity",
    ),
    case(
        START + '<bpmn:boundaryEvent id="b" attachedToRef="start"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:boundaryEvent>" + END + flow("x", "b", "end"),
        "b",
        "Must be attached to an activity",
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:boundaryEvent>",
        "b",
        "Must have at least one outgoing sequence flow or association",
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:boundaryEvent>" + END + flow("x", "b", "end") + flow("y", "start", "b"),
        "b",
        "Cannot have incoming sequence flows",
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b" attachedToRef="t" />'
        + END
        + flow("x", "b", "end"),
        "b",
        "Must have exactly one event definition",
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:linkEventDefinition name="l" />'
        "</bpmn:boundaryEvent>" + END + flow("x", "b", "end"),
        "b",
        "Boundary events must be one of: timer, message, error, signal, escalation",
    ),
    case(
        START + task("t") + '<bpmn:boundaryEvent id="b" attachedToRef="t" cancelActivity="false">'
        "<bpmn:errorEventDefinition /></bpmn:boundaryEvent>" + END + flow("x", "b", "end"),
        "b",
        "Non-Interrupting event of this type is not allowed",
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:timerEventDefinition>'
        "<bpmn:timeCycle>R/PT1S</bpmn:timeCycle></bpmn:timerEventDefinition>"
        "</bpmn:boundaryEvent>" + END + flow("x", "b", "end"),
        "b",
        "Interrupting timer event with time cycle is not allowed.",
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:escalationEventDefinition />'
        "</bpmn:boundaryEvent>" + END + flow("x", "b", "end"),
        "b",
        "An escalation boundary event should only be attached to a subprocess, or a call activity.",
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:errorEventDefinition '
        'id="ed" errorRef="err" /></bpmn:boundaryEvent>' + END + flow("x", "b", "end"),
        "ed",
        "The errorCode of the error catch event is not allowed to be an expression",
        roots='<bpmn:error id="err" errorCode="=code" />',
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b1" attachedToRef="t"><bpmn:errorEventDefinition />'
        '</bpmn:boundaryEvent><bpmn:boundaryEvent id="b2" attachedToRef="t">'
        "<bpmn:errorEventDefinition /></bpmn:boundaryEvent>"
        + END
        + flow("x", "b1", "end")
        + flow("y", "b2", "end"),
        "t",
        "The same scope can not contain more than one error catch event without error code. An "
        "error catch event without error code catches all errors.",
    ),
    case(
        START
        + task("t")
        + '<bpmn:boundaryEvent id="b1" attachedToRef="t"><bpmn:errorEventDefinition '
        'errorRef="e1" /></bpmn:boundaryEvent><bpmn:boundaryEvent id="b2" attachedToRef="t">'
        '<bpmn:errorEventDefinition errorRef="e2" /></bpmn:boundaryEvent>'
        + END
        + flow("x", "b1", "end")
        + flow("y", "b2", "end"),
        "t",
        "Multiple error catch events with the same error code 'E' are not supported on the same "
        "scope.",
        roots='<bpmn:error id="e1" errorCode="E" /><bpmn:error id="e2" errorCode="E" />',
    ),
    case(
        START
        + '<bpmn:receiveTask id="r" messageRef="m" />'
        + '<bpmn:boundaryEvent id="b" attachedToRef="r"><bpmn:messageEventDefinition '
        'messageRef="m" /></bpmn:boundaryEvent>' + END + flow("x", "b", "end"),
        "r",
        "Cannot reference the same message name as a boundary event",
        roots='<bpmn:message id="m" name="x"><bpmn:extensionElements><zeebe:subscription '
        'correlationKey="=k" /></bpmn:extensionElements></bpmn:message>',
    ),
    # --- ids --------------------------------------------------------------------------------
    case(START + task("start"), "start", "There are multiple occurrences of ID value 'start'."),
    case(START + task("my task"), "my task", "'my task' is not a valid value for 'NCName'."),
]


@pytest.mark.parametrize(("body", "roots", "element", "message"), CASES)
def test_rule(body: str, roots: str, element: str, message: str) -> None:
    found = errors(document(body, roots))
    assert (element, message) in found, found


def test_no_executable_process() -> None:
    data = document(START).replace(b'isExecutable="true"', b'isExecutable="false"')
    assert errors(data) == [("definitions", "Must contain at least one executable process")]


def test_invalid_process_id() -> None:
    found = errors(document(START, process_id="1st process"))
    assert ("1st process", "'1st process' is not a valid value for 'NCName'.") in found


def test_all_errors_of_a_resource_are_reported_together_in_zeebes_format() -> None:
    body = (
        START + '<bpmn:serviceTask id="charge"><bpmn:extensionElements><zeebe:taskDefinition />'
        "</bpmn:extensionElements></bpmn:serviceTask>"
        + '<bpmn:exclusiveGateway id="g" />'
        + '<bpmn:endEvent id="a" /><bpmn:endEvent id="b" />'
        + '<bpmn:complexGateway id="cg" />'
        + flow("f0", "start", "charge")
        + flow("f1", "charge", "g")
        + flow("f2", "g", "a", "=x")
        + flow("f3", "g", "b")
    )
    error = rejection(document(body), "order.bpmn")
    assert error.resource_name == "order.bpmn"
    assert error.message == (
        "- Element: charge > extensionElements > taskDefinition\n"
        "    - ERROR: Attribute 'type' must be present and not empty\n"
        "    - ERROR: Expected expression but not found.\n"
        "- Element: cg\n"
        f"    - ERROR: {UNSUPPORTED.format('ComplexGateway')}\n"
        "- Element: f3\n"
        "    - ERROR: Must have a condition or be default flow\n"
    )
    assert str(error) == "'order.bpmn': " + error.message


def test_elements_without_id_are_named_by_their_position() -> None:
    body = (
        START + '<bpmn:task id="t"><bpmn:extensionElements><zeebe:ioMapping>'
        '<zeebe:output source="=a" target="1x" /></zeebe:ioMapping></bpmn:extensionElements>'
        "</bpmn:task>"
    )
    found = errors(document(body))
    assert (
        "t > extensionElements > ioMapping > output",
        "Expected path expression '1x' but doesn't match the pattern "
        "'[a-zA-Z_][a-zA-Z0-9_]*(\\.[a-zA-Z_][a-zA-Z0-9_]*)*'.",
    ) in found


def test_valid_documents_have_no_errors() -> None:
    body = (
        START
        + task(
            "t",
            extra='<zeebe:ioMapping><zeebe:input source="x" target="a.b" />'
            '<zeebe:output source="=y" target="c" /></zeebe:ioMapping>',
        )
        + END
        + flow("f0", "start", "t")
        + flow("f1", "t", "end")
    )
    assert errors(document(body)) == []
    (process,) = parse_bpmn("ok.bpmn", document(body))
    assert process.id == "p"


def test_non_executable_processes_are_not_validated() -> None:
    data = document(START) + b""
    data = data.replace(
        b"</bpmn:definitions>",
        b'<bpmn:process id="draft"><bpmn:complexGateway id="cg" /><bpmn:serviceTask id="st" />'
        b"</bpmn:process></bpmn:definitions>",
    )
    assert errors(data) == []
    assert [p.id for p in parse_bpmn("x.bpmn", data)] == ["p"]


def test_message_used_only_by_a_start_event_needs_no_subscription() -> None:
    body = (
        '<bpmn:startEvent id="s"><bpmn:messageEventDefinition messageRef="m" /></bpmn:startEvent>'
    )
    assert errors(document(body, '<bpmn:message id="m" name="go" />')) == []
    assert errors(document(body, '<bpmn:message id="m" />')) == [
        ("m", "Name must be present and not empty")
    ]


@pytest.mark.parametrize(
    ("position", "timer", "accepted"),
    [
        ("start", "timeDate", True),
        ("start", "timeCycle", True),
        ("start", "timeDuration", False),
        ("catch", "timeDuration", True),
        ("catch", "timeDate", True),
        ("catch", "timeCycle", False),
        ("interrupting", "timeDuration", True),
        ("interrupting", "timeDate", True),
        ("interrupting", "timeCycle", False),
        ("non-interrupting", "timeDuration", True),
        ("non-interrupting", "timeDate", True),
        ("non-interrupting", "timeCycle", True),
    ],
)
def test_timer_forms_per_position(position: str, timer: str, accepted: bool) -> None:
    text = {"timeDate": "2030-01-01T00:00:00Z", "timeCycle": "R/PT1M", "timeDuration": "PT1M"}
    definition = (
        f"<bpmn:timerEventDefinition><bpmn:{timer}>{text[timer]}</bpmn:{timer}>"
        "</bpmn:timerEventDefinition>"
    )
    if position == "start":
        body = f'<bpmn:startEvent id="s">{definition}</bpmn:startEvent>'
    elif position == "catch":
        body = START + f'<bpmn:intermediateCatchEvent id="c">{definition}'
        body += "</bpmn:intermediateCatchEvent>"
    else:
        cancel = "true" if position == "interrupting" else "false"
        body = (
            START
            + task("t")
            + END
            + f'<bpmn:boundaryEvent id="b" attachedToRef="t" cancelActivity="{cancel}">'
            + definition
            + "</bpmn:boundaryEvent>"
            + flow("x", "b", "end")
        )
    assert (errors(document(body)) == []) is accepted


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("timeDuration", "PT1X", "Invalid timer duration expression (Text 'PT1X' cannot be "
         "parsed to a Duration)"),
        ("timeDate", "soon", "Invalid timer date expression (Text 'soon' could not be parsed "
         "as a date-time)"),
    ],
)  # fmt: skip
def test_static_timers_must_parse(kind: str, text: str, message: str) -> None:
    body = (
        START
        + f'<bpmn:intermediateCatchEvent id="c"><bpmn:timerEventDefinition><bpmn:{kind}>{text}'
        f"</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    assert ("c", message) in errors(document(body))
    # an expression is evaluated at run time, not at deployment
    assert errors(document(body.replace(f">{text}<", ">=later<"))) == []
