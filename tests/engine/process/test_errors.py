"""Error events: boundary events and error event subprocesses catching a job's ThrowError or
an error end event, by code (exact beats catch-all), walking up scopes and into the calling
process; UNHANDLED_ERROR_EVENT incidents otherwise (reference §4.3, §9)."""

from __future__ import annotations

from trio_zeebe.engine.commands import CommandType
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import Driver


def with_boundary(*, code: str | None = "E1", catch_all: bool = False) -> bytes:
    b = ProcessBuilder("p").start_event("start").service_task("task", job_type="work")
    b.end_event("done")
    b.boundary_event("caught", attached_to="task", error_code=code, error_catch_all=catch_all)
    b.end_event("recovered")
    return b.done()


def test_a_boundary_event_catches_the_thrown_error_and_interrupts_the_task() -> None:
    d = Driver()
    d.deploy(with_boundary())
    pi = d.create("p")
    job = d.job("work")
    d.throw(job.key, "E1", "boom", reason="out of stock")
    path = d.path(pi)
    assert ("task", "ELEMENT_TERMINATED") in path
    assert path.index(("task", "ELEMENT_TERMINATED")) < path.index(("caught", "ELEMENT_ACTIVATED"))
    assert d.completed("recovered") and not d.completed("done")
    assert d.is_done(pi)
    # the error's variables reached the process scope (no output mappings: propagated)
    assert d.completed_variables(pi) == {"reason": "out of stock"}
    assert not d.engine.jobs()  # the job went with its task


def test_an_exact_error_code_beats_the_catch_all_in_the_same_scope() -> None:
    b = ProcessBuilder("p").start_event("start").service_task("task", job_type="work")
    b.end_event("done")
    b.boundary_event("any", attached_to="task", error_catch_all=True).end_event("end_any")
    b.boundary_event("exact", attached_to="task", error_code="E2").end_event("end_exact")
    d = Driver()
    d.deploy(b.done())
    d.create("p")
    d.throw(d.job("work").key, "E2")
    assert d.completed("end_exact") and not d.activated("any")


def test_the_catch_all_catches_other_codes() -> None:
    d = Driver()
    d.deploy(with_boundary(code=None, catch_all=True))
    d.create("p")
    d.throw(d.job("work").key, "WHATEVER")
    assert d.completed("recovered")


def test_an_uncaught_error_is_an_incident_and_the_job_waits_for_resolving() -> None:
    d = Driver()
    d.deploy(with_boundary(code="E1"))
    d.create("p")
    job = d.job("work")
    d.throw(job.key, "OTHER", "it broke")
    incident = d.incident()
    assert incident.error_type == "UNHANDLED_ERROR_EVENT"
    assert incident.message == (
        "Expected to throw an error event with the code 'OTHER' with message 'it broke', "
        "but it was not caught. Available error events are [E1]"
    )
    assert incident.job_key == job.key and incident.element_id == "task"
    assert d.engine.jobs()[job.key].state == "ERROR_THROWN"
    assert d.activate("work") == []  # not activatable while the incident stands
    d.resolve(incident.key)
    again = d.job("work")
    assert again.key == job.key
    d.complete(again.key)
    assert d.completed("done")


def test_no_error_events_at_all_says_so() -> None:
    xml = ProcessBuilder("p").start_event().service_task("task", job_type="work").end_event().done()
    d = Driver()
    d.deploy(xml)
    d.create("p")
    d.throw(d.job("work").key, "E")
    assert d.incident().message == (
        "Expected to throw an error event with the code 'E', but it was not caught. "
        "No error events are available in the scope."
    )


def test_the_error_propagates_up_to_a_subprocess_boundary_event() -> None:
    b = ProcessBuilder("p").start_event("start")
    b.sub_process(
        "sub",
        lambda s: s.start_event("sub_start").service_task("task", job_type="work").end_event(),
    )
    b.end_event("done")
    b.boundary_event("caught", attached_to="sub", error_code="E1").end_event("recovered")
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p")
    d.throw(d.job("work").key, "E1")
    path = d.path(pi)
    assert ("task", "ELEMENT_TERMINATED") in path and ("sub", "ELEMENT_TERMINATED") in path
    assert d.completed("recovered") and d.is_done(pi)


def test_an_error_event_subprocess_interrupts_its_scope() -> None:
    b = ProcessBuilder("p").start_event("start")
    b.parallel_gateway("fork").service_task("task", job_type="work").end_event("done")
    b.move_to("fork").service_task("other", job_type="other").end_event("done2")
    b.event_sub_process(
        "handler",
        lambda s: (
            s.start_event("on_error", error_code="E1")
            .service_task("cleanup", job_type="cleanup")
            .end_event("handled")
        ),
    )
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p")
    d.throw(d.job("work").key, "E1", detail=7)
    path = d.path(pi)
    assert ("other", "ELEMENT_TERMINATED") in path  # every other child is terminated first
    job = d.job("cleanup")
    assert job.variables == '{"detail":7}'
    d.complete(job.key)
    assert d.completed("handled") and d.is_done(pi)
    assert not d.completed("done") and not d.completed("done2")


def test_an_error_end_event_is_caught_by_the_subprocess_boundary() -> None:
    b = ProcessBuilder("p").start_event("start")
    b.sub_process("sub", lambda s: s.start_event().end_event("fail", error_code="BAD"))
    b.end_event("done")
    b.boundary_event("caught", attached_to="sub", error_code="BAD").end_event("recovered")
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p")
    assert d.completed("recovered") and not d.completed("done") and d.is_done(pi)


def test_an_uncaught_error_end_event_is_an_incident_on_the_end_event() -> None:
    xml = ProcessBuilder("p").start_event().end_event("fail", error_code="BAD").done()
    d = Driver()
    d.deploy(xml)
    d.create("p")
    incident = d.incident()
    assert incident.error_type == "UNHANDLED_ERROR_EVENT"
    assert incident.element_id == "fail" and incident.job_key == -1
    assert incident.message == (
        "Expected to throw an error event with the code 'BAD', but it was not caught. "
        "No error events are available in the scope."
    )
    end = d.engine.instances()[incident.element_instance_key]
    assert end.state == "ELEMENT_ACTIVATING"
    d.resolve(incident.key)  # cannot be fixed by resolving: the same incident again
    assert [i.element_id for i in d.incidents()] == ["fail"]


def test_the_error_crosses_into_the_calling_process() -> None:
    child = (
        ProcessBuilder("child")
        .start_event()
        .service_task("task", job_type="work")
        .end_event()
        .done()
    )
    parent = ProcessBuilder("parent").start_event().call_activity("call", process_id="child")
    parent.end_event("done")
    parent.boundary_event("caught", attached_to="call", error_code="E1").end_event("recovered")
    d = Driver()
    d.deploy(child, parent.done())
    pi = d.create("parent")
    job = d.job("work")
    d.throw(job.key, "E1")
    assert d.completed("recovered") and d.is_done(pi)
    assert not d.engine.instances()  # the child instance was terminated too


def test_throw_error_for_a_missing_job_is_rejected_with_zeebe_text() -> None:
    d = Driver()
    rejection = d.reject(
        CommandType.THROW_ERROR, gw.ThrowErrorRequest(jobKey=2251799813685999, errorCode="E")
    )
    assert rejection.type == "NOT_FOUND" and rejection.intent == "THROW_ERROR"
    assert rejection.reason == (
        "Expected to throw an error for job with key '2251799813685999', but no such job was found"
    )


def escalation_process(*, interrupting: bool) -> bytes:
    b = ProcessBuilder("p").start_event("start")
    b.sub_process(
        "sub",
        lambda s: (
            s.start_event()
            .intermediate_throw_event("escalate", escalation_code="LATE")
            .service_task("work", job_type="work")
            .end_event("sub_end")
        ),
    )
    b.end_event("done")
    b.boundary_event(
        "late", attached_to="sub", escalation_code="LATE", interrupting=interrupting
    ).service_task("notify", job_type="notify").end_event("notified")
    return b.done()


def test_a_non_interrupting_escalation_boundary_runs_beside_the_thrower() -> None:
    d = Driver()
    d.deploy(escalation_process(interrupting=False))
    pi = d.create("p")
    assert d.completed("escalate")  # the thrower continues
    assert [r.intent for r in d.of("ESCALATION")] == ["ESCALATED"]
    d.complete_type("notify")
    d.complete_type("work")
    assert d.completed("done") and d.completed("notified") and d.is_done(pi)


def test_an_interrupting_escalation_boundary_interrupts_the_subprocess() -> None:
    d = Driver()
    d.deploy(escalation_process(interrupting=True))
    pi = d.create("p")
    assert ("escalate", "ELEMENT_TERMINATED") in d.path(pi)
    assert ("sub", "ELEMENT_TERMINATED") in d.path(pi)
    assert d.activate("work") == []
    d.complete_type("notify")
    assert d.completed("notified") and not d.completed("done") and d.is_done(pi)


def test_an_uncaught_escalation_is_no_incident_and_the_thrower_continues() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event()
        .intermediate_throw_event("escalate", escalation_code="NOBODY")
        .end_event("end", escalation_code="NOBODY_EITHER")
        .done()
    )
    d = Driver()
    d.deploy(xml)
    pi = d.create("p")
    assert d.is_done(pi) and not d.incidents()
    assert [r.intent for r in d.of("ESCALATION")] == ["NOT_ESCALATED", "NOT_ESCALATED"]


def test_an_interrupting_event_subprocess_clears_tokens_waiting_at_a_join() -> None:
    b = ProcessBuilder("p").start_event("start").parallel_gateway("fork")
    b.service_task("a", job_type="a").parallel_gateway("join").end_event("done")
    b.move_to("fork").service_task("b", job_type="b").connect_to("join")
    b.event_sub_process(
        "handler", lambda s: s.start_event("on_error", error_code="E").end_event("handled")
    )
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p")
    d.complete_type("b")  # its token waits at the join
    d.throw(d.job("a").key, "E")
    assert d.completed("handled") and d.is_done(pi)
