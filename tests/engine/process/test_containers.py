"""Embedded subprocesses, call activities and terminate end events (reference §4.3, §4.4)."""

from __future__ import annotations

from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import Driver


def test_an_embedded_subprocess_runs_its_flow_and_then_continues() -> None:
    b = ProcessBuilder("p").start_event("start")
    b.sub_process(
        "sub",
        lambda s: s.start_event("sub_start").service_task("inner", job_type="inner").end_event(),
        inputs={"local": "=1"},
    )
    b.service_task("after", job_type="after").end_event("end")
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p", {"x": 1})
    job = d.job("inner")
    scope = d.engine.instances()[job.elementInstanceKey].flow_scope_key
    assert d.variables(scope) == {"local": 1}  # input mappings are locals of the subprocess
    d.complete(job.key, {"y": 2})
    d.complete_type("after")
    assert d.is_done(pi)
    # the subprocess' locals are gone; job variables were propagated to the root
    assert d.completed_variables(pi) == {"x": 1, "y": 2}
    completed = [e for e, i in d.path(pi) if i == "ELEMENT_COMPLETED"]
    assert completed.index("inner") < completed.index("sub") < completed.index("after")


def test_a_terminate_end_event_ends_its_scope_and_terminates_the_rest() -> None:
    b = ProcessBuilder("p").start_event("start").parallel_gateway("fork")
    b.service_task("slow", job_type="slow").end_event("normal")
    b.move_to("fork").end_event("stop", terminate=True)
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p")
    path = d.path(pi)
    assert ("slow", "ELEMENT_TERMINATED") in path
    assert ("p", "ELEMENT_COMPLETED") in path  # the process completes, it is not terminated
    assert d.is_done(pi) and not d.engine.jobs()


def test_a_terminate_end_event_in_a_subprocess_completes_only_the_subprocess() -> None:
    b = ProcessBuilder("p").start_event("start")
    b.sub_process(
        "sub",
        lambda s: (
            s.start_event()
            .parallel_gateway("fork")
            .service_task("slow", job_type="slow")
            .end_event()
            .move_to("fork")
            .end_event("stop", terminate=True)
        ),
    )
    b.service_task("after", job_type="after").end_event()
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p")
    assert d.completed("sub") and d.activated("after")
    d.complete_type("after")
    assert d.is_done(pi)


def child_process() -> bytes:
    return (
        ProcessBuilder("child")
        .start_event()
        .service_task("child_task", job_type="child")
        .end_event()
        .done()
    )


def parent_process(*, propagate: bool = True, outputs: dict[str, str] | None = None) -> bytes:
    return (
        ProcessBuilder("parent")
        .start_event()
        .call_activity(
            "call",
            process_id="child",
            propagate_all_child_variables=propagate,
            inputs={"forChild": "=x + 1"},
            outputs=outputs,
        )
        .service_task("after", job_type="after")
        .end_event()
        .done()
    )


def test_a_call_activity_starts_the_latest_child_and_copies_all_variables_in_and_out() -> None:
    d = Driver()
    d.deploy(child_process(), parent_process())
    pi = d.create("parent", {"x": 1})
    job = d.job("child")
    assert job.bpmnProcessId == "child" and job.processInstanceKey != pi
    # all variables visible at the call activity (including its input mapping's local)
    assert job.variables == '{"forChild":2,"x":1}'
    d.complete(job.key, {"fromChild": "hi"})
    after = d.job("after")
    # propagated from the call activity: a name it has locally (its input mapping's target)
    # lands there and is discarded with it, the others reach the root
    assert after.variables == '{"x":1,"fromChild":"hi"}'


def test_without_propagating_child_variables_nothing_comes_back() -> None:
    d = Driver()
    d.deploy(child_process(), parent_process(propagate=False))
    d.create("parent", {"x": 1})
    d.complete_type("child", {"fromChild": "hi"})
    assert "fromChild" not in d.job("after").variables


def test_call_activity_output_mappings_pick_from_the_child_variables() -> None:
    d = Driver()
    d.deploy(child_process(), parent_process(outputs={"result": '=fromChild + "!"'}))
    d.create("parent", {"x": 1})
    d.complete_type("child", {"fromChild": "hi", "noise": 1})
    variables = d.job("after").variables
    assert '"result":"hi!"' in variables and "noise" not in variables


def test_a_missing_called_process_is_a_called_element_incident() -> None:
    d = Driver()
    d.deploy(parent_process())
    pi = d.create("parent", {"x": 1})
    incident = d.incident()
    assert incident.error_type == "CALLED_ELEMENT_ERROR"
    assert incident.message == (
        "Expected process with BPMN process id 'child' to be deployed, but not found."
    )
    d.deploy(child_process())
    d.resolve(incident.key)
    d.complete_type("child")
    d.complete_type("after")
    assert d.is_done(pi)


def test_cancelling_the_parent_terminates_the_child_instance() -> None:
    d = Driver()
    d.deploy(child_process(), parent_process())
    pi = d.create("parent", {"x": 1})
    job = d.job("child")
    d.cancel(pi)
    assert not d.engine.instances() and not d.engine.jobs()
    terminated = [e for e, i in d.path() if i == "ELEMENT_TERMINATED"]
    assert terminated == ["child_task", "child", "call", "parent"]
    assert job.processInstanceKey != pi
