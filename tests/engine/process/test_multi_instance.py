"""Multi-instance activities, parallel and sequential (reference §4.3)."""

from __future__ import annotations

import json

from trio_zeebe.testing.bpmn import MultiInstanceSpec, ProcessBuilder

from .driver import Driver


def process(spec: MultiInstanceSpec, outputs: dict[str, str] | None = None) -> bytes:
    return (
        ProcessBuilder("p")
        .start_event("start")
        .service_task("task", job_type="work", multi_instance=spec, outputs=outputs)
        .service_task("after", job_type="after")
        .end_event()
        .done()
    )


def test_parallel_multi_instance_creates_all_inner_instances_at_once() -> None:
    spec = MultiInstanceSpec("=items", input_element="item")
    d = Driver()
    d.deploy(process(spec))
    pi = d.create("p", {"items": ["a", "b", "c"]})
    jobs = d.activate("work")
    assert [json.loads(j.variables)["item"] for j in jobs] == ["a", "b", "c"]
    assert [json.loads(j.variables)["loopCounter"] for j in jobs] == [1, 2, 3]
    body = d.engine.instances()[d.engine.instances()[jobs[0].elementInstanceKey].flow_scope_key]
    assert body.element_type == "MULTI_INSTANCE_BODY" and body.element_id == "task"
    for job in jobs[:2]:
        d.complete(job.key)
    assert not d.activated("after")
    d.complete(jobs[2].key)
    assert d.activated("after")
    d.complete_type("after")
    assert d.is_done(pi)


def test_sequential_multi_instance_runs_one_after_the_other() -> None:
    spec = MultiInstanceSpec("=items", input_element="item", sequential=True)
    d = Driver()
    d.deploy(process(spec))
    d.create("p", {"items": [10, 20]})
    first = d.activate("work")
    assert len(first) == 1 and json.loads(first[0].variables)["item"] == 10
    d.complete(first[0].key)
    second = d.activate("work")
    assert len(second) == 1 and json.loads(second[0].variables)["item"] == 20
    d.complete(second[0].key)
    assert d.activated("after")


def test_the_output_collection_gathers_each_output_element_at_its_index() -> None:
    spec = MultiInstanceSpec(
        "=items", input_element="item", output_collection="results", output_element="=result"
    )
    d = Driver()
    d.deploy(process(spec))
    d.create("p", {"items": [1, 2, 3]})
    jobs = d.activate("work")
    # complete out of order: each result lands at its own index
    for job in reversed(jobs):
        item = json.loads(job.variables)["item"]
        d.complete(job.key, {"result": item * 10})
    after = json.loads(d.job("after").variables)
    assert after["results"] == [10, 20, 30]
    assert "result" not in after  # the job's result stayed in its inner instance


def test_an_empty_collection_completes_the_body_at_once_with_an_empty_output() -> None:
    spec = MultiInstanceSpec("=items", output_collection="results", output_element="=x")
    d = Driver()
    d.deploy(process(spec))
    d.create("p", {"items": []})
    assert d.completed("task")
    assert json.loads(d.job("after").variables)["results"] == []


def test_a_completion_condition_ends_the_body_early_terminating_the_rest() -> None:
    spec = MultiInstanceSpec(
        "=items", input_element="item", completion_condition="=numberOfCompletedInstances >= 2"
    )
    d = Driver()
    d.deploy(process(spec))
    pi = d.create("p", {"items": [1, 2, 3, 4]})
    jobs = d.activate("work")
    d.complete(jobs[0].key)
    assert not d.activated("after")
    d.complete(jobs[1].key)
    assert d.activated("after")
    terminated = [e for e, i in d.path(pi) if i == "ELEMENT_TERMINATED"]
    assert terminated == ["task", "task"]  # the two instances still running
    assert not d.activate("work")


def test_an_input_collection_that_is_no_list_is_an_incident_on_the_body() -> None:
    spec = MultiInstanceSpec("=items")
    d = Driver()
    d.deploy(process(spec))
    pi = d.create("p", {"items": "oops"})
    incident = d.incident()
    assert incident.error_type == "EXTRACT_VALUE_ERROR"
    assert incident.message == (
        "Expected result of the expression 'items' to be 'ARRAY', but was 'STRING'."
    )
    d.set_variables(pi, items=[1])
    d.resolve(incident.key)
    assert len(d.activate("work")) == 1


def test_a_multi_instance_subprocess_gives_each_iteration_its_own_scope() -> None:
    spec = MultiInstanceSpec(
        "=items", input_element="item", output_collection="out", output_element="=item * 2"
    )
    b = ProcessBuilder("p").start_event()
    b.sub_process(
        "sub",
        lambda s: s.start_event().service_task("inner", job_type="inner").end_event(),
        multi_instance=spec,
    )
    b.service_task("after", job_type="after").end_event()
    d = Driver()
    d.deploy(b.done())
    d.create("p", {"items": [1, 2]})
    jobs = d.activate("inner")
    assert sorted(json.loads(j.variables)["item"] for j in jobs) == [1, 2]
    for job in jobs:
        d.complete(job.key)
    assert json.loads(d.job("after").variables)["out"] == [2, 4]
