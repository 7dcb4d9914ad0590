"""The links under the messaging protocol: every reliable send is applied once, whatever
order and how many copies arrive, with bounded memory of what arrived."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trio_zeebe import codec
from trio_zeebe.engine.commands import AnswerStatus, decode_answer
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.runtime.deployment import Acknowledge
from trio_zeebe.engine.runtime.messaging.links import Envelope, arrived
from trio_zeebe.engine.runtime.messaging.wire import SignalBroadcast


@given(st.integers(1, 60).flatmap(lambda n: st.permutations(list(range(1, n + 1)) * 2)))
def test_each_number_is_taken_once_in_any_order_and_the_memory_shrinks_back(
    arrivals: list[int],
) -> None:
    record: tuple[int, tuple[int, ...]] = (0, ())
    taken: list[int] = []
    for seq in arrivals:
        updated = arrived(record, seq)
        if updated is not None:
            taken.append(seq)
            record = updated
    assert sorted(taken) == sorted(set(arrivals))
    assert record == (max(arrivals), ())  # every gap filled: only the floor is left


def envelope(seq: int, source: int = 1, send_id: int = 7) -> bytes:
    body = codec.encode(SignalBroadcast(100 + seq, "s", "{}"))
    return codec.encode(Envelope(send_id, source, seq, body))


def test_every_copy_is_acknowledged_but_applied_once() -> None:
    engine = Engine(2, 3)
    engine.strict = True
    broadcasts: list[int] = []
    engine.set_trace(lambda r: broadcasts.append(r.key) if r.value_type == "SIGNAL" else None)
    for position, seq in enumerate([2, 1, 2, 1, 3], start=1):
        answer = engine.receive(envelope(seq, send_id=seq), position, 0.0)
        assert decode_answer(answer).status is AnswerStatus.OK
    assert broadcasts == [102, 101, 103]
    acks = [codec.decode(payload) for _, payload in engine.take_messages()]
    assert [a.send_id for a in acks] == [2, 1, 2, 1, 3]
    assert all(isinstance(a, Acknowledge) and a.source == 2 for a in acks)


def test_an_envelope_from_itself_from_nowhere_or_without_a_number_is_refused() -> None:
    engine = Engine(2, 3)
    for position, payload in enumerate(
        [envelope(1, source=2), envelope(1, source=4), envelope(1, source=0), envelope(0)], 1
    ):
        answer = decode_answer(engine.receive(payload, position, 0.0))
        assert answer.status is AnswerStatus.REJECTED
    assert engine.take_messages() == []
