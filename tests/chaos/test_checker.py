"""The chaos checker on hand-written histories: each invariant catches what it must, and a
history of a correct cluster passes.

A history is built op by op (the same records the workload writes), written to a JSON-lines
file and read back, so the file format is part of what is tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel

from trio_zeebe.client.errors import (
    ConnectionFailed,
    DeadlineExceeded,
    GatewayUnreachable,
    InvalidState,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from trio_zeebe.testing.chaos.checker import Report, check
from trio_zeebe.testing.chaos.history import History, Op, Outcome, classify, read_history
from trio_zeebe.testing.chaos.jobs import Jobs, digest

OK, REFUSED, UNKNOWN = Outcome.OK, Outcome.REFUSED, Outcome.UNKNOWN
K1, K2 = (1 << 51) + 1, (2 << 51) + 1


class Story:
    """Builds a history; ``t`` advances one second per op unless given."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "history.jsonl"
        self.history = History(self.path)
        self.t = 0.0
        self.n = 0
        self.payloads: dict[str, dict[str, Any]] = {}

    def op(
        self,
        kind: str,
        outcome: Outcome,
        args: dict[str, Any],
        result: Any = None,
        *,
        start: float | None = None,
        end: float | None = None,
        error: str = "",
        op_id: str | None = None,
    ) -> str:
        self.n += 1
        op_id = op_id or f"c0-{self.n}"
        start = self.t if start is None else start
        end = start + 0.1 if end is None else end
        self.t = max(self.t, end) + 1.0
        self.history.op(Op(op_id, "c0", kind, start, end, outcome, args, result, error))
        return op_id

    def create(self, outcome: Outcome, key: int | None = None, **kw: Any) -> str:
        op_id = f"create-{self.n + 1}"
        self.payloads[op_id] = {"op": op_id, "n": self.n}
        args = {"type": "t", "op": op_id, "digest": digest(self.payloads[op_id])}
        error = "" if outcome is OK else "Unavailable: outcome unknown"
        return self.op("create_job", outcome, args, key, op_id=op_id, error=error, **kw)

    def seen(self, key: int, creator: str, **changes: Any) -> dict[str, Any]:
        payload = {**self.payloads[creator], **changes}
        return {"key": key, "op": creator, "digest": digest(payload), "retries": 3, "state": "X"}

    def activate(self, sightings: list[dict[str, Any]], lease: float = 8.0, **kw: Any) -> str:
        args = {"type": "t", "max_jobs": 8, "lease": lease}
        return self.op("activate_jobs", OK, args, sightings, **kw)

    def complete(self, key: int, outcome: Outcome = OK, **kw: Any) -> str:
        result = "COMPLETED" if outcome is OK else None
        return self.op("complete_job", outcome, {"key": key}, result, **kw)

    def inspect(self, key: int, sighting: dict[str, Any] | None) -> str:
        if sighting is None:
            return self.op("inspect_job", REFUSED, {"key": key}, None, error="NotFound: gone")
        return self.op("inspect_job", OK, {"key": key}, sighting)

    def converged(self, ok: bool = True) -> None:
        self.history.event("converged", ok=ok, within=60, problem=None if ok else "no leader")

    def report(self) -> Report:
        self.history.flush()
        return check(read_history(self.path), [Jobs()])


@pytest.fixture
async def story(tmp_path: Path) -> Story:  # async: History reads trio's clock
    return Story(tmp_path)


def rules(report: Report) -> list[str]:
    return sorted(v.rule for v in report.violations)


async def test_a_correct_history_passes(story: Story) -> None:
    a = story.create(OK, K1)
    b = story.create(OK, K2)
    story.activate([story.seen(K1, a), story.seen(K2, b)])
    story.complete(K1)
    story.converged()
    story.inspect(K1, None)
    story.inspect(K2, story.seen(K2, b))
    report = story.report()
    assert report.ok, report.violations
    assert report.outcomes == {"ok": 4}  # inspections are not workload operations


async def test_an_acknowledged_job_that_vanished_is_lost(story: Story) -> None:
    story.create(OK, K1)
    story.converged()
    story.inspect(K1, None)
    assert rules(story.report()) == ["lost"]


async def test_a_completion_that_may_have_been_applied_explains_a_gone_job(story: Story) -> None:
    a = story.create(OK, K1)
    story.activate([story.seen(K1, a)])
    story.complete(K1, UNKNOWN, error="ConnectionFailed")
    story.converged()
    story.inspect(K1, None)
    assert story.report().ok


async def test_a_refused_completion_does_not_explain_a_gone_job(story: Story) -> None:
    a = story.create(OK, K1)
    story.activate([story.seen(K1, a)])
    story.complete(K1, REFUSED, error="NotFound: gone")
    story.converged()
    story.inspect(K1, None)
    report = story.report()
    assert rules(report) == ["lost"]
    assert "NotFound: gone" in report.violations[0].detail


async def test_a_job_seen_only_in_an_activation_must_still_be_accounted_for(story: Story) -> None:
    a = story.create(UNKNOWN)  # the client never learnt the key...
    story.activate([story.seen(K1, a)])  # ...but the job exists
    story.converged()
    story.inspect(K1, None)  # and is gone without a completion
    assert rules(story.report()) == ["lost"]


async def test_an_acknowledged_completion_must_not_come_back(story: Story) -> None:
    a = story.create(OK, K1)
    story.activate([story.seen(K1, a)])
    story.complete(K1)
    story.activate([story.seen(K1, a)], start=story.t + 20)
    story.converged()
    story.inspect(K1, story.seen(K1, a))
    assert rules(story.report()) == ["completed-job-back", "completed-job-back"]


async def test_a_refused_create_must_not_exist(story: Story) -> None:
    a = story.create(REFUSED)
    story.activate([story.seen(K1, a)])
    story.converged()
    story.inspect(K1, story.seen(K1, a))
    assert rules(story.report()) == ["refused-create-applied", "refused-create-applied"]


async def test_a_payload_other_than_the_creates_is_caught(story: Story) -> None:
    a = story.create(OK, K1)
    story.converged()
    story.inspect(K1, story.seen(K1, a, n=-1))
    assert rules(story.report()) == ["payload-changed"]


async def test_one_create_making_two_jobs_is_caught(story: Story) -> None:
    a = story.create(OK, K1)
    story.activate([story.seen(K2, a)])  # a second job with the same creator
    story.converged()
    story.inspect(K1, story.seen(K1, a))
    story.inspect(K2, story.seen(K2, a))
    assert "duplicate-create" in rules(story.report())


async def test_a_key_acknowledged_twice_is_caught(story: Story) -> None:
    a = story.create(OK, K1)
    story.create(OK, K1)
    story.converged()
    story.inspect(K1, story.seen(K1, a))
    assert "duplicate-key" in rules(story.report())


async def test_a_job_nobody_created_is_caught(story: Story) -> None:
    story.create(OK, K1)
    sighting = {"key": K2, "op": "nobody-1", "digest": "x", "retries": 3, "state": "X"}
    story.activate([sighting])
    story.converged()
    assert "phantom-job" in rules(story.report())


async def test_a_job_never_inspected_is_unverified(story: Story) -> None:
    story.create(OK, K1)
    story.converged()
    assert rules(story.report()) == ["unverified"]


async def test_a_lease_that_ended_early_is_caught(story: Story) -> None:
    a = story.create(OK, K1)
    story.activate([story.seen(K1, a)], start=10.0, end=10.1)
    story.activate([story.seen(K1, a)], start=13.0, end=13.1)  # 3 s into an 8 s lease
    story.converged()
    story.inspect(K1, story.seen(K1, a))
    assert rules(story.report()) == ["lease-ended-early"]


async def test_a_lease_may_end_early_by_the_clock_offset_in_force(story: Story) -> None:
    a = story.create(OK, K1)
    story.history.event("fault", 9.0, fault="clock-forward", index=0, nodes=[1], offset=30.0)
    story.activate([story.seen(K1, a)], start=10.0, end=10.1)
    story.activate([story.seen(K1, a)], start=13.0, end=13.1)
    story.history.event("heal", 14.0, fault="clock-forward", index=0, nodes=[1], offset=0.0)
    story.converged()
    story.inspect(K1, story.seen(K1, a))
    assert story.report().ok


async def test_a_fail_between_two_activations_ends_the_lease(story: Story) -> None:
    a = story.create(OK, K1)
    # overlapping long polls: the second may have started before the first answered
    story.activate([story.seen(K1, a)], start=10.0, end=10.4)
    story.op(
        "fail_job",
        OK,
        {"key": K1, "retries": 2, "backoff": 0.0},
        "ACTIVATABLE",
        start=10.5,
        end=10.6,
    )
    story.activate([story.seen(K1, a)], start=9.9, end=10.7)
    story.converged()
    story.inspect(K1, story.seen(K1, a))
    assert story.report().ok


async def test_cluster_events_become_violations(story: Story) -> None:
    story.history.event("broker-exited", node=2, how="exited with code 1", last_log="boom")
    story.history.event("expectation", name="disk-full-recovered", ok=False, detail="d")
    story.history.event("expectation", name="disk-full-reported-unhealthy", ok=True, detail="")
    story.converged(ok=False)
    assert rules(story.report()) == ["broker-exited", "disk-full-recovered", "no-convergence"]


async def test_a_run_that_ended_before_converging_fails(story: Story) -> None:
    assert rules(story.report()) == ["no-convergence"]


async def test_the_summary_is_one_line_naming_faults_outcomes_and_the_seed(story: Story) -> None:
    story.history.event("fault", fault="kill-leader", index=0, nodes=[0])
    story.history.event("fault", fault="kill-leader", index=1, nodes=[1])
    story.history.event("skipped", fault="disk-full", index=2, reason="needs root")
    story.create(OK, K1)
    story.create(UNKNOWN)
    story.converged()
    line = story.report().summary(seed=42)
    assert "\n" not in line
    assert "seed=42" in line and "kill-leader=2" in line and "skipped [disk-full=1]" in line
    assert "acknowledged=1 refused=0 unknown=1" in line
    assert "violations 1 [unverified=1]" in line and "replay with --seed 42" in line


async def test_a_torn_last_line_is_ignored(story: Story) -> None:
    story.create(OK, K1)
    story.history.flush()
    with story.path.open("a") as f:
        f.write('{"type": "op", "id": "torn')
    assert len(read_history(story.path).ops) == 1


@pytest.mark.parametrize(
    ("exc", "resent", "keyed", "outcome"),
    [
        (GatewayUnreachable("refused"), False, False, REFUSED),  # never sent
        (GatewayUnreachable("refused"), True, True, UNKNOWN),  # an earlier copy was sent
        (ResourceExhausted("busy"), False, False, REFUSED),
        (ResourceExhausted("busy"), False, True, UNKNOWN),  # the gateway may have retried
        (NotFound("gone"), False, True, REFUSED),
        (NotFound("gone"), True, True, UNKNOWN),  # a resent copy found it gone
        (
            NotFound("gone (an earlier attempt ... may have been applied by that attempt)"),
            False,
            True,
            UNKNOWN,
        ),
        (InvalidState("wrong state"), False, True, REFUSED),
        (ConnectionFailed("broke after sending"), False, False, UNKNOWN),
        (Unavailable("outcome unknown"), False, False, UNKNOWN),
        (DeadlineExceeded("no answer"), False, False, UNKNOWN),
    ],
)
def test_outcomes_follow_what_the_client_promises(
    exc: Exception, resent: bool, keyed: bool, outcome: Outcome
) -> None:
    assert classify(exc, resent=resent, keyed=keyed) is outcome


async def test_history_records_survive_a_round_trip(tmp_path: Path) -> None:
    history = History(tmp_path / "h.jsonl")
    history.meta(seed=7, brokers=3)
    history.op(Op("c0-1", "c0", "create_job", 1.0, 1.5, OK, {"op": "c0-1"}, K1))
    history.event("fault", fault="pause-leader", index=0, nodes=[2])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(history.run)
        await trio.lowlevel.checkpoint()
        nursery.cancel_scope.cancel()  # flushes on the way out
    recorded = read_history(tmp_path / "h.jsonl")
    assert recorded.meta == {"seed": 7, "brokers": 3}
    assert recorded.ops == [Op("c0-1", "c0", "create_job", 1.0, 1.5, OK, {"op": "c0-1"}, K1)]
    assert [(e.kind, e.fields["nodes"]) for e in recorded.events] == [("fault", [2])]


async def test_a_not_found_after_a_retried_inspection_says_gone(story: Story) -> None:
    """Found by ``nox -s chaos -- --minutes 30 --seed 17017``: the gateway retried an
    inspection after an attempt with an unknown outcome and then answered NotFound; the request
    is recorded ``unknown``, and the checker took that for no answer (7 jobs "unverified").
    An inspection cannot remove the job, so the NotFound says it is gone."""
    a = story.create(OK, K1)
    story.activate([story.seen(K1, a)])
    story.complete(K1)
    story.create(OK, K2)
    story.converged()
    note = "(an earlier attempt's outcome was unknown: it may have been applied by that attempt)"
    for key in (K1, K2):
        story.op("inspect_job", UNKNOWN, {"key": key}, error=f"NotFound: no such job {note}")
    assert rules(story.report()) == ["lost"]  # K2: gone with no completion; K1: completed


async def test_only_ok_and_not_found_answer_an_inspection(story: Story) -> None:
    a = story.create(OK, K1)
    story.converged()
    story.inspect(K1, story.seen(K1, a))
    story.op("inspect_job", REFUSED, {"key": K1}, error="GatewayUnreachable: refused")
    story.op("inspect_job", REFUSED, {"key": K1}, error="ResourceExhausted: busy")
    assert story.report().ok  # present; the refusals after it say nothing
