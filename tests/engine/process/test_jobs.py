"""Job commands with Zeebe's semantics and texts (reference §1.3, §9), for process jobs and
standalone jobs (the CreateJob extension)."""

from __future__ import annotations

import json

from trio_zeebe.engine.commands import CommandType, command, decode_answer
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import START, Driver

C = CommandType


def process(**task: object) -> bytes:
    return (
        ProcessBuilder("p")
        .start_event()
        .service_task("task", job_type="work", **task)  # type: ignore[arg-type]
        .end_event()
        .done()
    )


def test_an_activated_job_carries_everything_a_worker_needs() -> None:
    d = Driver()
    deployed = d.deploy(process(retries=5, headers={"a": "1", "b": "two"}))
    pi = d.create("p", {"x": 1, "y": {"z": True}})
    job = d.job("work", timeout=30_000, worker="alice")
    definition = deployed.deployments[0].process
    assert job.type == "work" and job.worker == "alice" and job.retries == 5
    assert job.processInstanceKey == pi
    assert job.bpmnProcessId == "p" and job.processDefinitionVersion == 1
    assert job.processDefinitionKey == definition.processDefinitionKey
    assert job.elementId == "task"
    assert d.engine.instances()[job.elementInstanceKey].element_id == "task"
    assert json.loads(job.customHeaders) == {"a": "1", "b": "two"}
    assert job.deadline == int(START * 1000) + 30_000  # epoch milliseconds
    assert json.loads(job.variables) == {"x": 1, "y": {"z": True}}
    assert job.tenantId == "<default>"


def test_fetch_variable_limits_the_variables() -> None:
    d = Driver()
    d.deploy(process())
    d.create("p", {"x": 1, "y": 2, "z": 3})
    job = d.job("work", fetch=["z", "x", "missing"])
    assert json.loads(job.variables) == {"z": 3, "x": 1}


def test_each_job_goes_to_one_activation_lowest_key_first() -> None:
    d = Driver()
    d.deploy(process())
    for _ in range(3):
        d.create("p")
    first = d.activate("work", 2)
    second = d.activate("work", 2)
    assert len(first) == 2 and len(second) == 1
    keys = [j.key for j in first + second]
    assert keys == sorted(keys) and len(set(keys)) == 3
    assert d.activate("work") == []


def test_invalid_activations_are_rejected_with_zeebe_texts() -> None:
    d = Driver()

    def reason(**fields: object) -> str:
        request = gw.ActivateJobsRequest(type="t", worker="w", timeout=1, maxJobsToActivate=1)
        for name, value in fields.items():
            setattr(request, name, value)
        rejection = d.reject(C.ACTIVATE_JOBS, request)
        assert rejection.intent == "ACTIVATE" and rejection.value_type == "JOB_BATCH"
        return rejection.reason

    assert reason(maxJobsToActivate=0) == (
        "Expected to activate job batch with max jobs to activate to be greater than zero, "
        "but it was '0'"
    )
    assert reason(timeout=0) == (
        "Expected to activate job batch with timeout to be greater than zero, but it was '0'"
    )
    assert (
        reason(type="")
        == "Expected to activate job batch with type to be present, but it was blank"
    )


def test_an_expired_lease_makes_the_job_activatable_again_with_the_same_retries() -> None:
    d = Driver()
    d.deploy(process())
    d.create("p")
    job = d.job("work", timeout=5_000)
    assert d.engine.next_deadline() == job.deadline / 1000
    d.tick(4.0)
    assert d.activate("work") == []
    d.tick(1.0)
    again = d.job("work", worker="bob")
    assert again.key == job.key and again.retries == job.retries and again.worker == "bob"


def test_a_job_whose_lease_ran_out_can_still_be_completed() -> None:
    d = Driver()
    d.deploy(process())
    pi = d.create("p")
    job = d.job("work", timeout=1_000)
    d.tick(2.0)
    d.complete(job.key)
    assert d.is_done(pi)


def test_completing_twice_is_not_found() -> None:
    d = Driver()
    d.deploy(process())
    d.create("p")
    job = d.job("work")
    d.complete(job.key)
    rejection = d.reject(C.COMPLETE_JOB, gw.CompleteJobRequest(jobKey=job.key))
    assert rejection.type == "NOT_FOUND" and rejection.intent == "COMPLETE"
    assert rejection.reason == (
        f"Expected to complete job with key '{job.key}', but no such job was found"
    )


def test_fail_with_retries_and_backoff_waits_then_recurs() -> None:
    d = Driver()
    d.deploy(process())
    d.create("p")
    job = d.job("work")
    d.fail(job.key, retries=2, message="try later", backoff=10_000)
    assert d.engine.jobs()[job.key].state == "FAILED"
    rejection = d.reject(C.COMPLETE_JOB, gw.CompleteJobRequest(jobKey=job.key))
    assert rejection.type == "INVALID_STATE"
    assert rejection.reason == (
        f"Expected to complete job with key '{job.key}', but it is in state 'FAILED'"
    )
    d.tick(9.0)
    assert d.activate("work") == []
    d.tick(1.0)
    again = d.job("work")
    assert again.key == job.key and again.retries == 2


def test_fail_without_retries_raises_an_incident_resolved_after_updating_retries() -> None:
    d = Driver()
    d.deploy(process())
    pi = d.create("p")
    job = d.job("work")
    d.fail(job.key, retries=0, message="no luck")
    incident = d.incident()
    assert incident.error_type == "JOB_NO_RETRIES" and incident.message == "no luck"
    assert incident.job_key == job.key and incident.element_instance_key == job.elementInstanceKey
    # resolving first is refused: the job has no retries left
    refused = d.reject(C.RESOLVE_INCIDENT, gw.ResolveIncidentRequest(incidentKey=incident.key))
    assert refused.reason == (
        f"Expected to resolve incident with key '{incident.key}', but job with key "
        f"'{job.key}' has no retries left. Please update the job retries and retry resolving "
        "the incident"
    )
    d.ok(C.UPDATE_JOB_RETRIES, gw.UpdateJobRetriesRequest(jobKey=job.key, retries=3))
    assert d.activate("work") == []  # retries alone do not resolve the incident
    d.resolve(incident.key)
    again = d.job("work")
    assert again.retries == 3
    d.complete(again.key)
    assert d.is_done(pi)


def test_fail_without_a_message_says_no_more_retries() -> None:
    d = Driver()
    d.deploy(process())
    d.create("p")
    d.fail(d.job("work").key, retries=0)
    assert d.incident().message == "No more retries left."


def test_update_retries_must_be_positive() -> None:
    d = Driver()
    rejection = d.reject(C.UPDATE_JOB_RETRIES, gw.UpdateJobRetriesRequest(jobKey=7, retries=0))
    assert rejection.type == "INVALID_ARGUMENT" and rejection.intent == "UPDATE_RETRIES"
    assert rejection.reason == (
        "Expected to update retries for job with key '7' with a positive amount of retries, "
        "but the amount given was '0'"
    )


def test_update_timeout_moves_the_deadline_of_an_activated_job_only() -> None:
    d = Driver()
    d.deploy(process())
    d.create("p")
    key = d.activate("work", timeout=1_000)[0].key
    d.ok(C.UPDATE_JOB_TIMEOUT, gw.UpdateJobTimeoutRequest(jobKey=key, timeout=100_000))
    d.tick(50.0)
    assert d.activate("work") == []  # still leased
    d.complete(key)
    d.create("p")
    other = d.engine.jobs()
    (waiting,) = other
    rejection = d.reject(
        C.UPDATE_JOB_TIMEOUT, gw.UpdateJobTimeoutRequest(jobKey=waiting, timeout=5)
    )
    assert rejection.type == "INVALID_STATE"
    assert rejection.reason == (
        f"Expected to update the timeout of job with key '{waiting}', but it is not active"
    )


def test_standalone_jobs_carry_their_own_variables() -> None:
    d = Driver()
    key = d.create_job("mail", retries=2, to="x@example.com")
    job = d.job("mail")
    assert job.key == key and job.processInstanceKey == -1 and job.elementInstanceKey == -1
    assert json.loads(job.variables) == {"to": "x@example.com"}
    d.complete(key, {"sent": True})
    assert not d.engine.jobs()


def test_an_empty_activation_is_answered_without_a_record() -> None:
    d = Driver()
    request = gw.ActivateJobsRequest(type="t", worker="w", timeout=1, maxJobsToActivate=1)
    payload = command(C.ACTIVATE_JOBS, request)
    answer = d.engine.answer_unlogged(payload)
    assert answer is not None and decode_answer(answer).response(C.ACTIVATE_JOBS).jobs == []
    d.create_job("t")
    assert d.engine.answer_unlogged(payload) is None  # there is work: log it
    invalid = command(C.ACTIVATE_JOBS, gw.ActivateJobsRequest(type="t"))
    assert d.engine.answer_unlogged(invalid) is None  # rejected when applied


def test_new_work_is_announced_for_long_polling() -> None:
    d = Driver()
    d.deploy(process())
    d.engine.take_newly_activatable()
    d.create("p")
    assert d.engine.take_newly_activatable() == {"work"}
    assert d.engine.take_newly_activatable() == set()


def test_cancelling_the_instance_cancels_its_job_and_resolves_its_incident() -> None:
    d = Driver()
    d.deploy(process())
    pi = d.create("p")
    d.fail(d.job("work").key, retries=0)
    assert d.incidents()
    d.cancel(pi)
    assert not d.engine.jobs() and not d.incidents() and not d.engine.instances()
    assert [r.intent for r in d.of("JOB")][-1] == "CANCELED"


def test_a_job_based_user_task_uses_zeebe_job_type_and_headers() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event()
        .user_task(
            "review",
            assignee="=owner",
            candidate_groups="sales, legal",
            form_key="camunda-forms:bpmn:form1",
        )
        .end_event()
        .done()
    )
    d = Driver()
    d.deploy(xml)
    d.create("p", {"owner": "ann"})
    job = d.job("io.camunda.zeebe:userTask")
    assert job.retries == 1
    assert json.loads(job.customHeaders) == {
        "io.camunda.zeebe:formKey": "camunda-forms:bpmn:form1",
        "io.camunda.zeebe:assignee": "ann",
        "io.camunda.zeebe:candidateGroups": '["sales","legal"]',
    }
