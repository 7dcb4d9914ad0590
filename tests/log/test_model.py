"""Random append / truncate / flush / compact / reset / crash programs against a simple model.

The model remembers every content the log had since the last completed flush (``history``; the
first one is what that flush made durable).  After a power loss — between operations, or at any
sync call inside a flush — the recovered log must be a prefix of one of those contents (no
splice of old and new segments, no garbage), must hold every entry a flush reported durable,
and, for a crash between operations without tearing, must be exactly what the last flush saw.
"""

from __future__ import annotations

import random

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_zeebe.log import LogRecord, SegmentedLog
from trio_zeebe.testing.disk import PowerCut, SimDisk

D = "/p"

op = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 6), st.integers(0, 4), st.integers(0, 60)),
    st.tuples(st.just("flush")),
    st.tuples(st.just("compact"), st.integers(0, 100)),
    st.tuples(st.just("reset"), st.integers(0, 5)),
    st.tuples(st.just("crash"), st.integers(0, 2**32), st.booleans()),
    st.tuples(st.just("cut"), st.integers(0, 3), st.integers(0, 2**32), st.booleans()),
)

Content = dict[int, LogRecord]


def is_prefix_of(got: Content, state: Content) -> bool:
    """The recovered ``got`` is a prefix of ``state``, ignoring entries below ``state``'s first
    index (an unflushed compaction may bring old segments back)."""
    if not state:
        return not got
    lo = min(state)
    mine = [i for i in got if i >= lo]
    return all(state.get(i) == got[i] for i in mine) and (not mine or min(mine) == lo)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(op, max_size=40), segment_bytes=st.sampled_from([60, 150, 4096]))
def test_random_programs_match_model(program: list[tuple[object, ...]], segment_bytes: int) -> None:
    async def main() -> None:
        disk = SimDisk()
        log = SegmentedLog.open(disk, D, segment_bytes=segment_bytes)
        current: Content = {}
        history: list[Content] = [{}]
        durable = 0  # highest index a flush reported (lowered by truncation)
        term = 1
        for step in program:
            kind = step[0]
            if kind == "append":
                n, back, size = int(step[1]), int(step[2]), int(step[3])  # type: ignore[call-overload]
                start = max(log.first_index, log.last_index + 1 - back)
                if back:
                    term += 1
                batch = [LogRecord(start + k, term, 1, bytes([k]) * size) for k in range(n)]
                log.append(batch)
                current = {i: r for i, r in current.items() if i < start}
                current.update((r.index, r) for r in batch)
                durable = min(durable, start - 1)
            elif kind == "flush":
                durable = await log.flush()
                assert durable == log.last_index
                history = []
            elif kind == "compact":
                pct = int(step[1])  # type: ignore[call-overload]
                upto = log.first_index + (log.last_index - log.first_index) * pct // 100
                log.compact(upto)
                assert log.first_index <= upto + 1
                current = {i: r for i, r in current.items() if i >= log.first_index}
            elif kind == "reset":
                log.reset(log.last_index + int(step[1]), term)  # type: ignore[call-overload]
                current = {}
                durable = 0
            else:
                clean_crash = False
                if kind == "cut":
                    disk.power_cut_after = int(step[1])  # type: ignore[call-overload]
                    try:
                        await log.flush()
                    except PowerCut:
                        pass
                    else:
                        history = [dict(current)]
                    seed, tear = step[2], step[3]
                else:
                    seed, tear = step[1], step[2]
                    clean_crash = not tear
                disk.crash(random.Random(int(seed)), tear=bool(tear))  # type: ignore[call-overload]
                synced = history[0] if history else dict(current)
                log = SegmentedLog.open(disk, D, segment_bytes=segment_bytes)
                got = {r.index: r for r in log.recovered}
                states = [*history, current]
                assert any(is_prefix_of(got, s) for s in states), (got, states)
                for i in range(log.first_index, durable + 1):
                    if i in current:  # (an unflushed compaction may bring back more)
                        assert got[i] == current[i]
                if clean_crash and synced:
                    assert {i: r for i, r in got.items() if i >= min(synced)} == synced
                current = got
                history = []
                durable = 0
                term = max([term, *(r.term for r in log.recovered)])
            history.append(dict(current))
            assert log.entries() == [current[i] for i in sorted(current)]
            assert log.last_index == max(current, default=log.first_index - 1)

    trio.run(main)
