"""Keys and the state machine contract of the process engine (the old job engine's tests of the
same behaviour, on the process engine's job commands)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trio_zeebe.engine import KVStore, StateMachine
from trio_zeebe.engine.commands import CommandType, command, decode_answer
from trio_zeebe.engine.engine import Engine
from trio_zeebe.keys import KEY_BITS
from trio_zeebe.proto import trio_zeebe_pb2 as tz

T0 = 1_700_000_000.0


def new_key(e: Engine, position: int) -> int:
    create = command(CommandType.CREATE_JOB, tz.CreateJobRequest(type="t"))
    answer = decode_answer(e.apply(create, position, T0)).response(CommandType.CREATE_JOB)
    assert isinstance(answer, tz.CreateJobResponse)
    return int(answer.key)


@pytest.mark.parametrize("partition", [1, 7, 100])
def test_the_partition_is_in_the_top_bits(partition: int) -> None:
    e = Engine(partition, 100)
    keys = [new_key(e, p) for p in (1, 2, 3)]
    assert [k >> KEY_BITS for k in keys] == [partition] * 3
    assert [k & ((1 << KEY_BITS) - 1) for k in keys] == [1, 2, 3]
    assert KEY_BITS == 51


def test_keys_are_never_reused_after_snapshot_and_restore() -> None:
    e = Engine(3, 3)
    first = new_key(e, 1)
    restored = Engine(3, 3)
    restored.restore(e.snapshot())
    assert new_key(restored, 2) == first + 1


def test_engines_are_state_machines() -> None:
    assert isinstance(Engine(1, 1), StateMachine)
    assert isinstance(KVStore(), StateMachine)


def test_the_engine_imports_no_trio_and_no_sockets() -> None:
    # (random and time come in with lark, the FEEL parser's library, through tempfile.)
    code = (
        "import sys, trio_zeebe.engine.engine; "
        "bad = [m for m in ('trio', 'anyio', 'socket', 'ssl') if m in sys.modules "
        "and m not in BEFORE]; print(bad)"
    )
    # Python itself may import some of these at start-up: compare with a bare interpreter.
    before = "BEFORE = set(__import__('sys').modules); "
    out = subprocess.run(
        [sys.executable, "-c", before + code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
