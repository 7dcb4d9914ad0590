"""The test builder writes processes the parser accepts, with the shapes engine tests need."""

from __future__ import annotations

import pytest

from trio_zeebe.engine.bpmn import (
    BpmnElementType,
    BpmnEventType,
    CalledElement,
    JobDefinition,
    MultiInstance,
    Process,
    Script,
    TimerDefinition,
    TimerKind,
    VariableMapping,
    parse_bpmn,
)
from trio_zeebe.testing.bpmn import MultiInstanceSpec, ProcessBuilder

T = BpmnElementType


def deploy(builder: ProcessBuilder) -> Process:
    (process,) = parse_bpmn(f"{builder.process_id}.bpmn", builder.done())
    return process


def test_start_service_task_end() -> None:
    process = deploy(
        ProcessBuilder("simple", name="Simple")
        .start_event("start")
        .service_task(
            "task",
            job_type="work",
            retries=5,
            headers={"k": "v"},
            inputs={"a": "=x"},
            outputs={"b": "=y"},
        )
        .end_event("end")
    )
    assert (process.id, process.name, process.none_start_event) == ("simple", "Simple", "start")
    assert process.children["simple"] == ("start", "task", "end")
    task = process.element("task")
    assert task.job == JobDefinition("work", "5", {"k": "v"})
    assert task.inputs == (VariableMapping("=x", "a"),)
    assert task.outputs == (VariableMapping("=y", "b"),)
    (flow,) = process.outgoing_flows("task")
    assert (flow.source_ref, flow.target_ref) == ("task", "end")


def test_gateways_with_conditions_default_and_loops() -> None:
    process = deploy(
        ProcessBuilder("order")
        .start_event("start")
        .service_task("pay", job_type="payment")
        .exclusive_gateway("ok")
        .condition("=paid")
        .end_event("done")
        .move_to("ok")
        .default_flow()
        .service_task("retry", job_type="retry")
        .connect_to("pay")
    )
    flows = process.outgoing_flows("ok")
    assert [(f.target_ref, f.condition, f.is_default) for f in flows] == [
        ("done", "=paid", False),
        ("retry", None, True),
    ]
    assert process.element("ok").default_flow == flows[1].id
    assert len(process.element("pay").incoming) == 2


def test_parallel_fork_and_join() -> None:
    process = deploy(
        ProcessBuilder("fork")
        .start_event()
        .parallel_gateway("split")
        .service_task("a", job_type="a")
        .parallel_gateway("join")
        .end_event()
        .move_to("split")
        .service_task("b", job_type="b")
        .connect_to("join")
    )
    assert len(process.element("split").outgoing) == 2
    assert len(process.element("join").incoming) == 2
    assert process.element("join").element_type is T.PARALLEL_GATEWAY


def test_boundary_events() -> None:
    process = deploy(
        ProcessBuilder("boundaries")
        .start_event()
        .service_task("work", job_type="work")
        .end_event("done")
        .boundary_event("timeout", attached_to="work", timer_duration="PT1M")
        .end_event("timed_out")
        .boundary_event("failed", attached_to="work", error_code="FAILED")
        .end_event("failed_end")
        .boundary_event(
            "ping", attached_to="work", message="ping", correlation_key="=id", interrupting=False
        )
        .end_event("pinged")
    )
    assert process.boundary_events["work"] == ("timeout", "failed", "ping")
    assert process.element("timeout").timer == TimerDefinition(TimerKind.DURATION, "PT1M")
    failed = process.element("failed").error
    assert failed is not None and failed.error_code == "FAILED"
    ping = process.element("ping")
    assert ping.cancel_activity is False and ping.message is not None
    assert (ping.message.name, ping.message.correlation_key) == ("ping", "=id")
    assert dict(process.error_catch_events["work"]) == {"FAILED": "failed"}


def test_subprocess_and_event_subprocess() -> None:
    process = deploy(
        ProcessBuilder("nested")
        .start_event()
        .sub_process(
            "sub",
            lambda inner: (
                inner.start_event("inner_start")
                .service_task("inner", job_type="inner")
                .end_event("inner_end")
            ),
        )
        .end_event()
        .event_sub_process(
            "on_error",
            lambda inner: inner.start_event("error_start", error_code="BOOM").end_event(),
        )
    )
    assert process.none_start_events["sub"] == "inner_start"
    assert process.element("inner").flow_scope_id == "sub"
    assert process.event_subprocesses["nested"] == ("on_error",)
    assert process.element("on_error").element_type is T.EVENT_SUB_PROCESS
    assert dict(process.error_catch_events["nested"]) == {"BOOM": "error_start"}


def test_multi_instance_and_call_activity() -> None:
    spec = MultiInstanceSpec(
        "=items", "item", "results", "=result", sequential=True, completion_condition="=done"
    )
    process = deploy(
        ProcessBuilder("many")
        .start_event()
        .service_task("each", job_type="each", multi_instance=spec)
        .call_activity("child", process_id="child-process", propagate_all_child_variables=False)
        .end_event()
    )
    assert process.element("each").multi_instance == MultiInstance(
        "=items", True, "item", "results", "=result", "=done"
    )
    assert process.element("child").called_element == CalledElement("child-process", False)


def test_message_and_timer_catch_events_receive_task_and_timer_start() -> None:
    process = deploy(
        ProcessBuilder("waits")
        .start_event("tick", timer_cycle="R/PT1H")
        .intermediate_catch_event("paid", message="paid", correlation_key="=orderId")
        .intermediate_catch_event("nap", timer_duration="PT5S")
        .receive_task("shipped", message="shipped", correlation_key="=orderId")
        .end_event()
    )
    assert process.timer_start_events == ("tick",)
    paid = process.element("paid")
    assert paid.event_type is BpmnEventType.MESSAGE and paid.message is not None
    assert (paid.message.name, paid.message.correlation_key) == ("paid", "=orderId")
    assert process.element("nap").timer == TimerDefinition(TimerKind.DURATION, "PT5S")
    assert process.element("shipped").element_type is T.RECEIVE_TASK


def test_event_based_gateway_script_user_and_end_kinds() -> None:
    process = deploy(
        ProcessBuilder("misc")
        .start_event()
        .script_task("sum", expression="=a + b", result_variable="total")
        .user_task("review", assignee="=reviewer", form_key="camunda-forms:bpmn:f")
        .event_based_gateway("choice")
        .intermediate_catch_event("msg", message="m", correlation_key="=k")
        .end_event("terminated", terminate=True)
        .move_to("choice")
        .intermediate_catch_event("late", timer_duration="PT1H")
        .end_event("failed", error_code="LATE")
    )
    assert process.element("sum").script == Script("=a + b", "total")
    review = process.element("review")
    assert review.user_task is not None and review.user_task.assignee == "=reviewer"
    assert process.element("terminated").event_type is BpmnEventType.TERMINATE
    failed = process.element("failed").error
    assert failed is not None and failed.error_code == "LATE"


def test_links() -> None:
    process = deploy(
        ProcessBuilder("links")
        .start_event()
        .intermediate_throw_event("jump", link="L")
        .intermediate_catch_event("land", link="L")
        .end_event()
    )
    assert dict(process.link_catch_events["links"]) == {"L": "land"}
    assert process.element("jump").outgoing == () and process.element("land").incoming == ()


def test_misuse_is_reported() -> None:
    with pytest.raises(KeyError):
        ProcessBuilder().start_event().move_to("nope")
    with pytest.raises(ValueError, match="attach"):
        ProcessBuilder().boundary_event(timer_duration="PT1S")
