"""Timer start events (reference §6, §2): scheduled on partition 1 when a process version is
deployed (the previous version's timers cancelled), evaluated without variables; each firing
creates a process instance that begins at that start event; cycles go on from the previous due
date, so many repetitions do not drift."""

from __future__ import annotations

import datetime as dt

from trio_zeebe.engine.commands import CommandType
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from .support import START, TimerDriver

C = CommandType


def timer_started(timer: dict[str, str], process_id: str = "p", job: str = "work") -> bytes:
    return (
        ProcessBuilder(process_id)
        .start_event("start", **timer)
        .service_task("task", job_type=job)
        .end_event()
        .done()
    )


def instances_started(d: TimerDriver) -> list[int]:
    return [
        r.key
        for r in d.of("PROCESS_INSTANCE", "ELEMENT_ACTIVATED")
        if r.value["bpmnElementType"] == "PROCESS"
    ]


def test_deploying_a_timer_start_event_schedules_it_and_each_firing_starts_an_instance() -> None:
    d = TimerDriver()
    response = d.deploy(timer_started({"timer_cycle": "R3/PT1H"}))
    definition_key = response.deployments[0].process.processDefinitionKey
    (timer,) = d.pending()
    assert (timer.element_instance_key, timer.process_instance_key) == (-1, -1)
    assert (timer.definition_key, timer.target_element_id) == (definition_key, "start")
    assert timer.due_date == int((START + 3600) * 1000) and timer.repetitions == 3
    for _ in range(5):
        d.advance(3600)
    started = instances_started(d)
    assert len(started) == 3 and len(set(started)) == 3
    assert d.pending() == []
    # each instance began at the timer start event and runs like any other
    for key in started:
        path = d.path(key)
        assert path[2] == ("start", "ELEMENT_ACTIVATING") and ("task", "ELEMENT_ACTIVATED") in path
    assert len(d.activate("work")) == 3


def test_a_timer_start_date_fires_once() -> None:
    d = TimerDriver()
    d.deploy(timer_started({"timer_date": "2023-11-15T00:00:00Z"}))
    assert d.deadline_in() == 6400.0
    d.advance(6400)
    d.advance(86400)
    assert len(instances_started(d)) == 1 and d.pending() == []


def test_an_infinite_cycle_does_not_drift_over_many_repetitions_even_with_late_ticks() -> None:
    d = TimerDriver()
    d.deploy(timer_started({"timer_cycle": "R/PT10S"}))
    first = d.pending()[0].due_date
    for n in range(1, 501):
        # the leader appends the time record a little late each time (as under load)
        d.now = first / 1000 + 10 * (n - 1) + (n % 7) * 0.3
        d.tick()
        (timer,) = d.pending()
        assert timer.due_date == first + 10_000 * n
    assert len(instances_started(d)) == 500


def test_a_cron_start_event_fires_on_its_schedule() -> None:
    d = TimerDriver()
    d.now = dt.datetime(2024, 3, 15, 12, 0, 0, tzinfo=dt.UTC).timestamp()  # a Friday noon
    d.deploy(timer_started({"timer_cycle": "0 0 9-17 * * MON-FRI"}))
    fired: list[str] = []
    for _ in range(7):
        due = d.pending()[0].due_date / 1000
        d.now = due
        d.tick()
        fired.append(dt.datetime.fromtimestamp(due, dt.UTC).strftime("%a %H:%M"))
    assert fired == [
        "Fri 13:00",
        "Fri 14:00",
        "Fri 15:00",
        "Fri 16:00",
        "Fri 17:00",
        "Mon 09:00",
        "Mon 10:00",
    ]
    assert len(instances_started(d)) == 7


def test_a_new_version_replaces_the_previous_versions_start_timers() -> None:
    d = TimerDriver()
    v1 = d.deploy(timer_started({"timer_cycle": "R/PT1H"})).deployments[0].process
    v2_xml = timer_started({"timer_cycle": "R/PT2H"}, job="work2")
    v2 = d.deploy(v2_xml).deployments[0].process
    assert v2.version == 2
    (timer,) = d.pending()
    assert timer.definition_key == v2.processDefinitionKey
    cancelled = d.timers("CANCELED")
    assert [r.value["processDefinitionKey"] for r in cancelled] == [v1.processDefinitionKey]
    d.advance(7200)
    assert len(instances_started(d)) == 1 and d.activate("work2") and not d.activate("work")


def test_a_new_version_without_a_timer_start_event_cancels_the_old_ones() -> None:
    d = TimerDriver()
    d.deploy(timer_started({"timer_cycle": "R/PT1H"}))
    d.deploy(ProcessBuilder("p").start_event().end_event().done())
    assert d.pending() == []


def test_redeploying_the_same_resource_keeps_the_schedule() -> None:
    d = TimerDriver()
    xml = timer_started({"timer_cycle": "R/PT1H"})
    d.deploy(xml)
    before = d.pending()
    d.advance(1800)
    again = d.deploy(xml).deployments[0].process
    assert again.version == 1 and d.pending() == before


def test_start_event_expressions_are_evaluated_at_deployment_without_variables() -> None:
    d = TimerDriver()
    d.deploy(timer_started({"timer_cycle": '=cycle(3, duration("PT30M"))'}))
    (timer,) = d.pending()
    assert (timer.repetitions, timer.cycle) == (3, "R3/PT30M")
    assert d.deadline_in() == 1800.0


def test_a_start_event_expression_that_fails_rejects_the_whole_deployment() -> None:
    d = TimerDriver()
    request = gw.DeployResourceRequest(
        resources=[
            gw.Resource(name="ok.bpmn", content=timer_started({"timer_cycle": "R/PT1H"}, "ok")),
            gw.Resource(
                name="bad.bpmn", content=timer_started({"timer_cycle": "=schedule"}, "bad")
            ),
        ]
    )
    rejection = d.reject(C.DEPLOY_RESOURCE, request)
    assert (rejection.type, rejection.intent, rejection.value_type) == (
        "PROCESSING_ERROR",
        "CREATE",
        "DEPLOYMENT",
    )
    assert rejection.reason.startswith(
        "Expected to create timer for start event, but encountered the following error: "
        "Expected result of the expression 'schedule' to be 'STRING', but was 'NULL'."
    )
    assert d.engine.definitions() == {} and d.pending() == []


def test_timer_start_events_live_on_partition_one_only() -> None:
    one = TimerDriver(1, 2)
    one.deploy(timer_started({"timer_cycle": "R/PT1M"}))
    two = TimerDriver(2, 2)
    for send in one.engine.outbox():
        two.position += 1
        two.engine.receive(send.payload, two.position, two.now)
    assert len(two.engine.definitions()) == 1 and two.pending() == []
    assert two.engine.next_deadline() is None
    assert len(one.pending()) == 1


def test_a_process_with_a_timer_start_and_a_none_start_still_starts_by_command() -> None:
    b = ProcessBuilder("p").start_event("timed", timer_cycle="R/PT1H")
    b.service_task("t", job_type="t").end_event()
    b.start_event("manual").connect_to("t")
    d = TimerDriver()
    d.deploy(b.done())
    pi = d.create("p")
    assert ("manual", "ELEMENT_COMPLETED") in d.path(pi)
    assert ("timed", "ELEMENT_ACTIVATING") not in d.path(pi)
    d.advance(3600)
    timed = instances_started(d)[-1]
    assert ("timed", "ELEMENT_COMPLETED") in d.path(timed)
    assert ("manual", "ELEMENT_ACTIVATING") not in d.path(timed)
