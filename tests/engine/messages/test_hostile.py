"""Inter-partition commands of messages and signals from a broken or hostile peer: whatever
arrives, ``receive`` answers (OK or a rejection) and never raises, and the engine goes on."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_zeebe import codec
from trio_zeebe.engine.commands import AnswerStatus, decode_answer
from trio_zeebe.engine.runtime.messaging.links import Envelope
from trio_zeebe.engine.runtime.messaging.wire import (
    CloseSubscription,
    Correlate,
    Correlated,
    OpenSubscription,
    Rejected,
    SignalBroadcast,
)
from trio_zeebe.testing.bpmn import ProcessBuilder

from .net import Net
from .support import broadcast_command

_PAYLOADS: list[bytes] = []


def captured() -> list[bytes]:
    """Real sends and acknowledgements of a small cross-partition run."""
    if not _PAYLOADS:
        net = Net(3)
        b = ProcessBuilder("p").start_event()
        b.receive_task("r", message="m", correlation_key="=id").end_event()
        b.boundary_event("s", attached_to="r", signal="sig", interrupting=False).end_event()
        net.deploy(b.done())
        for partition, key in ((1, "a"), (2, "b"), (3, "c")):
            net.create(partition, "p", id=key)
        original = net.receive

        def spy(partition: int, payload: bytes) -> None:
            _PAYLOADS.append(payload)
            original(partition, payload)

        net.receive = spy  # type: ignore[method-assign]
        net.settle()
        for key in "abc":
            net.publish(None, "m", key)
        net.parts[2].ok(*broadcast_command("sig"))
        net.settle()
    return _PAYLOADS


def fresh() -> Net:
    net = Net(3)
    b = ProcessBuilder("p").start_event()
    b.receive_task("r", message="m", correlation_key="=id").end_event()
    net.deploy(b.done())
    net.create(1, "p", id="a")
    return net


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_sends_are_answered_and_the_protocol_goes_on(data: st.DataObject) -> None:
    payloads = captured()
    payload = bytearray(data.draw(st.sampled_from(payloads)))
    for _ in range(data.draw(st.integers(1, 3))):
        payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    net = fresh()
    target = data.draw(st.integers(1, 3))
    driver = net.parts[target]
    driver.position += 1
    answer = driver.engine.receive(bytes(payload), driver.position, driver.now)
    assert decode_answer(answer).status in (AnswerStatus.OK, AnswerStatus.REJECTED)
    net.settle()
    net.publish(None, "m", "a")
    net.settle()
    assert net.parts[1].engine.snapshot()  # still snapshottable


_names = st.one_of(st.sampled_from(["m", "a", "p", ""]), st.text(max_size=5))
_keys = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.builds(lambda p, c: (p << 51) + c, st.integers(0, 4), st.integers(0, 64)),
)
commands = st.one_of(
    st.builds(OpenSubscription, _keys, _names, _names, _keys, _names, st.booleans()),
    st.builds(CloseSubscription, _keys, _names),
    st.builds(Correlate, _keys, _names, _keys, _names, st.sampled_from(["{}", "[", '{"a":1}'])),
    st.builds(Correlated, _keys, _names, _keys, _names),
    st.builds(Rejected, _keys, _names, _keys, _names, st.booleans()),
    st.builds(SignalBroadcast, _keys, _names, st.sampled_from(["{}", "x", '{"b":[1]}'])),
)


@settings(max_examples=200, deadline=None)
@given(
    commands,
    st.integers(-3, 5),
    st.integers(-2, 2**40),
    st.integers(1, 3),
)
def test_well_formed_commands_with_any_fields_are_answered(
    command: object, source: int, seq: int, target: int
) -> None:
    net = fresh()
    net.publish(None, "m", "a")  # something to offer to whatever opens
    net.publish(None, "m", "")
    envelope = Envelope(seq, source, seq, codec.encode(command))
    driver = net.parts[target]
    driver.position += 1
    answer = driver.engine.receive(codec.encode(envelope), driver.position, driver.now)
    assert decode_answer(answer).status in (AnswerStatus.OK, AnswerStatus.REJECTED)
    net.settle()


def test_an_open_for_an_element_instance_of_another_partition_is_refused() -> None:
    net = fresh()
    net.publish(None, "m", "a")  # buffered on partition 2: an open would get an offer
    stranger = (3 << 51) + 99  # an element instance of partition 3, opened by partition 1
    open_ = OpenSubscription(stranger, "m", "a", stranger, "p", True)
    envelope = Envelope(1, 1, 99, codec.encode(open_))
    driver = net.parts[2]
    driver.position += 1
    answer = decode_answer(driver.engine.receive(codec.encode(envelope), driver.position, 0.0))
    assert answer.status is AnswerStatus.REJECTED
    assert "opened by partition 1" in answer.body.reason
    assert not net.records("MESSAGE_SUBSCRIPTION", "CORRELATING")
