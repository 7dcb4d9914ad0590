"""A family frozen for a snapshot behaves exactly like a dict to the engine while its storage
keeps the state of the moment; thawed, it is the dict the same changes would have made."""

from __future__ import annotations

import random

import pytest

from trio_zeebe.engine.runtime.family import Family

from .process.test_determinism import Replica, workload


@pytest.mark.parametrize("seed", range(40))
def test_a_frozen_family_reads_and_writes_like_a_dict_and_keeps_its_storage(seed: int) -> None:
    rng = random.Random(seed)
    family: Family[int, object] = Family()
    plain: dict[int, object] = {}
    for i in range(rng.randrange(40)):
        key = rng.randrange(20)
        family[key] = plain[key] = i
    for key in list(plain)[: rng.randrange(5)]:
        assert family.pop(key) == plain.pop(key)
    before = list(plain.items())
    family.freeze()
    assert family.frozen
    for i in range(rng.randrange(80)):
        key, op = rng.randrange(25), rng.randrange(5)
        if op < 2:
            family[key] = plain[key] = ("v", i)
        elif op == 2:
            assert family.pop(key, None) == plain.pop(key, None)
        elif op == 3:
            assert family.setdefault(key, i) == plain.setdefault(key, i)
        elif key in plain:
            del family[key], plain[key]
        else:
            with pytest.raises(KeyError):
                del family[key]
        assert list(family.items()) == list(plain.items()) and len(family) == len(plain)
        assert list(family) == list(plain) and family == plain and dict(family) == plain
        for k in range(25):
            assert (k in family) == (k in plain) and family.get(k) == plain.get(k)
    assert list(family.frozen_items()) == before  # the storage is the moment of the freeze
    family.thaw()
    assert not family.frozen and type(family) is Family
    assert list(family.items()) == list(plain.items())  # insertion order as a dict keeps it


def test_a_snapshot_view_is_of_its_moment_while_the_engine_goes_on() -> None:
    operations = workload(3, 120)
    replica, reference = Replica(), Replica()
    for operation in operations[:60]:
        replica.run(operation)
        reference.run(operation)
    expected = replica.engine.snapshot()
    view = replica.engine.snapshot_view()
    pieces = replica.engine.snapshot_chunks(view)
    body = [next(pieces)]
    for operation, piece in zip(operations[60:], pieces, strict=False):
        replica.run(operation)  # applies while the families are frozen
        reference.run(operation)
        body.append(piece)
    assert len(body) > 10  # many applies ran while frozen
    body.extend(pieces)
    for operation in operations[60 + len(body) - 1 :]:
        replica.run(operation)
        reference.run(operation)
    assert b"".join(body) == expected
    assert replica.engine.snapshot() == reference.engine.snapshot()
    assert replica.answers == reference.answers
