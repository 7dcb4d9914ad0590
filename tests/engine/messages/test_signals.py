"""Signals (reference §4.3 Signals): BroadcastSignal, signal start events, catch events,
boundary events, event subprocesses, throw and end events, distribution to every partition."""

from __future__ import annotations

import json

from trio_zeebe.keys import partition_of
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder, ScopeBuilder

from ..process.driver import C, Driver
from .net import Net
from .support import broadcast, instances_of


def deployed(*xml: bytes) -> Driver:
    d = Driver()
    d.deploy(*xml)
    return d


def catching(process_id: str = "p", signal: str = "go") -> bytes:
    return (
        ProcessBuilder(process_id)
        .start_event()
        .intermediate_catch_event("wait", signal=signal)
        .service_task("after", job_type="after")
        .done()
    )


def test_broadcast_answers_a_key_and_the_default_tenant() -> None:
    d = Driver(2, 2)
    response = d.ok(C.BROADCAST_SIGNAL, gw.BroadcastSignalRequest(signalName="s"))
    assert partition_of(response.key) == 2 and response.tenantId == "<default>"
    bad = d.reject(C.BROADCAST_SIGNAL, gw.BroadcastSignalRequest(signalName="s", variables="1"))
    assert (bad.type, bad.intent, bad.value_type) == ("INVALID_ARGUMENT", "BROADCAST", "SIGNAL")
    assert bad.reason == "Expected document to be a root level object, but was 'INTEGER'"


def test_a_signal_catch_event_takes_the_signal_variables() -> None:
    d = deployed(catching())
    pi = d.create("p", {"a": 1})
    assert [r.intent for r in d.of("SIGNAL_SUBSCRIPTION")] == ["CREATED"]
    broadcast(d, "other")
    assert not d.completed("wait", pi)
    broadcast(d, "go", {"a": 2, "b": 3})
    assert d.completed("wait", pi) and d.variables(pi) == {"a": 2, "b": 3}
    assert [r.intent for r in d.of("SIGNAL_SUBSCRIPTION")] == ["CREATED", "DELETED"]


def test_a_signal_reaches_only_the_subscriptions_open_when_it_is_broadcast() -> None:
    d = deployed(catching())
    early = d.create("p")
    broadcast(d, "go")
    late = d.create("p")
    assert d.completed("wait", early) and not d.completed("wait", late)


def test_every_waiting_instance_of_every_process_catches_a_signal() -> None:
    d = deployed(catching("a"), catching("b"))
    keys = [d.create("a"), d.create("a"), d.create("b")]
    broadcast(d, "go")
    assert all(d.completed("wait", k) for k in keys)


def test_a_signal_start_event_starts_one_instance_per_process() -> None:
    def started(process_id: str) -> bytes:
        return (
            ProcessBuilder(process_id)
            .start_event("on-go", signal="go")
            .service_task("t", job_type="t")
            .done()
        )

    d = deployed(started("a"), started("b"))
    broadcast(d, "go", {"x": 1})
    [a], [b] = instances_of(d, "a"), instances_of(d, "b")
    assert d.completed("on-go", a) and d.variables(b) == {"x": 1}
    broadcast(d, "go")
    assert len(instances_of(d, "a")) == 2


def boundary(interrupting: bool) -> bytes:
    b = ProcessBuilder("p").start_event().service_task("task", job_type="work").end_event()
    b.boundary_event("sig", attached_to="task", signal="alarm", interrupting=interrupting)
    b.service_task("handle", job_type="handle")
    return b.done()


def test_an_interrupting_signal_boundary_event_terminates_its_activity() -> None:
    d = deployed(boundary(True))
    pi = d.create("p")
    broadcast(d, "alarm")
    assert ("task", "ELEMENT_TERMINATED") in d.path(pi) and d.completed("sig", pi)
    assert [j.type for j in d.engine.jobs().values()] == ["handle"]


def test_a_non_interrupting_signal_boundary_event_triggers_per_signal() -> None:
    d = deployed(boundary(False))
    pi = d.create("p")
    broadcast(d, "alarm")
    broadcast(d, "alarm")
    assert d.path(pi).count(("sig", "ELEMENT_COMPLETED")) == 2
    d.complete_type("work")
    broadcast(d, "alarm")
    assert d.path(pi).count(("sig", "ELEMENT_COMPLETED")) == 2


def test_signal_event_subprocesses_interrupting_or_not() -> None:
    def process(interrupting: bool) -> bytes:
        def sub(s: ScopeBuilder) -> None:
            s.start_event("on", signal="alarm", interrupting=interrupting)
            s.service_task("handle", job_type="handle").end_event()

        b = ProcessBuilder("p").start_event().service_task("task", job_type="work").end_event()
        b.event_sub_process("esp", sub)
        return b.done()

    d = deployed(process(True))
    pi = d.create("p")
    broadcast(d, "alarm")
    broadcast(d, "alarm")  # an interrupting event subprocess triggers once
    assert [j.type for j in d.engine.jobs().values()] == ["handle"]
    assert ("task", "ELEMENT_TERMINATED") in d.path(pi)
    d = deployed(process(False))
    d.create("p")
    broadcast(d, "alarm")
    broadcast(d, "alarm")
    assert sorted(j.type for j in d.engine.jobs().values()) == ["handle", "handle", "work"]


def test_a_signal_throw_event_broadcasts_its_input_mappings_and_goes_on() -> None:
    thrower = (
        ProcessBuilder("thrower")
        .start_event()
        .intermediate_throw_event("throw", signal="go", inputs={"from": "=name"})
        .service_task("next", job_type="next")
        .done()
    )
    d = deployed(catching(), thrower)
    waiting = d.create("p")
    sender = d.create("thrower", {"name": "t1"})
    assert d.completed("throw", sender) and d.completed("wait", waiting)
    assert d.variables(waiting) == {"from": "t1"}
    assert "from" not in d.variables(sender)  # the throw event's locals stay its own
    assert sorted(j.type for j in d.engine.jobs().values()) == ["after", "next"]


def test_a_signal_end_event_broadcasts_and_ends_its_path() -> None:
    thrower = ProcessBuilder("thrower").start_event().end_event("end", signal="go").done()
    d = deployed(catching(), thrower)
    waiting = d.create("p")
    sender = d.create("thrower")
    assert d.is_done(sender) and d.completed("wait", waiting)


def test_a_signal_name_may_be_an_expression_and_must_be_a_string() -> None:
    d = deployed(catching(signal="=kind"))
    pi = d.create("p", {"kind": "go"})
    broadcast(d, "go")
    assert d.completed("wait", pi)
    d.create("p", {"kind": 5})
    incident = d.incident()
    assert incident.error_type == "EXTRACT_VALUE_ERROR"
    assert incident.message == (
        "Expected result of the expression 'kind' to be 'STRING', but was 'NUMBER'."
    )


def test_a_signal_at_an_event_based_gateway_beats_the_message() -> None:
    b = ProcessBuilder("p").start_event().event_based_gateway("gw")
    b.intermediate_catch_event("msg", message="m", correlation_key="=id").end_event("by-msg")
    b.move_to("gw").intermediate_catch_event("sig", signal="s").end_event("by-sig")
    d = deployed(b.done())
    pi = d.create("p", {"id": "1"})
    broadcast(d, "s", {"v": 1})
    assert d.completed("by-sig", pi) and d.is_done(pi) and not d.activated("msg")
    assert [r.intent for r in d.of("PROCESS_MESSAGE_SUBSCRIPTION")][-1] == "DELETED"


# --- several partitions -------------------------------------------------------------------


def test_a_broadcast_reaches_every_partition_once_and_starts_one_instance() -> None:
    started = ProcessBuilder("s").start_event("on", signal="go").service_task("t", job_type="t")
    net = Net(3, seed=5)
    net.deploy(boundary(False), started.done())
    waiting = {p: net.create(p, "p") for p in (1, 2, 3)}
    net.parts[2].ok(
        C.BROADCAST_SIGNAL, gw.BroadcastSignalRequest(signalName="alarm", variables="{}")
    )
    net.parts[2].ok(
        C.BROADCAST_SIGNAL,
        gw.BroadcastSignalRequest(signalName="go", variables=json.dumps({"n": 1})),
    )
    for _ in range(30):  # a bad network: each partition still sees each broadcast once
        net.round(lose=0.3, duplicate=0.5, delay=0.2)
    net.settle()
    for partition, key in waiting.items():
        assert net.parts[partition].path(key).count(("sig", "ELEMENT_COMPLETED")) == 1
    created = net.records("PROCESS_INSTANCE_CREATION", "CREATED")
    assert [partition_of(r.key) for r in created if r.value["bpmnProcessId"] == "s"] == [2]
