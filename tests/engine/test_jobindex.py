"""The job index built in bulk (on restore, also block by block from the snapshot's columns) is
the one the jobs' changes build one by one."""

from __future__ import annotations

import random

import pytest

from trio_zeebe.engine.runtime.jobindex import JobIndex
from trio_zeebe.engine.runtime.values import ACTIVATABLE, ERROR_THROWN, FAILED, JOB_ACTIVATED, Job

STATES = (ACTIVATABLE, JOB_ACTIVATED, FAILED, ERROR_THROWN)


def _jobs(rng: random.Random, count: int, types: int) -> dict[int, Job]:
    jobs = {}
    for key in rng.sample(range(10 * count + 1), count):  # keys in no particular order
        state = rng.choice(STATES)
        deadline = rng.randrange(1_000) if state == JOB_ACTIVATED else -1
        recur_at = rng.choice((-1, rng.randrange(1_000))) if state == FAILED else -1
        job_type = f"t{rng.randrange(types)}"
        jobs[key] = Job(key, job_type, state, 3, "", deadline, recur_at, {}, {}, "", "")
    return jobs


def _drain(index: JobIndex, types: list[str]) -> tuple[dict[str, list[int]], list[int], int | None]:
    taken = {}
    for job_type in types:
        keys = []
        while (job := index.pop_activatable(job_type)) is not None:
            keys.append(job.key)
        taken[job_type] = keys
    return taken, [job.key for job in index.due(10_000)], index.next_time()


@pytest.mark.parametrize(("seed", "types"), [(s, t) for s in range(6) for t in (0, 1, 3, 20)])
def test_a_bulk_built_index_is_the_one_built_job_by_job(seed: int, types: int) -> None:
    rng = random.Random(seed)
    jobs = _jobs(rng, rng.randrange(200), max(types, 1))
    if types == 0:  # no activatable job at all
        jobs = {k: j for k, j in jobs.items() if j.state != ACTIVATABLE}
    bulk = JobIndex(jobs)
    one_by_one = JobIndex({})
    one_by_one._jobs = jobs
    for job in jobs.values():
        one_by_one.changed(None, job)
    kinds = sorted({job.type for job in jobs.values()})
    for index in (bulk, one_by_one):
        assert index.activatable_types() == sorted(
            {j.type for j in jobs.values() if j.state == ACTIVATABLE}
        )
    assert bulk.newly_activatable == one_by_one.newly_activatable
    assert [bulk.ready_count(t) for t in kinds] == [one_by_one.ready_count(t) for t in kinds]
    assert bulk.next_time() == one_by_one.next_time()
    assert _drain(bulk, kinds) == _drain(one_by_one, kinds)


_INDEXED = ("key", "type", "state", "deadline", "recur_at")


@pytest.mark.parametrize(("seed", "types"), [(s, t) for s in range(4) for t in (1, 3, 20)])
def test_an_index_loaded_block_by_block_is_the_bulk_built_one(seed: int, types: int) -> None:
    rng = random.Random(seed)
    jobs = _jobs(rng, 300, types)
    if seed % 2:  # blocks that are all activatable: the restore's usual case
        jobs = {k: j._replace(state=ACTIVATABLE) for k, j in jobs.items()}
    bulk = JobIndex(jobs)
    loaded = JobIndex({})
    loaded._jobs = jobs
    rows = list(jobs.values())
    while rows:
        block = rows[: rng.randrange(1, 64)]
        rows = rows[len(block) :]
        columns = [list(column) for column in zip(*block, strict=True)]
        if rng.random() < 0.5:  # as a restore does: with the fields' columns
            loaded.load(block, *(columns[Job._fields.index(f)] for f in _INDEXED))
        else:
            loaded.load(block)
    loaded.loaded()
    kinds = sorted({job.type for job in jobs.values()})
    assert loaded.activatable_types() == bulk.activatable_types()
    assert loaded.newly_activatable == bulk.newly_activatable
    assert [loaded.ready_count(t) for t in kinds] == [bulk.ready_count(t) for t in kinds]
    assert loaded.next_time() == bulk.next_time()
    assert _drain(loaded, kinds) == _drain(bulk, kinds)
