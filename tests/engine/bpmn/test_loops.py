"""Zeebe rejects processes with a loop that never waits (it would run forever)."""

from __future__ import annotations

import pytest

from trio_zeebe.engine.bpmn import parse_bpmn
from trio_zeebe.testing.bpmn import ProcessBuilder

from .support import errors, rejection

LOOP = "Processes are not allowed to contain a straight-through processing loop: "


def test_a_loop_of_tasks_is_rejected_on_the_process() -> None:
    data = (
        ProcessBuilder("spin")
        .start_event("start")
        .task("a")
        .exclusive_gateway("again")
        .default_flow()
        .manual_task("b")
        .connect_to("a")
        .move_to("again")
        .condition("=false")
        .end_event("end")
        .done()
    )
    assert errors(data) == [("spin", LOOP + "a > again > b > a")]
    assert rejection(data).message == f"- Element: spin\n    - ERROR: {LOOP}a > again > b > a\n"


@pytest.mark.parametrize(
    "waiting",
    [
        lambda b: b.service_task("wait", job_type="work"),
        lambda b: b.user_task("wait"),
        lambda b: b.intermediate_catch_event("wait", timer_duration="PT1M"),
        lambda b: b.receive_task("wait", message="m", correlation_key="=k"),
    ],
)
def test_a_loop_with_a_wait_state_is_fine(waiting: object) -> None:
    builder = ProcessBuilder("waiting").start_event().task("a")
    builder = waiting(builder)  # type: ignore[operator]
    builder.exclusive_gateway("again").default_flow().connect_to("a")
    builder.move_to("again").condition("=done").end_event()
    assert parse_bpmn("waiting.bpmn", builder.done())


def test_loops_through_subprocesses_and_self_calls_are_found() -> None:
    sub = (
        ProcessBuilder("outer")
        .start_event()
        .task("before")
        .sub_process("sub", lambda s: s.start_event("inner_start").task("inner"))
        .connect_to("before")
        .done()
    )
    assert errors(sub) == [("outer", LOOP + "before > sub > inner_start > inner > before")]
    call = ProcessBuilder("me").start_event("s").call_activity("again", process_id="me").done()
    assert errors(call) == [("me", LOOP + "again > s > again")]
    dynamic = ProcessBuilder("me").start_event().call_activity("x", process_id="=me").done()
    assert errors(dynamic) == []


def test_script_tasks_loop_only_when_the_engine_evaluates_them() -> None:
    feel = (
        ProcessBuilder("p")
        .start_event()
        .script_task("s", expression="=1", result_variable="r")
        .connect_to("s")
        .done()
    )
    assert errors(feel) == [("p", LOOP + "s > s")]


def test_a_long_chain_is_no_problem() -> None:
    builder = ProcessBuilder("long").start_event()
    for index in range(5000):
        builder.task(f"t{index}")
    builder.end_event()
    (process,) = parse_bpmn("long.bpmn", builder.done())
    assert len(process.children["long"]) == 5002
