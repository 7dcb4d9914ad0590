"""The process part of the chaos checker on hand-written histories: instances, their jobs and
messages; each invariant catches what it must and a correct history passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trio_zeebe.keys import message_partition, partition_of
from trio_zeebe.testing.chaos.checker import Report, check
from trio_zeebe.testing.chaos.history import History, Op, Outcome, read_history
from trio_zeebe.testing.chaos.jobs import Jobs, digest
from trio_zeebe.testing.chaos.processes import MSG, TASK, Processes, correlation_key

OK, REFUSED, UNKNOWN = Outcome.OK, Outcome.REFUSED, Outcome.UNKNOWN
I1, I2 = (1 << 51) + 10, (2 << 51) + 10
DEFS = {TASK: (1 << 51) + 1, MSG: (1 << 51) + 2}


class Story:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "history.jsonl"
        self.history = History(self.path)
        self.t = 0.0
        self.n = 0
        self.jobs = 100
        self.payloads: dict[str, dict[str, Any]] = {}
        self.op("deploy", OK, {"resources": []}, dict(DEFS))

    def op(
        self, kind: str, outcome: Outcome, args: dict[str, Any], result: Any = None, **kw: Any
    ) -> str:
        self.n += 1
        op_id = kw.pop("op_id", None) or f"c0-{self.n}"
        start = kw.pop("start", self.t)
        end = kw.pop("end", start + 0.1)
        self.t = max(self.t, end) + 1.0
        error = kw.pop("error", "" if outcome is OK else "Unavailable: outcome unknown")
        self.history.op(Op(op_id, "c0", kind, start, end, outcome, args, result, error))
        return op_id

    def create(self, process: str, outcome: Outcome, key: int | None = None) -> str:
        op_id = f"create-{self.n + 1}"
        self.payloads[op_id] = {"op": op_id, "n": self.n, "pad": ""}
        args = {"process": process, "op": op_id, "digest": digest(self.payloads[op_id])}
        result = None
        if outcome is OK:
            result = {"key": key, "process": process, "version": 1, "definition": DEFS[process]}
        return self.op("create_instance", outcome, args, result, op_id=op_id)

    def job(
        self, instance: int, creator: str, element: str, key: int | None = None, **variables: Any
    ) -> dict[str, Any]:
        if key is None:
            self.jobs += 1
            key = self.jobs
        process = self.ops_process(creator)
        return {
            "key": key,
            "instance": instance,
            "process": process,
            "definition": variables.pop("definition", DEFS[process]),
            "element": element,
            "op": creator,
            "digest": digest({**self.payloads[creator], **variables.pop("changed", {})}),
            "corr": variables.get("corr"),
            "msg": variables.get("msg"),
            "retries": 3,
        }

    def ops_process(self, creator: str) -> str:
        self.history.flush()
        for op in read_history(self.path).ops:
            if op.id == creator:
                return str(op.args["process"])
        return TASK

    def activate(self, *sightings: dict[str, Any], **kw: Any) -> str:
        args = {"type": "t", "max_jobs": 8, "lease": 8.0}
        return self.op("activate_instance_jobs", OK, args, list(sightings), **kw)

    def complete(self, job: dict[str, Any], outcome: Outcome = OK, **kw: Any) -> str:
        args = {"key": job["key"], "instance": job["instance"], "element": job["element"]}
        if job["element"] == "prep":
            args["corr"] = kw.pop("corr")
        return self.op("complete_instance_job", outcome, args, **kw)

    def publish(self, corr: str, outcome: Outcome = OK, **kw: Any) -> str:
        op_id = kw.pop("op_id", f"pub-{self.n + 1}")
        args = {"op": op_id, "name": "chaos-ping", "corr": corr, "ttl": 60.0, "message_id": ""}
        return self.op("publish_message", outcome, args, 7, op_id=op_id, **kw)

    def inspect(self, instance: int, active: bool) -> None:
        if active:
            self.op("inspect_instance", OK, {"key": instance})
        else:
            self.op("inspect_instance", REFUSED, {"key": instance}, error="NotFound: gone")

    def report(self) -> Report:
        self.history.event("converged", ok=True, within=60, problem=None)
        self.history.flush()
        return check(read_history(self.path), [Jobs(), Processes()])


@pytest.fixture
async def story(tmp_path: Path) -> Story:  # async: History reads trio's clock
    return Story(tmp_path)


def rules(report: Report) -> list[str]:
    return sorted(v.rule for v in report.violations)


def message_story(story: Story, instance: int = I1) -> tuple[str, str, dict[str, Any]]:
    """An acknowledged chaos-msg instance through its message catch: (create, corr, final)."""
    a = story.create(MSG, OK, instance)
    prep = story.job(instance, a, "prep")
    story.activate(prep)
    corr = correlation_key(instance, 3)
    story.complete(prep, corr=corr)
    m = story.publish(corr)
    final = story.job(instance, a, "final", corr=corr, msg=m)
    story.activate(final)
    return a, corr, final


async def test_correct_instances_pass(story: Story) -> None:
    a = story.create(TASK, OK, I2)
    final = story.job(I2, a, "final")
    story.activate(final)
    story.complete(final)
    message_story(story)
    story.inspect(I2, active=False)
    story.inspect(I1, active=True)  # its final job is not completed yet
    report = story.report()
    assert report.ok, report.violations
    assert report.stats == {"instances_active": 1, "instances_completed": 1}
    assert report.acknowledged["create_instance"] == 2
    assert "publish_message=1" in report.summary(1)


async def test_an_acknowledged_instance_that_vanished_is_lost(story: Story) -> None:
    story.create(TASK, OK, I1)
    story.inspect(I1, active=False)
    assert rules(story.report()) == ["lost-instance"]


async def test_a_last_task_completion_that_may_have_been_applied_explains_a_gone_instance(
    story: Story,
) -> None:
    a = story.create(TASK, OK, I1)
    final = story.job(I1, a, "final")
    story.activate(final)
    story.complete(final, UNKNOWN)
    story.inspect(I1, active=False)
    assert story.report().ok


async def test_an_instance_still_active_after_its_acknowledged_completion_is_a_violation(
    story: Story,
) -> None:
    a = story.create(TASK, OK, I1)
    final = story.job(I1, a, "final")
    story.activate(final)
    story.complete(final)
    story.activate(final)  # the completed job is back, too
    story.inspect(I1, active=True)
    assert rules(story.report()) == ["completed-instance-back", "completed-job-back"]


async def test_an_uninspected_instance_is_unverified(story: Story) -> None:
    story.create(TASK, OK, I1)
    assert rules(story.report()) == ["unverified"]


async def test_instances_map_to_one_create_definition_and_payload(story: Story) -> None:
    a = story.create(TASK, OK, I1)
    b = story.create(TASK, OK, I1)  # the same key for two creates
    story.activate(story.job(I1, a, "final", definition=DEFS[MSG]))  # another definition
    story.activate(story.job(I1, b, "final", changed={"n": -1}))  # other variables, other job
    story.inspect(I1, active=True)
    assert rules(story.report()) == [
        "definition-changed",
        "duplicate-instance-key",
        "element-twice",
        "instance-key-reused",
        "payload-changed",
    ]


async def test_instances_nobody_created_or_whose_create_was_refused(story: Story) -> None:
    refused = story.create(TASK, REFUSED)
    story.payloads["ghost"] = {"op": "ghost"}
    story.activate(story.job(I1, refused, "final"))
    story.activate(story.job(I2, "ghost", "final"))
    story.inspect(I1, active=True)
    assert rules(story.report()) == ["phantom-instance", "refused-create-applied"]


async def test_one_create_two_instances(story: Story) -> None:
    a = story.create(TASK, UNKNOWN)
    story.activate(story.job(I1, a, "final"), story.job(I2, a, "final"))
    story.inspect(I1, active=True)
    story.inspect(I2, active=True)
    assert rules(story.report()) == ["duplicate-create"]


async def test_a_message_gets_into_an_instance_at_most_once(story: Story) -> None:
    a, corr, final = message_story(story)
    m2 = story.publish(corr)
    again = story.job(I1, a, "final", key=final["key"], corr=corr, msg=m2)
    story.activate(again, start=story.t + 10)  # after its lease: the same job, another message
    story.inspect(I1, active=True)
    assert rules(story.report()) == ["correlated-twice"]


async def test_a_message_goes_only_to_its_correlation_key_and_after_it_was_sent(
    story: Story,
) -> None:
    a = story.create(MSG, OK, I1)
    b = story.create(MSG, OK, I2)
    c = story.create(MSG, OK, I1 + 1)
    other = story.publish("somebody-else")
    refused = story.publish(correlation_key(I2, 3), REFUSED, error="GatewayUnreachable")
    story.activate(story.job(I1, a, "final", corr=correlation_key(I1, 3), msg=other))
    story.activate(story.job(I2, b, "final", corr=correlation_key(I2, 3), msg=refused))
    corr = correlation_key(I1 + 1, 3)
    story.activate(story.job(I1 + 1, c, "final", corr=corr, msg="pub-x"), start=1.0, end=1.5)
    story.publish(corr, op_id="pub-x", start=story.t)
    for instance in (I1, I2, I1 + 1):
        story.inspect(instance, active=True)
    assert rules(story.report()) == [
        "message-from-the-future",
        "misrouted-message",
        "refused-message-correlated",
    ]


async def test_a_message_catch_passed_without_a_message_is_a_violation(story: Story) -> None:
    a = story.create(MSG, OK, I1)
    story.activate(story.job(I1, a, "final", corr="c"))
    story.inspect(I1, active=True)
    assert rules(story.report()) == ["no-message"]


async def test_one_message_in_two_instances(story: Story) -> None:
    a = story.create(MSG, OK, I1)
    b = story.create(MSG, OK, I2)
    m = story.publish("shared")
    story.activate(story.job(I1, a, "final", corr="shared", msg=m))
    story.activate(story.job(I2, b, "final", corr="shared", msg=m))
    story.inspect(I1, active=True)
    story.inspect(I2, active=True)
    assert rules(story.report()) == ["message-correlated-twice"]


@pytest.mark.parametrize("partitions", [1, 2, 3, 5])
def test_the_correlation_key_routes_to_another_partition(partitions: int) -> None:
    for instance in (I1, I2, (3 << 51) + 99):
        key = correlation_key(instance, partitions)
        assert key == correlation_key(instance, partitions)  # a retried completion agrees
        if partitions > 1:
            assert message_partition(key, partitions) != partition_of(instance)


async def test_an_instance_answered_as_completed_stays_completed(story: Story) -> None:
    op_id = "wr-1"
    story.payloads[op_id] = {"op": op_id, "n": 0, "pad": ""}
    args = {"process": TASK, "op": op_id, "digest": digest(story.payloads[op_id])}
    result = {"key": I1, "process": TASK, "version": 1, "definition": DEFS[TASK], "op": op_id}
    story.op("create_instance_with_result", OK, args, result, op_id=op_id, end=story.t + 3)
    story.inspect(I1, active=True)
    # still active, and nobody completed its task
    assert rules(story.report()) == ["completed-by-nobody", "completed-instance-back"]


async def test_a_not_found_after_a_retried_inspection_says_the_instance_is_gone(
    story: Story,
) -> None:
    """As for jobs (seed 17017): SetVariables cannot end an instance, so a NotFound after a
    gateway retry says it is gone (here: completed)."""
    a = story.create(TASK, OK, I1)
    final = story.job(I1, a, "final")
    story.activate(final)
    story.complete(final)
    note = "(an earlier attempt's outcome was unknown: it may have been applied by that attempt)"
    story.op("inspect_instance", UNKNOWN, {"key": I1}, error=f"NotFound: no such element {note}")
    story.op("inspect_instance", REFUSED, {"key": I1}, error="GatewayUnreachable: refused")
    report = story.report()
    assert report.ok, report.violations
    assert report.stats == {"instances_active": 0, "instances_completed": 1}
