"""Timer catch events in every position Zeebe allows (reference §6): intermediate catch events,
boundary events (interrupting or not), event subprocesses and event-based gateways; their
timers are due by the leader-stamped time records only, and leaving the scope cancels them."""

from __future__ import annotations

import json

import pytest

from trio_zeebe.testing.bpmn import ProcessBuilder

from .support import START, TimerDriver


def catch(timer: dict[str, str]) -> bytes:
    return (
        ProcessBuilder("p")
        .start_event()
        .intermediate_catch_event("wait", **timer)
        .service_task("after", job_type="after")
        .end_event()
        .done()
    )


# --- intermediate catch events ----------------------------------------------------------------


def test_an_intermediate_timer_waits_for_its_duration_and_only_a_time_record_fires_it() -> None:
    d = TimerDriver()
    d.deploy(catch({"timer_duration": "PT10S"}))
    pi = d.create("p")
    assert d.activated("wait") and not d.completed("wait")
    (created,) = d.timers("CREATED")
    assert created.value["dueDate"] == int((START + 10) * 1000)
    assert created.value["elementInstanceKey"] == d.activated("wait")[0].key
    assert d.deadline_in() == 10.0
    # commands applied later do not fire it, whatever their timestamp
    d.now += 60
    d.create_job("other")
    assert not d.completed("wait")
    d.tick()
    assert d.completed("wait", pi) and d.fired("wait") == 1
    d.complete_type("after")
    assert d.is_done(pi) and d.pending() == []


def test_a_timer_does_not_fire_before_its_due_date() -> None:
    d = TimerDriver()
    d.deploy(catch({"timer_duration": "PT10S"}))
    d.create("p")
    d.advance(9.999)
    assert not d.completed("wait")
    d.advance(0.001)
    assert d.completed("wait")


@pytest.mark.parametrize("duration", ["PT0S", "-PT5S", "PT-1M"])
def test_zero_and_negative_durations_fire_at_the_next_time_record(duration: str) -> None:
    d = TimerDriver()
    d.deploy(catch({"timer_duration": duration}))
    d.create("p")
    assert d.deadline_in() == 0.001  # due now: the leader appends a time record at once
    d.tick()
    assert d.completed("wait")


def test_a_timer_date_fires_at_that_instant_and_a_past_one_at_once() -> None:
    d = TimerDriver()
    d.deploy(catch({"timer_date": "2023-11-15T01:06:40+01:00"}))  # START + 6800 s
    d.create("p")
    assert d.deadline_in() == 6800.0
    d.advance(6800)
    assert d.completed("wait")
    d2 = TimerDriver()
    d2.deploy(catch({"timer_date": "2020-01-01T00:00:00Z"}))
    d2.create("p")
    assert d2.deadline_in() == 0.001
    d2.tick()
    assert d2.completed("wait")


@pytest.mark.parametrize(
    ("expression", "variables", "seconds"),
    [
        ('=duration("PT" + string(delay) + "S")', {"delay": 30}, 30.0),
        ("=wait", {"wait": "PT1M"}, 60.0),
        ("=period", {"period": "P1D"}, 86400.0),
        ('=@"PT2H"', {}, 7200.0),
    ],
)
def test_duration_expressions_use_the_variables_of_the_scope(
    expression: str, variables: dict[str, object], seconds: float
) -> None:
    d = TimerDriver()
    d.deploy(catch({"timer_duration": expression}))
    d.create("p", variables)
    assert d.deadline_in() == seconds


def test_date_expressions_may_return_a_date_time_or_a_text() -> None:
    d = TimerDriver()
    d.deploy(catch({"timer_date": "=when"}))
    d.create("p", {"when": "2023-11-14T22:13:30Z"})  # START + 10 s
    assert d.deadline_in() == 10.0
    d2 = TimerDriver()
    d2.deploy(catch({"timer_date": '=date and time("2023-11-14T22:13:40Z")'}))
    d2.create("p")
    assert d2.deadline_in() == 20.0


def test_input_mappings_are_visible_to_the_timer_expression() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event()
        .intermediate_catch_event("wait", timer_duration="=local")
        .end_event()
        .to_xml()
        .replace(
            '<bpmn:intermediateCatchEvent id="wait">',
            '<bpmn:intermediateCatchEvent id="wait"><bpmn:extensionElements><zeebe:ioMapping>'
            '<zeebe:input source="=&quot;PT5S&quot;" target="local" /></zeebe:ioMapping>'
            "</bpmn:extensionElements>",
        )
    )
    d = TimerDriver()
    d.deploy(xml.encode())
    d.create("p")
    assert d.deadline_in() == 5.0


@pytest.mark.parametrize(
    ("timer", "variables", "message"),
    [
        (
            {"timer_duration": "=delay"},
            {},
            "Expected result of the expression 'delay' to be one of '[DURATION, PERIOD, "
            "STRING]', but was 'NULL'. The evaluation reported the following warnings:\n"
            "[NO_VARIABLE_FOUND] No variable found with name 'delay'",
        ),
        (
            {"timer_duration": "=delay"},
            {"delay": "soon"},
            "Invalid duration format 'soon' for expression 'delay'.",
        ),
        (
            {"timer_date": "=when"},
            {"when": "tomorrow"},
            "Invalid date-time format 'tomorrow' for expression 'when'.",
        ),
        (
            {"timer_date": "=when"},
            {"when": 5},
            "Expected result of the expression 'when' to be one of '[DATE_TIME, STRING]', but "
            "was 'NUMBER'.",
        ),
    ],
)
def test_a_failing_timer_expression_is_an_incident_and_resolving_retries_it(
    timer: dict[str, str], variables: dict[str, object], message: str
) -> None:
    d = TimerDriver()
    d.deploy(catch(timer))
    pi = d.create("p", variables)
    incident = d.incident()
    assert (incident.error_type, incident.message) == ("EXTRACT_VALUE_ERROR", message)
    assert incident.element_id == "wait" and d.pending() == []
    assert ("wait", "ELEMENT_ACTIVATING") in d.path(pi)
    assert ("wait", "ELEMENT_ACTIVATED") not in d.path(pi)
    fixed = {"delay": "PT1S"} if "timer_duration" in timer else {"when": "2023-11-14T22:13:21Z"}
    d.set_variables(pi, **fixed)
    d.resolve(incident.key)
    assert d.incidents() == [] and len(d.pending()) == 1
    d.advance(1)
    assert d.completed("wait")


def test_cancelling_the_instance_cancels_its_timers() -> None:
    d = TimerDriver()
    d.deploy(catch({"timer_duration": "PT10S"}))
    pi = d.create("p")
    d.cancel(pi)
    assert [r.intent for r in d.timers()] == ["CREATED", "CANCELED"]
    assert d.pending() == [] and d.engine.next_deadline() is None
    d.advance(60)
    assert d.fired("wait") == 0


# --- boundary events --------------------------------------------------------------------------


def boundary(timer: dict[str, str], *, interrupting: bool) -> bytes:
    b = ProcessBuilder("p").start_event().service_task("task", job_type="work").end_event("done")
    b.boundary_event("late", attached_to="task", interrupting=interrupting, **timer)
    b.service_task("remind", job_type="remind").end_event("reminded")
    return b.done()


def test_an_interrupting_timer_boundary_event_terminates_the_activity() -> None:
    d = TimerDriver()
    d.deploy(boundary({"timer_duration": "PT1M"}, interrupting=True))
    pi = d.create("p")
    job = d.job("work")
    d.advance(60)
    path = d.path(pi)
    assert path.index(("task", "ELEMENT_TERMINATED")) < path.index(("late", "ELEMENT_ACTIVATED"))
    assert job.key not in d.engine.jobs()
    d.complete_type("remind")
    assert d.is_done(pi) and not d.completed("done")


def test_completing_the_activity_first_cancels_its_boundary_timer() -> None:
    d = TimerDriver()
    d.deploy(boundary({"timer_duration": "PT1M"}, interrupting=True))
    pi = d.create("p")
    d.advance(30)
    d.complete_type("work")
    assert d.is_done(pi) and d.completed("done")
    assert [r.intent for r in d.timers()] == ["CREATED", "CANCELED"]
    d.advance(60)
    assert d.fired("late") == 0


def test_a_non_interrupting_boundary_cycle_fires_its_repetitions_while_the_task_runs() -> None:
    d = TimerDriver()
    d.deploy(boundary({"timer_cycle": "R3/PT10S"}, interrupting=False))
    pi = d.create("p")
    for _ in range(5):
        d.advance(10)
    assert d.fired("late") == 3
    assert len(d.activated("remind")) == 3
    assert d.engine.instances()[pi].state == "ELEMENT_ACTIVATED"
    d.complete_type("work")
    for _ in range(3):
        d.complete_type("remind")
    assert d.is_done(pi)
    # every repetition is a new timer, due 10 s after the one before
    dues = [r.value["dueDate"] for r in d.timers("CREATED")]
    assert dues == [int((START + 10 * n) * 1000) for n in (1, 2, 3)]
    assert [r.value["repetitions"] for r in d.timers("CREATED")] == [3, 2, 1]


def test_completing_the_activity_ends_an_infinite_boundary_cycle() -> None:
    d = TimerDriver()
    d.deploy(boundary({"timer_cycle": "R/PT10S"}, interrupting=False))
    pi = d.create("p")
    for _ in range(4):
        d.advance(10)
    assert d.fired("late") == 4
    d.complete_type("work")
    assert d.pending() == []
    d.advance(100)
    assert d.fired("late") == 4
    for _ in range(4):
        d.complete_type("remind")
    assert d.is_done(pi)


def test_a_non_interrupting_boundary_duration_fires_once_and_the_task_continues() -> None:
    d = TimerDriver()
    d.deploy(boundary({"timer_duration": "PT10S"}, interrupting=False))
    pi = d.create("p")
    d.advance(10)
    d.advance(10)
    assert d.fired("late") == 1
    d.complete_type("remind")
    d.complete_type("work")
    assert d.is_done(pi) and d.completed("done") and d.completed("reminded")


def test_boundary_timer_expressions_see_the_activity_input_mappings() -> None:
    b = ProcessBuilder("p").start_event()
    b.service_task("task", job_type="work", inputs={"limit": '="PT3S"'}).end_event()
    b.boundary_event("late", attached_to="task", timer_duration="=limit").end_event()
    d = TimerDriver()
    d.deploy(b.done())
    d.create("p")
    assert d.deadline_in() == 3.0


def test_a_boundary_timer_on_a_subprocess_terminates_everything_inside() -> None:
    b = ProcessBuilder("p").start_event()
    b.sub_process(
        "sub",
        lambda s: (
            s.start_event()
            .service_task("inner", job_type="inner")
            .intermediate_catch_event("nap", timer_duration="PT1H")
            .end_event()
        ),
    ).end_event("done")
    b.boundary_event("deadline", attached_to="sub", timer_duration="PT10M").end_event("late")
    d = TimerDriver()
    d.deploy(b.done())
    pi = d.create("p")
    d.complete_type("inner")
    assert len(d.pending()) == 2  # the subprocess' boundary timer and the nap
    d.advance(600)
    assert d.completed("late") and d.is_done(pi) and d.pending() == []
    assert d.fired("nap") == 0


def test_a_boundary_timer_on_a_multi_instance_activity_belongs_to_the_body() -> None:
    from trio_zeebe.testing.bpmn import MultiInstanceSpec

    b = ProcessBuilder("p").start_event()
    b.service_task(
        "task", job_type="work", multi_instance=MultiInstanceSpec("=items", input_element="i")
    ).end_event("done")
    b.boundary_event("late", attached_to="task", timer_duration="PT1M").end_event("late_end")
    d = TimerDriver()
    d.deploy(b.done())
    pi = d.create("p", {"items": [1, 2, 3]})
    assert len(d.pending()) == 1  # one timer for the body, none per inner instance
    d.advance(60)
    assert d.is_done(pi) and d.completed("late_end") and d.engine.jobs() == {}


# --- event subprocesses -----------------------------------------------------------------------


def event_subprocess(timer: dict[str, str], *, interrupting: bool) -> bytes:
    b = ProcessBuilder("p").start_event().service_task("task", job_type="work").end_event()
    b.event_sub_process(
        "handler",
        lambda s: (
            s.start_event("tick", interrupting=interrupting, **timer)
            .service_task("handle", job_type="handle")
            .end_event()
        ),
    )
    return b.done()


def test_an_interrupting_timer_event_subprocess_takes_the_scope_over() -> None:
    d = TimerDriver()
    d.deploy(event_subprocess({"timer_duration": "PT5M"}, interrupting=True))
    pi = d.create("p")
    d.advance(300)
    assert ("task", "ELEMENT_TERMINATED") in d.path(pi)
    d.complete_type("handle")
    assert d.is_done(pi) and d.fired("tick") == 1


def test_a_non_interrupting_timer_event_subprocess_cycles_beside_the_scope() -> None:
    d = TimerDriver()
    d.deploy(event_subprocess({"timer_cycle": "R/PT1M"}, interrupting=False))
    pi = d.create("p")
    for _ in range(3):
        d.advance(60)
    assert d.fired("tick") == 3 and len(d.activated("handle")) == 3
    for _ in range(3):
        d.complete_type("handle")
    d.complete_type("work")
    assert d.is_done(pi) and d.pending() == []


def test_a_timer_event_subprocess_of_a_completed_scope_is_cancelled() -> None:
    d = TimerDriver()
    d.deploy(event_subprocess({"timer_date": "2030-01-01T00:00:00Z"}, interrupting=True))
    pi = d.create("p")
    assert len(d.pending()) == 1
    d.complete_type("work")
    assert d.is_done(pi) and d.pending() == []


# --- event-based gateways ---------------------------------------------------------------------


def gateway_race() -> bytes:
    b = ProcessBuilder("p").start_event().event_based_gateway("race")
    b.intermediate_catch_event("fast", timer_duration="PT10S").service_task(
        "on_fast", job_type="fast"
    ).end_event()
    b.move_to("race").intermediate_catch_event("slow", timer_duration="PT20S").end_event("e2")
    return b.done()


def test_the_first_timer_after_an_event_based_gateway_wins_and_closes_the_others() -> None:
    d = TimerDriver()
    d.deploy(gateway_race())
    pi = d.create("p")
    gateway = d.activated("race")[0]
    assert {t.element_instance_key for t in d.pending()} == {gateway.key}
    assert not d.activated("fast")  # the catch events only activate once their event happens
    d.advance(10)
    path = d.path(pi)
    assert path.index(("race", "ELEMENT_COMPLETED")) < path.index(("fast", "ELEMENT_ACTIVATED"))
    assert d.completed("fast") and not d.activated("slow")
    assert d.pending() == [] and d.fired("slow") == 0
    d.advance(20)
    assert not d.activated("slow")
    d.complete_type("fast")
    assert d.is_done(pi)


def test_a_job_completion_and_a_due_timer_in_one_moment_do_not_both_win() -> None:
    """The boundary timer and the job complete 'at once': whichever record comes first wins
    and the other is a no-op."""
    d = TimerDriver()
    d.deploy(boundary({"timer_duration": "PT10S"}, interrupting=True))
    pi = d.create("p")
    job = d.job("work")
    d.now += 10
    d.complete(job.key)  # the completion's record comes before the time record
    d.tick()
    assert d.completed("done") and d.fired("late") == 0 and d.is_done(pi)


def test_timers_fire_earliest_first_in_one_time_record() -> None:
    b = ProcessBuilder("p").start_event().parallel_gateway("fork")
    for name, seconds in (("c", 30), ("a", 10), ("b", 20)):
        b.move_to("fork").intermediate_catch_event(name, timer_duration=f"PT{seconds}S").end_event()
    d = TimerDriver()
    d.deploy(b.done())
    d.create("p")
    d.advance(60)
    order = [r.value["targetElementId"] for r in d.timers("TRIGGERED")]
    assert order == ["a", "b", "c"]


def test_a_time_record_fires_a_bounded_number_of_timers_and_the_rest_follow() -> None:
    from trio_zeebe.engine.runtime.timers import TIMERS_PER_TICK

    d = TimerDriver()
    d.deploy(catch({"timer_duration": "PT1S"}))
    for _ in range(TIMERS_PER_TICK + 5):
        d.create("p")
    d.now += 1
    before = d.engine.next_deadline()
    assert before == d.now  # the leader ticks at exactly the due date
    d.tick()
    assert d.fired("wait") == TIMERS_PER_TICK
    # a deadline that did not move would look like a stuck machine to the processor
    assert d.engine.next_deadline() != before
    # the rest is due now (a millisecond on, so the deadline moved): another record follows
    assert d.deadline_in() == 0.001
    d.until_idle()
    assert d.fired("wait") == TIMERS_PER_TICK + 5


def test_timer_variables_are_none_and_the_instance_runs_on() -> None:
    d = TimerDriver()
    d.deploy(catch({"timer_duration": "PT1S"}))
    pi = d.create("p", {"x": 1})
    d.advance(1)
    assert json.loads(d.job("after").variables) == {"x": 1}
    assert d.variables(pi) == {"x": 1}


# --- forms per position -----------------------------------------------------------------------


def test_each_position_takes_only_the_forms_zeebe_allows() -> None:
    from trio_zeebe.engine.commands import CommandType
    from trio_zeebe.proto import gateway_pb2 as gw

    cycle_catch = catch({"timer_duration": "R3/PT1S"}).replace(b"timeDuration", b"timeCycle")
    duration_start = ProcessBuilder("p").start_event("s", timer_duration="PT1S").end_event().done()
    cycle_interrupting = boundary({"timer_cycle": "R/PT1S"}, interrupting=True)
    bad_cron = catch({"timer_date": "x"}).replace(b"timeDate", b"timeCycle")
    for xml, message in (
        (cycle_catch, "Intermediate timer catch event must have either a time duration or a "
         "time date."),
        (duration_start, "Timer start event must have either a time date or a time cycle."),
        (cycle_interrupting, "Interrupting timer event with time cycle is not allowed."),
        (catch({"timer_duration": "PT1X"}), "Invalid timer duration expression"),
        (bad_cron, "Invalid timer cycle expression"),
    ):  # fmt: skip
        d = TimerDriver()
        request = gw.DeployResourceRequest(resources=[gw.Resource(name="p.bpmn", content=xml)])
        rejection = d.reject(CommandType.DEPLOY_RESOURCE, request)
        assert rejection.type == "INVALID_ARGUMENT" and message in rejection.reason, (
            rejection.reason
        )
    # a non-interrupting boundary event takes a cycle, and every position takes a date
    d = TimerDriver()
    d.deploy(boundary({"timer_cycle": "R/PT1S"}, interrupting=False))
    d.deploy(catch({"timer_date": "2030-01-01T00:00:00Z"}))


def test_a_boundary_timer_on_a_call_activity_terminates_the_called_instance() -> None:
    child = (
        ProcessBuilder("child")
        .start_event()
        .intermediate_catch_event("child_wait", timer_duration="PT1H")
        .end_event()
        .done()
    )
    b = ProcessBuilder("p").start_event().call_activity("call", process_id="child").end_event()
    b.boundary_event("timeout", attached_to="call", timer_duration="PT5M").end_event("late")
    d = TimerDriver()
    d.deploy(("child.bpmn", child), ("p.bpmn", b.done()))
    pi = d.create("p")
    assert {t.target_element_id for t in d.pending()} == {"timeout", "child_wait"}
    d.advance(300)
    assert d.completed("late", pi) and d.is_done(pi)
    assert d.engine.instances() == {} and d.pending() == []
    assert d.fired("child_wait") == 0


def test_an_interrupting_event_subprocess_stops_the_scopes_other_timer_cycles() -> None:
    b = ProcessBuilder("p").start_event().service_task("task", job_type="work").end_event()
    b.event_sub_process(
        "every",
        lambda s: (
            s.start_event("tick", interrupting=False, timer_cycle="R/PT10S")
            .service_task("noted", job_type="note")
            .end_event()
        ),
    )
    b.event_sub_process(
        "stop",
        lambda s: (
            s.start_event("deadline", timer_duration="PT25S")
            .service_task("cleanup", job_type="cleanup")
            .end_event()
        ),
    )
    d = TimerDriver()
    d.deploy(b.done())
    pi = d.create("p")
    for _ in range(5):
        d.advance(10)
    # two ticks before the deadline took the scope over; none after it
    assert d.fired("tick") == 2 and d.fired("deadline") == 1
    assert len(d.activated("noted")) == 2
    assert ("noted", "ELEMENT_TERMINATED") in d.path(pi)
    d.complete_type("cleanup")
    assert d.is_done(pi) and d.pending() == []
