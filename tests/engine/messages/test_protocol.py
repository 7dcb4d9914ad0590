"""The subscription protocol between the instance partition Pi and the message partition Pm
(reference §5.2) over a link that loses, duplicates, delays and reorders, across leader
changes: the steps one by one, then random runs checked for Zeebe's guarantees."""

from __future__ import annotations

from trio_zeebe import codec
from trio_zeebe.engine.runtime.messaging.links import Envelope
from trio_zeebe.engine.runtime.messaging.wire import (
    CloseSubscription,
    Correlate,
    OpenSubscription,
)
from trio_zeebe.keys import message_partition
from trio_zeebe.testing.bpmn import ProcessBuilder

from .net import Net

# with 3 partitions: "a" -> 2, "b" -> 3, "c" -> 1
assert [message_partition(k, 3) for k in "abc"] == [2, 3, 1]


def waiting(process_id: str = "p") -> bytes:
    return (
        ProcessBuilder(process_id)
        .start_event()
        .intermediate_catch_event("wait", message="m", correlation_key="=id")
        .service_task("after", job_type="after")
        .done()
    )


def commands(net: Net, partition: int) -> list[object]:
    """The commands in a partition's outbox."""
    found = []
    for send in net.parts[partition].engine.outbox():
        envelope = codec.decode(send.payload)
        if isinstance(envelope, Envelope):
            found.append(codec.decode(envelope.body))
    return found


def test_a_subscription_opens_on_the_message_partition_and_a_message_crosses_back() -> None:
    net = Net(3)
    net.deploy(waiting())
    pi = net.create(1, "p", id="a")
    [opening] = commands(net, 1)
    assert isinstance(opening, OpenSubscription) and opening.correlation_key == "a"
    assert [s.target for s in net.parts[1].engine.outbox()] == [2]
    net.settle()
    assert [r.intent for r in net.parts[1].of("PROCESS_MESSAGE_SUBSCRIPTION")] == [
        "CREATING",
        "CREATED",
    ]
    assert [r.intent for r in net.parts[2].of("MESSAGE_SUBSCRIPTION")] == ["CREATED"]
    net.publish(None, "m", "a", variables={"v": 1})
    [offer] = commands(net, 2)
    assert isinstance(offer, Correlate) and offer.message_name == "m"
    net.settle()
    assert net.parts[1].completed("wait", pi) and net.parts[1].variables(pi)["v"] == 1
    assert [r.intent for r in net.parts[2].of("MESSAGE_SUBSCRIPTION")] == [
        "CREATED",
        "CORRELATING",
        "CORRELATED",
    ]
    assert net.pending() == 0


def test_a_same_partition_subscription_takes_the_local_path() -> None:
    net = Net(3)
    net.deploy(waiting())
    pi = net.create(1, "p", id="c")  # "c" hashes to partition 1 itself
    assert not net.parts[1].engine.outbox()  # no network
    assert [r.intent for r in net.parts[1].of("PROCESS_MESSAGE_SUBSCRIPTION")] == [
        "CREATING",
        "CREATED",
    ]
    net.publish(None, "m", "c")
    assert net.parts[1].completed("wait", pi) and not net.parts[1].engine.outbox()


def test_a_close_never_overtakes_its_open() -> None:
    net = Net(3)
    net.deploy(waiting())
    pi = net.create(1, "p", id="a")
    net.parts[1].cancel(pi)  # before the open was acknowledged
    assert [type(c) for c in commands(net, 1)] == [OpenSubscription]
    assert net.parts[1].of("PROCESS_MESSAGE_SUBSCRIPTION")[-1].intent == "DELETING"
    net.round()  # the open arrives and its acknowledgement comes back
    net.round()
    assert [type(c) for c in commands(net, 1)] == [CloseSubscription]
    net.settle()
    assert [r.intent for r in net.parts[2].of("MESSAGE_SUBSCRIPTION")] == ["CREATED", "DELETED"]
    assert not net.parts[2].engine._state.messaging.subscriptions
    assert not net.parts[1].engine._state.messaging.process_subscriptions


def test_a_copy_of_an_open_arriving_after_the_close_opens_nothing() -> None:
    net = Net(3)
    net.deploy(waiting())
    pi = net.create(1, "p", id="a")
    [send] = net.parts[1].engine.outbox()
    net.settle()
    net.parts[1].cancel(pi)
    net.settle()
    net.receive(2, send.payload)  # a copy the network held back all this time
    assert not net.parts[2].engine._state.messaging.subscriptions
    net.publish(None, "m", "a")
    net.settle()
    assert not net.records("MESSAGE_SUBSCRIPTION", "CORRELATING")


def test_an_offer_to_an_instance_that_left_goes_to_the_next_instance_of_the_process() -> None:
    net = Net(3)
    net.deploy(waiting())
    first = net.create(1, "p", id="a")
    net.settle()
    second = net.create(3, "p", id="a")
    net.settle()
    net.publish(None, "m", "a")  # offered to the first subscription
    net.parts[1].cancel(first)  # which leaves before the offer arrives
    net.settle()
    assert net.parts[3].completed("wait", second)
    assert [r.intent for r in net.parts[2].of("MESSAGE_SUBSCRIPTION")].count("REJECTED") == 1
    assert not net.parts[1].completed("wait", first)


def test_a_message_taken_before_leaving_is_not_offered_again() -> None:
    # a non-interrupting boundary event takes the message, then the task completes: the
    # close may reach the message partition before the confirmation does
    b = ProcessBuilder("p").start_event().service_task("task", job_type="work").end_event()
    b.boundary_event(
        "poke", attached_to="task", message="m", correlation_key="=id", interrupting=False
    )
    b.service_task("handle", job_type="handle")
    net = Net(3, seed=3)
    net.deploy(b.done())
    first = net.create(1, "p", id="a")
    net.settle()  # the first subscription is the first opened
    second = net.create(3, "p", id="a")
    net.settle()
    net.publish(None, "m", "a")
    net.round()  # the offer arrives at partition 1, which takes it
    assert net.parts[1].path(first).count(("poke", "ELEMENT_COMPLETED")) == 1
    net.parts[1].complete_type("work")  # the task leaves: close after the confirmation
    for _ in range(20):
        net.round(lose=0.4, duplicate=0.3, delay=0.3)
    net.settle()
    assert net.parts[1].path(first).count(("poke", "ELEMENT_COMPLETED")) == 1
    assert not net.parts[3].completed("poke", second)  # once per process
    correlated = net.parts[2].of("MESSAGE_SUBSCRIPTION", "CORRELATED")
    assert len(correlated) == 1


def test_an_offer_still_out_when_the_message_expires_is_settled_without_it() -> None:
    net = Net(3)
    net.deploy(waiting(), waiting("q"))
    taker = net.create(1, "p", id="a")
    leaver = net.create(3, "q", id="a")
    net.settle()
    net.publish(None, "m", "a", ttl=1_000)
    net.parts[3].cancel(leaver)
    net.advance(2)  # the message expires on partition 2 while both offers are out
    assert [r.intent for r in net.parts[2].of("MESSAGE")] == ["PUBLISHED", "EXPIRED"]
    net.settle()
    assert net.parts[1].completed("wait", taker)
    state = net.parts[2].engine._state.messaging
    assert not state.correlations and not state.messages  # nothing kept for a gone message


def test_both_leaders_change_in_the_middle_of_a_correlation() -> None:
    net = Net(3, seed=11)
    net.deploy(waiting())
    pi = net.create(1, "p", id="a")
    net.round(lose=1.0)  # everything lost
    net.change_leader(1)
    net.settle()
    net.publish(None, "m", "a")
    net.round(lose=0.5)
    net.change_leader(2)
    net.round(lose=0.5, duplicate=0.5)
    net.change_leader(1)
    net.settle()
    assert net.parts[1].completed("wait", pi)
    assert len(net.records("PROCESS_MESSAGE_SUBSCRIPTION", "CORRELATED")) == 1
