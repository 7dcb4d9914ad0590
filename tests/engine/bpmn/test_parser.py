"""Hostile and broken input: refused with a clear BpmnDeploymentError, never anything else."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_zeebe.engine.bpmn import MAX_SIZE, BpmnDeploymentError, parse_bpmn
from trio_zeebe.engine.safexml import MAX_DEPTH

from .support import RESOURCES, document, rejection, resource

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <bpmn:process id="p" name="&xxe;" isExecutable="true"><bpmn:startEvent id="s" /></bpmn:process>
</bpmn:definitions>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol4;</bpmn:definitions>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE definitions SYSTEM "http://example.com/bpmn.dtd">
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" />"""

REFUSED_DTD = (
    "DOCTYPE declarations are not allowed: DTDs, entity declarations and external references "
    "are refused"
)


@pytest.mark.parametrize("data", [XXE, BILLION_LAUGHS, EXTERNAL_DTD], ids=["xxe", "laughs", "dtd"])
def test_dtds_and_entities_are_refused(data: bytes) -> None:
    error = rejection(data, "evil.bpmn")
    assert error.message == REFUSED_DTD
    assert str(error) == f"'evil.bpmn': {REFUSED_DTD}"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Expected a BPMN XML document, but it is empty"),
        (b"  \n\t", "Expected a BPMN XML document, but it is empty"),
        (b"\x00\xff garbage", "XML is not well-formed: not well-formed (invalid token): line 1, "
         "column 1"),
        (b"<a><b></a>", "XML is not well-formed: mismatched tag: line 1, column 8"),
        (b"<bpmn:definitions>", "XML is not well-formed: unbound prefix: line 1, column 0"),
    ],
)  # fmt: skip
def test_broken_xml_gives_the_parsers_message(data: bytes, message: str) -> None:
    assert rejection(data).message == message


def test_wrong_root_element() -> None:
    error = rejection(b'<definitions xmlns="http://www.omg.org/spec/DMN/20191111/MODEL/" />')
    assert error.message == (
        "Expected the root element 'definitions' of namespace "
        "'http://www.omg.org/spec/BPMN/20100524/MODEL', but found 'definitions' of namespace "
        "'http://www.omg.org/spec/DMN/20191111/MODEL/'"
    )
    assert "found 'html'" in rejection(b"<html />").message


def test_size_and_depth_are_bounded() -> None:
    big = document("<!-- " + "x" * MAX_SIZE + " -->")
    assert "exceeds the maximum BPMN resource size" in rejection(big).message
    deep = b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1)
    assert rejection(deep).message == f"XML elements are nested deeper than {MAX_DEPTH} levels"


def test_size_limit_is_configurable() -> None:
    data = resource("gateways.bpmn")
    with pytest.raises(BpmnDeploymentError, match="exceeds the maximum"):
        parse_bpmn("g.bpmn", data, max_size=len(data) - 1)
    assert parse_bpmn("g.bpmn", data, max_size=len(data))


def test_other_encodings_are_read() -> None:
    text = resource("gateways.bpmn").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    (process,) = parse_bpmn("utf16.bpmn", text.encode("utf-16"))
    assert process.id == "gateways"
    error = rejection(text.replace("UTF-16", "no-such-codec").encode())
    assert "no-such-codec" in error.message or "encoding" in error.message


VALID = [resource(path.name) for path in sorted(RESOURCES.glob("*.bpmn"))]


def _deploy_or_reject(data: bytes) -> None:
    try:
        parse_bpmn("fuzz.bpmn", data)
    except BpmnDeploymentError as error:
        assert str(error).startswith("'fuzz.bpmn': ") and error.message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_else(data: bytes) -> None:
    _deploy_or_reject(data)


_SELF_CLOSING = re.compile(rb"^\s*<[^<>]+/>\s*$")
_VALUE = re.compile(rb'(\w+)="([^"]*)"')


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A Modeler file with a few structural edits (most stay well-formed XML) and sometimes a
    raw byte edit."""
    lines = draw(st.sampled_from(VALID)).split(b"\n")
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        choice = draw(st.integers(0, 9))
        if choice <= 2 and _SELF_CLOSING.match(line):  # drop a self-contained element
            del lines[index]
        elif choice == 3 and _SELF_CLOSING.match(line):  # duplicate it (duplicate ids, ...)
            lines.insert(index, line)
        elif choice <= 7:  # give an attribute another value: an id, a keyword, nothing, junk
            values = _VALUE.findall(line)
            if values:
                name, _ = draw(st.sampled_from(values))
                replacement = draw(
                    st.sampled_from([b"", b"true", b"false", b"=", b"=x", b"start", b"end",
                                     b"f1", b"sub", b"work", b"Message_update", b"a b", b"R/PT1S",
                                     b"PT1S", b"io.camunda.zeebe:x"])
                )  # fmt: skip
                lines[index] = re.sub(
                    rb"\b" + name + rb'="[^"]*"', name + b'="' + replacement + b'"', line, count=1
                )
        elif choice == 8:  # swap two lines
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif line:  # a raw byte edit
            position = draw(st.integers(0, len(line) - 1))
            lines[index] = (
                line[:position] + bytes([draw(st.integers(0, 255))]) + line[position + 1 :]
            )
    return b"\n".join(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_modeler_files_deploy_or_are_rejected_cleanly(data: bytes) -> None:
    _deploy_or_reject(data)
