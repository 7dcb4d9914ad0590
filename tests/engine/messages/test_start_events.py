"""Message start events (reference §5.2 last bullets): one instance per message, at most one
active instance per process and correlation key, deployments opening and closing them."""

from __future__ import annotations

from trio_zeebe.keys import message_partition, partition_of
from trio_zeebe.testing.bpmn import ProcessBuilder

from ..process.driver import Driver
from .net import Net
from .support import instances_of, publish


def started_by_message(process_id: str = "p", message: str = "order", job: str = "work") -> bytes:
    return (
        ProcessBuilder(process_id)
        .start_event("by-message", message=message)
        .service_task("task", job_type=job)
        .end_event()
        .done()
    )


def test_a_message_starts_an_instance_at_its_start_event_with_its_variables() -> None:
    d = Driver()
    d.deploy(started_by_message())
    publish(d, "order", "", variables={"item": "book"})
    [pi] = instances_of(d, "p")
    assert d.completed("by-message", pi)
    assert d.variables(pi) == {"item": "book"}
    assert d.job("work").processInstanceKey == pi
    [correlated] = d.of("MESSAGE_START_EVENT_SUBSCRIPTION", "CORRELATED")
    assert correlated.value["processInstanceKey"] == pi


def test_every_message_starts_its_own_instance_and_each_process_gets_one() -> None:
    d = Driver()
    d.deploy(started_by_message("a"), started_by_message("b"))
    publish(d, "order")
    publish(d, "order")
    assert len(instances_of(d, "a")) == 2 and len(instances_of(d, "b")) == 2


def test_create_process_instance_still_uses_the_none_start_event() -> None:
    b = ProcessBuilder("p").start_event("none").service_task("t", job_type="t").end_event()
    b.start_event("by-message", message="go").connect_to("t")
    d = Driver()
    d.deploy(b.done())
    created = d.create("p")
    publish(d, "go")
    [_, by_message] = instances_of(d, "p")
    assert d.completed("none", created) and d.completed("by-message", by_message)


def test_one_active_instance_per_correlation_key_the_next_message_waits_for_its_end() -> None:
    d = Driver()
    d.deploy(started_by_message())
    publish(d, "order", "k", variables={"n": 1})
    publish(d, "order", "k", variables={"n": 2})  # buffered: the first instance runs
    publish(d, "order", "k", ttl=0, variables={"n": 3})  # not buffered: lost
    publish(d, "order", "other", variables={"n": 4})  # another key: its own instance
    [first, other] = instances_of(d, "p")
    assert d.variables(first)["n"] == 1 and d.variables(other)["n"] == 4
    jobs = {j.processInstanceKey: j.key for j in d.activate("work")}
    d.complete(jobs[other])
    assert len(instances_of(d, "p")) == 2  # another key's instance ending changes nothing
    d.complete(jobs[first])
    # the first ended: the buffered message with its key starts the next instance
    [_, _, second] = instances_of(d, "p")
    assert d.variables(second)["n"] == 2
    d.cancel(second)  # a terminated instance frees the key as well
    publish(d, "order", "k", variables={"n": 5})
    assert d.variables(instances_of(d, "p")[-1])["n"] == 5


def test_an_empty_correlation_key_always_starts_a_new_instance() -> None:
    d = Driver()
    d.deploy(started_by_message())
    for _ in range(3):
        publish(d, "order", "")
    assert len(instances_of(d, "p")) == 3


def test_a_new_version_replaces_the_start_event_subscription() -> None:
    d = Driver()
    d.deploy(started_by_message(job="v1"))
    d.deploy(started_by_message(job="v2"))
    publish(d, "order")
    assert [j.type for j in d.engine.jobs().values()] == ["v2"]
    without = ProcessBuilder("p").start_event().service_task("t", job_type="v3").done()
    d.deploy(without)
    publish(d, "order")
    assert len(instances_of(d, "p")) == 1  # the latest version has no message start event


def test_messages_published_before_the_deployment_start_nothing() -> None:
    d = Driver()
    publish(d, "order", "k")
    d.deploy(started_by_message())
    assert not instances_of(d, "p")
    publish(d, "order", "k")
    assert len(instances_of(d, "p")) == 1


def test_a_waiting_instance_of_the_process_takes_the_message_instead_of_a_new_one() -> None:
    b = ProcessBuilder("p").start_event("by-message", message="order")
    b.intermediate_catch_event("again", message="order", correlation_key="=key")
    b.service_task("t", job_type="t").done()
    d = Driver()
    d.deploy(b.done())
    publish(d, "order", "", variables={"key": "k"})
    [first] = instances_of(d, "p")
    publish(d, "order", "k")  # the waiting instance gets it: no second instance
    assert instances_of(d, "p") == [first] and d.completed("again", first)


def test_the_instance_lives_on_the_message_partition_of_every_partition_count() -> None:
    net = Net(3)
    net.deploy(started_by_message())
    for key in ("a", "b", "c", "d"):
        net.publish(None, "order", key)
    net.settle()
    created = net.records("PROCESS_INSTANCE_CREATION", "CREATED")
    assert sorted(partition_of(r.key) for r in created) == sorted(
        message_partition(k, 3) for k in ("a", "b", "c", "d")
    )
