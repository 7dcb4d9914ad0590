"""Job engine: every transition and every refusal, through the typed API and through apply()."""

from __future__ import annotations

from typing import Any

import pytest

from trio_zeebe import codec
from trio_zeebe.engine import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    FailJob,
    Job,
    JobEngine,
    JobKey,
    Rejection,
    ThrowError,
    TimeTick,
    TimeTickResult,
    UpdateJobRetries,
    UpdateJobTimeout,
)
from trio_zeebe.gateway.messages import ErrorCode

T0 = 1_000.0


def create(e: JobEngine, type: str = "pay", now: float = T0, **kw: Any) -> int:
    result = e.execute(CreateJob(type, **kw), now)
    assert isinstance(result, JobKey), result
    return result.key


def activate(
    e: JobEngine, type: str = "pay", n: int = 10, timeout: float = 60.0, now: float = T0, **kw: Any
) -> list[Job]:
    result = e.execute(ActivateJobs(type, "w1", n, timeout, **kw), now)
    assert isinstance(result, ActivatedJobs), result
    return list(result.jobs)


def ok(result: object) -> Job:
    assert isinstance(result, Job), result
    return result


def state(e: JobEngine, key: int) -> str | None:
    job = e.job(key)
    return None if job is None else job.state


# --- job states reachable in the tests, by a recipe -----------------------------------------


def in_state(e: JobEngine, name: str) -> int:
    key = create(e, retries=2)
    if name == "ACTIVATABLE":
        return key
    activate(e)
    if name == "ACTIVATED":
        return key
    if name == "BACKOFF":
        ok(e.execute(FailJob(key, 1, "later", retry_backoff=30.0), T0))
    elif name == "INCIDENT":
        ok(e.execute(FailJob(key, 0, "boom"), T0))
    elif name == "ERROR_THROWN":
        ok(e.execute(ThrowError(key, "E42", "business"), T0))
    elif name == "COMPLETED":
        ok(e.execute(CompleteJob(key), T0))
    return key


# --- happy paths ----------------------------------------------------------------------------


def test_create_then_activate_returns_the_job_owned_by_the_worker() -> None:
    e = JobEngine(partition_id=2)
    key = create(e, variables={"b": 1, "a": {"z": [1, 2], "y": None}}, custom_headers={"h": "v"})
    assert e.job(key) == Job(
        key, "pay", "ACTIVATABLE", 3, "", None, {"a": {"y": None, "z": [1, 2]}, "b": 1}, {"h": "v"}
    )
    [job] = activate(e, timeout=30.0, now=T0 + 5)
    assert (job.key, job.state, job.worker, job.deadline) == (key, "ACTIVATED", "w1", T0 + 35)
    assert job.variables == {"a": {"y": None, "z": [1, 2]}, "b": 1}
    assert job.custom_headers == {"h": "v"}
    assert e.activatable_count("pay") == 0
    assert activate(e) == []  # owned: not handed out twice


def test_activation_is_oldest_first_up_to_max_jobs_and_per_type() -> None:
    e = JobEngine()
    keys = [create(e, "a" if i % 2 else "b") for i in range(10)]
    first = activate(e, "a", n=3)
    assert [j.key for j in first] == [k for i, k in enumerate(keys) if i % 2][:3]
    assert [j.key for j in activate(e, "a", n=100)] == [k for i, k in enumerate(keys) if i % 2][3:]
    assert [j.key for j in activate(e, "b", n=100)] == keys[0::2]
    assert activate(e, "nobody") == []


def test_a_timed_out_job_keeps_its_place_in_the_queue() -> None:
    e = JobEngine()
    k1 = create(e)
    activate(e, n=1, timeout=10.0)
    k2 = create(e)
    e.execute(TimeTick(), T0 + 10)
    assert [j.key for j in activate(e, now=T0 + 11)] == [k1, k2]


def test_complete_removes_the_job_and_reports_the_merged_variables() -> None:
    e = JobEngine()
    key = create(e, variables={"a": 1, "b": 2})
    activate(e)
    done = ok(e.execute(CompleteJob(key, {"b": 3, "c": {"x": 1}}), T0 + 1))
    assert done.state == "COMPLETED"
    assert list(done.variables.items()) == [("a", 1), ("b", 3), ("c", {"x": 1})]
    assert e.job(key) is None and e.job_count == 0
    assert e.next_deadline() is None  # the lease of a completed job is no timer


def test_complete_accepts_an_activatable_job_like_zeebe() -> None:
    # A worker whose lease ran out may still finish the work (Zeebe accepts this too).
    e = JobEngine()
    key = create(e)
    activate(e, timeout=1.0)
    e.execute(TimeTick(), T0 + 2)
    assert state(e, key) == "ACTIVATABLE"
    assert ok(e.execute(CompleteJob(key), T0 + 3)).state == "COMPLETED"
    assert activate(e, now=T0 + 4) == []


def test_timeout_makes_the_job_activatable_again_via_time_tick_only() -> None:
    e = JobEngine()
    key = create(e)
    activate(e, timeout=10.0)
    assert e.next_deadline() == T0 + 10
    # Time passing in other commands changes nothing: only a TimeTick expires leases.
    create(e, "other", now=T0 + 9)
    assert state(e, key) == "ACTIVATED"
    assert e.execute(TimeTick(), T0 + 9.5) == TimeTickResult((), ())
    assert state(e, key) == "ACTIVATED"
    e.take_newly_activatable()
    # A tick exactly at the deadline fires it, so ticking at next_deadline() always progresses.
    assert e.execute(TimeTick(), T0 + 10) == TimeTickResult((key,), ())
    job = e.job(key)
    assert job is not None
    assert (job.state, job.worker, job.deadline, job.retries) == ("ACTIVATABLE", "", None, 3)
    assert e.take_newly_activatable() == {"pay"}
    assert e.next_deadline() is None
    [again] = activate(e, now=T0 + 60)
    assert again.deadline == T0 + 120


def test_time_tick_uses_the_leaders_stamp_and_fires_in_deadline_order() -> None:
    e = JobEngine()
    k1, k2, k3 = create(e), create(e), create(e)
    activate(e, n=1, timeout=30.0)  # k1 -> T0+30
    activate(e, n=1, timeout=10.0)  # k2 -> T0+10
    activate(e, n=1, timeout=20.0)  # k3 -> T0+20
    assert e.next_deadline() == T0 + 10
    result = e.execute(TimeTick(), T0 + 25)
    assert result == TimeTickResult((k2, k3), ())
    assert e.clock == T0 + 25
    assert e.next_deadline() == T0 + 30
    assert e.execute(TimeTick(), T0 + 31) == TimeTickResult((k1,), ())


def test_fail_with_retries_and_no_backoff_is_activatable_at_once() -> None:
    e = JobEngine()
    key = create(e)
    activate(e)
    job = ok(e.execute(FailJob(key, 2, "flaky", variables={"tries": 1}), T0 + 1))
    assert (job.state, job.retries, job.worker, job.error_message) == (
        "ACTIVATABLE",
        2,
        "",
        "flaky",
    )
    assert job.variables == {"tries": 1}
    assert e.next_deadline() is None
    assert [j.key for j in activate(e, now=T0 + 2)] == [key]


def test_fail_with_backoff_waits_for_the_tick() -> None:
    e = JobEngine()
    key = create(e)
    activate(e)
    job = ok(e.execute(FailJob(key, 2, "later", retry_backoff=5.0), T0 + 1))
    assert (job.state, job.deadline) == ("FAILED", T0 + 6)
    assert e.next_deadline() == T0 + 6
    assert activate(e, now=T0 + 7) == []  # no tick yet
    assert e.execute(TimeTick(), T0 + 7) == TimeTickResult((), (key,))
    assert [j.key for j in activate(e, now=T0 + 8)] == [key]


def test_retries_zero_is_an_incident_until_update_retries() -> None:
    e = JobEngine()
    key = create(e)
    activate(e)
    job = ok(e.execute(FailJob(key, 0, "broken", retry_backoff=5.0), T0))
    assert (job.state, job.retries, job.deadline) == ("FAILED", 0, None)
    assert e.next_deadline() is None  # a back-off does not apply to an incident
    assert e.execute(TimeTick(), T0 + 100) == TimeTickResult((), ())
    assert activate(e, now=T0 + 100) == []
    e.take_newly_activatable()
    job = ok(e.execute(UpdateJobRetries(key, 2), T0 + 101))
    assert (job.state, job.retries) == ("ACTIVATABLE", 2)
    assert e.take_newly_activatable() == {"pay"}
    assert [j.retries for j in activate(e, now=T0 + 102)] == [2]


@pytest.mark.parametrize("name", ["ACTIVATABLE", "ACTIVATED", "BACKOFF"])
def test_update_retries_keeps_the_state_of_a_job_without_incident(name: str) -> None:
    e = JobEngine()
    key = in_state(e, name)
    before = e.job(key)
    assert before is not None
    after = ok(e.execute(UpdateJobRetries(key, 7), T0 + 1))
    assert (after.state, after.deadline, after.retries) == (before.state, before.deadline, 7)


def test_throw_error_records_the_error_and_the_job_is_never_activated_again() -> None:
    e = JobEngine()
    key = create(e)
    activate(e)
    job = ok(e.execute(ThrowError(key, "NO_FUNDS", "balance too low", {"x": 1}), T0 + 1))
    assert (job.state, job.error_code, job.error_message) == (
        "ERROR_THROWN",
        "NO_FUNDS",
        "balance too low",
    )
    assert job.variables == {"x": 1}
    e.execute(TimeTick(), T0 + 1000)
    assert activate(e, now=T0 + 1000) == []
    assert state(e, key) == "ERROR_THROWN"


def test_update_timeout_moves_the_deadline_from_the_command_time() -> None:
    e = JobEngine()
    key = create(e)
    activate(e, timeout=10.0)
    job = ok(e.execute(UpdateJobTimeout(key, 100.0), T0 + 5))
    assert job.deadline == T0 + 105
    assert e.next_deadline() == T0 + 105  # the old deadline is forgotten
    assert e.execute(TimeTick(), T0 + 50) == TimeTickResult((), ())
    assert state(e, key) == "ACTIVATED"
    # Shortening works too.
    ok(e.execute(UpdateJobTimeout(key, 1.0), T0 + 51))
    assert e.execute(TimeTick(), T0 + 52) == TimeTickResult((key,), ())


def test_fetch_variables_filters_and_empty_means_all() -> None:
    e = JobEngine()
    create(e, variables={"a": 1, "b": 2, "c": 3})
    create(e, variables={"b": 20})
    jobs = activate(e, fetch_variables=("c", "missing", "a", "a"))
    assert [j.variables for j in jobs] == [{"a": 1, "c": 3}, {}]
    e.execute(TimeTick(), T0 + 61)
    assert [j.variables for j in activate(e, now=T0 + 61)] == [{"a": 1, "b": 2, "c": 3}, {"b": 20}]


def test_clock_never_runs_backwards() -> None:
    # A new leader whose clock is a little behind stamps older times: deadlines still count
    # from the latest time the partition has seen.
    e = JobEngine()
    create(e, now=T0 + 100)
    [job] = activate(e, timeout=10.0, now=T0)
    assert job.deadline == T0 + 110
    assert e.clock == T0 + 100
    e.execute(TimeTick(), T0 + 50)
    assert e.clock == T0 + 100
    for bad in (float("nan"), float("inf")):
        create(e, now=bad)
        assert e.clock == T0 + 100


def test_newly_activatable_hints() -> None:
    e = JobEngine()
    assert e.take_newly_activatable() == set()
    create(e, "a")
    create(e, "b")
    create(e, "a")
    assert e.take_newly_activatable() == {"a", "b"}
    assert e.take_newly_activatable() == set()
    activate(e, "a")
    assert e.take_newly_activatable() == set()
    assert e.activatable_types() == ["b"]
    assert e.activatable_count("b") == 1 and e.activatable_count("a") == 0


# --- refusals: precise error, nothing changed -----------------------------------------------

NF, FP, IA = ErrorCode.NOT_FOUND, ErrorCode.FAILED_PRECONDITION, ErrorCode.INVALID_ARGUMENT
MISSING = (1 << 51) | 999_999

REFUSALS: list[tuple[str, str, Any, ErrorCode, str]] = [
    # (job state, label, command(key), code, message fragment)
    ("ACTIVATABLE", "create empty type", lambda k: CreateJob(""), IA, "job type"),
    ("ACTIVATABLE", "create 0 retries", lambda k: CreateJob("t", retries=0), IA, "retries"),
    ("ACTIVATABLE", "create -1 retries", lambda k: CreateJob("t", retries=-1), IA, "retries"),
    ("ACTIVATABLE", "create list vars", lambda k: CreateJob("t", variables=[1]), IA, "object"),  # type: ignore[arg-type]
    (
        "ACTIVATABLE",
        "create nan var",
        lambda k: CreateJob("t", variables={"x": float("nan")}),
        IA,
        "variables.x",
    ),
    (
        "ACTIVATABLE",
        "create bytes var",
        lambda k: CreateJob("t", variables={"x": [b"r"]}),
        IA,
        "variables.x[0]",
    ),
    (
        "ACTIVATABLE",
        "create int header",
        lambda k: CreateJob("t", custom_headers={"h": 1}),  # type: ignore[dict-item]
        IA,
        "custom_headers",
    ),
    ("ACTIVATABLE", "activate empty type", lambda k: ActivateJobs("", "w", 1, 1.0), IA, "type"),
    ("ACTIVATABLE", "activate 0 jobs", lambda k: ActivateJobs("pay", "w", 0, 1.0), IA, "max_jobs"),
    (
        "ACTIVATABLE",
        "activate 0 timeout",
        lambda k: ActivateJobs("pay", "w", 1, 0.0),
        IA,
        "timeout",
    ),
    (
        "ACTIVATABLE",
        "activate -1 timeout",
        lambda k: ActivateJobs("pay", "w", 1, -1.0),
        IA,
        "timeout",
    ),
    (
        "ACTIVATABLE",
        "activate inf timeout",
        lambda k: ActivateJobs("pay", "w", 1, float("inf")),
        IA,
        "timeout",
    ),
    ("ACTIVATED", "complete unknown", lambda k: CompleteJob(MISSING), NF, "not found"),
    (
        "ACTIVATED",
        "complete other partition",
        lambda k: CompleteJob((5 << 51) | 1),
        NF,
        "partition is 5",
    ),
    ("ACTIVATED", "complete bad vars", lambda k: CompleteJob(k, {"x": {1, 2}}), IA, "variables"),
    ("COMPLETED", "complete twice", lambda k: CompleteJob(k), NF, "not found"),
    ("INCIDENT", "complete incident", lambda k: CompleteJob(k), FP, "incident"),
    ("BACKOFF", "complete in back-off", lambda k: CompleteJob(k), FP, "FAILED"),
    ("ERROR_THROWN", "complete thrown", lambda k: CompleteJob(k), FP, "ERROR_THROWN"),
    ("ACTIVATED", "fail negative", lambda k: FailJob(k, -1), IA, "non-negative"),
    (
        "ACTIVATED",
        "fail bad backoff",
        lambda k: FailJob(k, 1, retry_backoff=-1.0),
        IA,
        "retry_backoff",
    ),
    (
        "ACTIVATED",
        "fail nan backoff",
        lambda k: FailJob(k, 1, retry_backoff=float("nan")),
        IA,
        "retry_backoff",
    ),
    ("ACTIVATED", "fail unknown", lambda k: FailJob(MISSING, 1), NF, "not found"),
    ("INCIDENT", "fail incident", lambda k: FailJob(k, 1), FP, "FAILED"),
    ("ERROR_THROWN", "fail thrown", lambda k: FailJob(k, 1), FP, "ERROR_THROWN"),
    ("COMPLETED", "fail completed", lambda k: FailJob(k, 1), NF, "not found"),
    ("ACTIVATED", "throw empty code", lambda k: ThrowError(k, ""), IA, "error_code"),
    ("ACTIVATED", "throw unknown", lambda k: ThrowError(MISSING, "E"), NF, "not found"),
    ("BACKOFF", "throw in back-off", lambda k: ThrowError(k, "E"), FP, "FAILED"),
    ("ERROR_THROWN", "throw twice", lambda k: ThrowError(k, "E"), FP, "ERROR_THROWN"),
    ("ACTIVATED", "retries 0", lambda k: UpdateJobRetries(k, 0), IA, "positive"),
    ("ACTIVATED", "retries negative", lambda k: UpdateJobRetries(k, -3), IA, "positive"),
    ("ACTIVATED", "retries unknown", lambda k: UpdateJobRetries(MISSING, 1), NF, "not found"),
    ("ERROR_THROWN", "retries thrown", lambda k: UpdateJobRetries(k, 1), FP, "ERROR_THROWN"),
    ("ACTIVATED", "timeout 0", lambda k: UpdateJobTimeout(k, 0.0), IA, "timeout"),
    ("ACTIVATED", "timeout unknown", lambda k: UpdateJobTimeout(MISSING, 1.0), NF, "not found"),
    ("ACTIVATABLE", "timeout activatable", lambda k: UpdateJobTimeout(k, 1.0), FP, "ACTIVATABLE"),
    ("BACKOFF", "timeout in back-off", lambda k: UpdateJobTimeout(k, 1.0), FP, "FAILED"),
    ("INCIDENT", "timeout incident", lambda k: UpdateJobTimeout(k, 1.0), FP, "FAILED"),
    ("ERROR_THROWN", "timeout thrown", lambda k: UpdateJobTimeout(k, 1.0), FP, "ERROR_THROWN"),
]


@pytest.mark.parametrize(
    ("job_state", "command", "code", "fragment"),
    [pytest.param(s, c, code, f, id=label) for s, label, c, code, f in REFUSALS],
)
def test_refusals_are_precise_and_change_nothing(
    job_state: str, command: Any, code: ErrorCode, fragment: str
) -> None:
    e = JobEngine(partition_id=1)
    key = in_state(e, job_state)
    before = e.snapshot()
    deadline = e.next_deadline()
    result = e.execute(command(key), T0)
    assert isinstance(result, Rejection), result
    assert result.code == code.value
    assert fragment in result.message
    assert e.snapshot() == before
    assert e.next_deadline() == deadline


def test_the_same_refusals_through_apply_bytes() -> None:
    e = JobEngine()
    key = in_state(e, "INCIDENT")
    answer = codec.decode(e.apply(codec.encode(CompleteJob(key)), 1, T0))
    assert isinstance(answer, Rejection) and answer.code == "FAILED_PRECONDITION"


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        (b"\xc1", "not msgpack"),
        (codec.packb(["e.nope", {}]), "unknown message type"),
        (codec.packb(["e.create", {"type": 5}]), "e.create"),
        (codec.packb(["e.create", {"type": "t", "retries": "3"}]), "e.create"),
        (codec.packb(["e.activate", {"type": "t", "worker": "w", "max_jobs": 1}]), "timeout"),
        (codec.packb(["e.create", {"type": "t", "variables": [1]}]), "e.create"),
        (codec.encode(Rejection("X", "not a command")), "not a job engine command"),
    ],
)
def test_apply_answers_garbage_with_invalid_argument(record: bytes, fragment: str) -> None:
    e = JobEngine()
    before = e.snapshot()
    answer = codec.decode(e.apply(record, 7, T0))
    assert isinstance(answer, Rejection) and answer.code == "INVALID_ARGUMENT", answer
    assert fragment in answer.message
    assert e.position == 7  # the record was consumed: replay must skip it the same way
    assert e.job_count == 0 and e.next_deadline() is None
    assert before != e.snapshot()  # position moved; nothing else


def test_apply_round_trips_results_and_skips_replayed_positions() -> None:
    e = JobEngine()
    key = codec.decode(e.apply(codec.encode(CreateJob("t", variables={"v": 1})), 10, T0))
    assert isinstance(key, JobKey)
    jobs = codec.decode(e.apply(codec.encode(ActivateJobs("t", "w", 5, 5.0)), 11, T0))
    assert isinstance(jobs, ActivatedJobs) and jobs.jobs[0].variables == {"v": 1}
    again = codec.decode(e.apply(codec.encode(CreateJob("t")), 11, T0))
    assert isinstance(again, Rejection) and again.code == "FAILED_PRECONDITION"
    assert e.job_count == 1 and e.position == 11


def test_an_activation_that_finds_nothing_is_answered_without_a_record() -> None:
    e = JobEngine(1)
    key = create(e, "pay")
    activate(e, "pay")  # the only job is now held by w1
    create(e, "ship")
    before = e.snapshot()
    empty = e.answer_unlogged(codec.encode(ActivateJobs("pay", "w2", 5, 30.0)))
    assert empty is not None and codec.decode(empty) == ActivatedJobs(())
    assert e.snapshot() == before  # nothing changed: no record needed
    # A job to hand out, an invalid activation (rejected when applied) and any other
    # command all go through the log.
    assert e.answer_unlogged(codec.encode(ActivateJobs("ship", "w2", 5, 30.0))) is None
    assert e.answer_unlogged(codec.encode(ActivateJobs("pay", "w2", 0, 30.0))) is None
    assert e.answer_unlogged(codec.encode(CompleteJob(key))) is None
    assert e.answer_unlogged(b"\x92\xaae.activate garbage") is None
