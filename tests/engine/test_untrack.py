"""The state's rows leave the cyclic garbage collector's walks (so a full pass does not cost a
microsecond per row), and nothing they hold is freed too early or too late because of it."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from trio_zeebe.engine.commands import CommandType, command
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.runtime import untrack as untrack_module
from trio_zeebe.engine.runtime.snapshot import _families
from trio_zeebe.engine.runtime.untrack import UNTRACKS, untrack, untrack_all
from trio_zeebe.engine.runtime.values import ACTIVATABLE, Job
from trio_zeebe.proto import trio_zeebe_pb2 as tz

from .process.test_determinism import Replica, workload

cpython_only = pytest.mark.skipif(not UNTRACKS, reason="untracking needs CPython's C API")


class Canary:
    """Something tracked and weak-referenceable, to see when it is freed."""


def _job(key: int, variables: Any) -> Job:
    return Job(key, "t", ACTIVATABLE, 3, "", -1, -1, variables, {}, "", "")


@pytest.fixture
def collector_off() -> Iterator[None]:
    """No collection at a random moment (what the tests free must be freed by refcounting,
    or by the gc.collect() they call)."""
    enabled = gc.isenabled()
    gc.disable()
    yield
    if enabled:
        gc.enable()


@cpython_only
def test_a_row_is_untracked_and_other_values_are_left_alone() -> None:
    job = _job(1, {"a": [1]})
    assert gc.is_tracked(job)
    untrack(job)
    assert not gc.is_tracked(job)
    untrack(job)  # again: nothing happens
    untrack_all([1, "x", b"y", None, 2.5, job])  # types the collector never tracks: skipped
    assert not gc.is_tracked(job)
    assert gc.is_tracked(job.variables) and gc.is_tracked(job.variables["a"])


@cpython_only
def test_what_an_untracked_row_holds_lives_as_long_as_the_row(collector_off: None) -> None:
    # A cycle hanging off the row (a dict that holds a list that holds the dict): only the
    # collector can free it, and it must not while the row refers to it.
    canary = Canary()
    nested: dict[str, Any] = {"canary": canary, "list": [1, "x"]}
    nested["list"].append(nested)
    job = _job(1, {"nested": nested})
    untrack_all([job])
    alive = weakref.ref(canary)
    del canary, nested
    gc.collect()
    assert alive() is not None
    assert job.variables["nested"]["list"][:2] == [1, "x"]
    del job  # the cycle is garbage now: the collector frees it
    gc.collect()
    assert alive() is None


@cpython_only
def test_reference_counting_frees_an_untracked_row_and_what_it_holds(collector_off: None) -> None:
    canary = Canary()
    job = _job(1, {"list": [canary]})
    untrack(job)
    alive = weakref.ref(canary)
    del canary
    assert alive() is not None
    del job  # no collection: reference counting alone
    assert alive() is None


def test_elsewhere_than_cpython_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(untrack_module, "_UNTRACK", None)
    job = _job(1, {})
    untrack(job)
    untrack_all([job])
    assert gc.is_tracked(job)


def _tuples(engine: Engine) -> list[tuple[Any, ...]]:
    """Every tuple value of the engine's families, and the queued steps."""
    state = engine._state
    values = [v for family in _families(state) for v in family.values()]
    return [v for v in [*values, *state.steps] if isinstance(v, tuple)]


@cpython_only
def test_a_snapshot_and_a_restore_leave_every_row_untracked() -> None:
    replica = Replica()
    for operation in workload(7, 300):
        replica.run(operation)
    engine = replica.engine
    rows = _tuples(engine)
    assert len({type(row) for row in rows}) >= 4 and any(map(gc.is_tracked, rows))
    data = engine.snapshot()
    assert not any(map(gc.is_tracked, _tuples(engine)))
    restored = Engine(1, 1)
    restored.restore(data)
    assert not any(map(gc.is_tracked, _tuples(restored)))
    assert restored.snapshot() == data
    # The jobs' and element instances' rows are untracked as they are stored.
    request = tz.CreateJobRequest(type="later", variables=json.dumps({"n": 1}))
    restored.apply(command(CommandType.CREATE_JOB, request), 10_000, 1_700_000_000.0)
    (job,) = (j for j in restored.jobs().values() if j.type == "later")
    assert not gc.is_tracked(job)
