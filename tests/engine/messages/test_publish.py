"""PublishMessage on the message partition: answers, message ids, time to live, buffering
(reference §1.3, §5.1)."""

from __future__ import annotations

from trio_zeebe.keys import partition_of
from trio_zeebe.testing.bpmn import ProcessBuilder

from ..process.driver import START, C, Driver
from .support import instances_of, publish, publish_rejected, publish_request


def waiting(process_id: str = "p", message: str = "paid") -> bytes:
    return (
        ProcessBuilder(process_id)
        .start_event()
        .intermediate_catch_event("wait", message=message, correlation_key="=id")
        .service_task("after", job_type="after")
        .done()
    )


def test_publish_answers_with_a_key_of_the_partition_and_the_default_tenant() -> None:
    d = Driver(3, 3)
    response = d.ok(C.PUBLISH_MESSAGE, publish_request("m", "k"))
    assert partition_of(response.key) == 3 and response.tenantId == "<default>"
    assert d.of("MESSAGE", "PUBLISHED")[0].value["correlationKey"] == "k"


def test_a_message_id_is_unique_per_name_and_key_while_the_message_is_buffered() -> None:
    d = Driver()
    publish(d, "m", "k", message_id="id-1", ttl=10_000)
    rejection = publish_rejected(d, "m", "k", message_id="id-1")
    assert (rejection.type, rejection.intent, rejection.value_type) == (
        "ALREADY_EXISTS",
        "PUBLISH",
        "MESSAGE",
    )
    assert rejection.reason == (
        "Expected to publish a new message with id 'id-1', but a message with that id was "
        "already published"
    )
    assert rejection.grpc_message().startswith("Command 'PUBLISH' rejected with code 'ALREADY_")
    # the same id under another name or key, and any number of messages without an id
    publish(d, "other", "k", message_id="id-1")
    publish(d, "m", "other", message_id="id-1")
    publish(d, "m", "k")
    publish(d, "m", "k")
    # once the first expired, its id is free again
    d.tick(10)
    publish(d, "m", "k", message_id="id-1")


def test_a_message_with_ttl_zero_reserves_no_id_and_is_not_buffered() -> None:
    d = Driver()
    publish(d, "m", "k", message_id="x", ttl=0)
    publish(d, "m", "k", message_id="x", ttl=-5)  # negative counts as zero
    assert [r.intent for r in d.of("MESSAGE")] == ["PUBLISHED", "EXPIRED"] * 2
    assert d.engine.next_deadline() is None


def test_a_buffered_message_correlates_to_an_instance_that_subscribes_later() -> None:
    d = Driver()
    d.deploy(waiting())
    publish(d, "paid", "order-1", ttl=5_000, variables={"amount": 3})
    assert d.engine.next_deadline() == START + 5
    pi = d.create("p", {"id": "order-1"})
    assert d.completed("wait", pi)
    assert d.variables(pi) == {"id": "order-1", "amount": 3}


def test_a_message_whose_ttl_ended_correlates_to_nothing() -> None:
    d = Driver()
    d.deploy(waiting())
    publish(d, "paid", "order-1", ttl=5_000)
    d.now += 5  # the deadline passed; the expiring time record may still be on its way
    late = d.create("p", {"id": "order-1"})
    assert not d.completed("wait", late)
    d.tick()
    assert [r.intent for r in d.of("MESSAGE")] == ["PUBLISHED", "EXPIRED"]
    assert d.engine.next_deadline() is None
    assert not d.completed("wait", d.create("p", {"id": "order-1"}))


def test_ttl_zero_reaches_only_the_subscriptions_open_at_publish_time() -> None:
    d = Driver()
    d.deploy(waiting())
    early = d.create("p", {"id": "k"})
    publish(d, "paid", "k", ttl=0)
    late = d.create("p", {"id": "k"})
    assert d.completed("wait", early) and not d.completed("wait", late)


def test_a_message_goes_to_one_instance_of_a_process_and_to_every_process() -> None:
    d = Driver()
    d.deploy(waiting("a"), waiting("b"))
    a1, a2 = d.create("a", {"id": "k"}), d.create("a", {"id": "k"})
    b1 = d.create("b", {"id": "k"})
    publish(d, "paid", "k")
    assert d.completed("wait", a1) and d.completed("wait", b1)
    assert not d.completed("wait", a2)
    publish(d, "paid", "k")  # the next message goes to the next instance
    assert d.completed("wait", a2)
    assert instances_of(d, "a") == [a1, a2]


def test_a_buffered_message_does_not_go_to_a_second_instance_of_the_same_process() -> None:
    d = Driver()
    d.deploy(waiting())
    publish(d, "paid", "k", ttl=60_000)
    first, second = d.create("p", {"id": "k"}), d.create("p", {"id": "k"})
    assert d.completed("wait", first) and not d.completed("wait", second)


def test_messages_correlate_in_publish_order() -> None:
    d = Driver()
    d.deploy(waiting())
    for n in range(3):
        publish(d, "paid", "k", variables={"n": n})
    seen = []
    for _ in range(3):
        pi = d.create("p", {"id": "k"})
        seen.append(d.variables(pi)["n"])
    assert seen == [0, 1, 2]


def test_bad_variables_and_tenants_are_rejected() -> None:
    d = Driver()
    bad = publish_rejected(d, "m", "k", variables="{nope")
    assert (bad.type, bad.reason) == ("INVALID_ARGUMENT", "Invalid JSON value: {nope")
    array = publish_rejected(d, "m", "k", variables="[1]")
    assert array.reason == "Expected document to be a root level object, but was 'ARRAY'"
    request = publish_request("m", "k")
    request.tenantId = "other"
    tenant = d.reject(C.PUBLISH_MESSAGE, request)
    assert tenant.reason == (
        "Expected to handle gRPC request PublishMessage with tenant identifier 'other', but "
        "multi-tenancy is disabled"
    )
    assert not d.of("MESSAGE")
