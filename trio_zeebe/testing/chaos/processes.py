"""The process part of the chaos workload: instances, their jobs and messages; their invariants.

``setup`` deploys three processes (retrying until a deployment is acknowledged):

* ``chaos-task``: start, service task ``final``, end;
* ``chaos-msg``: start, service task ``prep``, a message catch (``chaos-ping``, correlation key
  ``=corr``), service task ``final``, end. The worker completing ``prep`` sets ``corr`` to a key
  that hashes to another partition than the instance's (so the subscription crosses
  partitions: open, correlate, correlated over the network);
* ``chaos-timer``: start, a one-second timer catch, service task ``final``, end.

Operations (public gRPC client only):

* ``create_instance``: CreateProcessInstance of one of them; the variables carry the id of the
  request (``op``), so every job of the instance names its creator, and a digest of them;
* ``create_instance_with_result``: CreateProcessInstanceWithResult of ``chaos-task`` (a few
  seconds' wait; other loops' workers complete its task): an answer says it completed;
* ``work_instances``: ActivateJobs of ``chaos-prep`` or ``chaos-final`` jobs, then for each job
  CompleteJob (mostly; ``prep`` with its ``corr``), FailJob with retries left (sometimes), or
  nothing (rarely: the lease runs out). Recorded as ``activate_instance_jobs``,
  ``complete_instance_job``, ``fail_instance_job``;
* ``publish_message``: PublishMessage ``chaos-ping`` for an instance whose ``prep`` completion
  was acknowledged (or may have been applied), with the request's id in its variables
  (``msg``), a time to live (mostly long enough to wait for the subscription, sometimes 0) and
  sometimes a message id shared by every message for that instance; a few go to correlation
  keys nobody waits for. An instance may be sent several messages: only one may get in.

How the end state is read (no backdoor into the brokers): the ``final`` task is each process's
last element, so completing its job completes the instance, and the history holds every
completion with its outcome. ``verify`` sends one SetVariables to each instance the history
knows (acknowledged creates, instances seen in activations): it answers OK while the instance
is active and NotFound once it is gone (recorded as ``inspect_instance``).

``check``, over the whole history:

* every acknowledged instance is active at the end, or completed by a completion of its
  ``final`` job that was acknowledged or may have been applied (else: lost); none whose
  ``final`` completion was acknowledged (or whose create with result answered) is still
  active or has a job activated afterwards; an instance answered as completed had a
  completion of its last task that was not refused;
* no instance key maps to two creates, no create to two instances, no instance to another
  process definition than its create was answered with (or was deployed) or to variables
  other than its create sent; no instance exists for a create that was refused or never sent;
* each element runs once per instance (one job key per element);
* messages: an instance's ``final`` job carries the variables of at most one message; that
  message was published (not refused) for that instance's correlation key before the job was
  activated; no message gets into two instances;
* no acknowledged job completion comes back, and no lease ends early (as for standalone jobs).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from ...client import Job, NotFound
from ...keys import message_partition, partition_of
from ..bpmn import ProcessBuilder
from .history import Op, Outcome, Recorded, Violation, grouped, inspections, repeated
from .jobs import Creators, activate, by_job_key, completed_jobs_back, digest, early_leases
from .workload import ClientContext, Operation, share_out

TASK, MSG, TIMER = "chaos-task", "chaos-msg", "chaos-timer"
PROCESSES = (TASK, MSG, TIMER)
PREP_TYPE, FINAL_TYPE = "chaos-prep", "chaos-final"
MESSAGE = "chaos-ping"
CREATE_VARIABLES = ("op", "n", "pad")  # what a create sends; jobs see these and more
DEPLOY_BOUND = 60.0
VERIFY_ATTEMPTS = 8
SETTLE_ATTEMPTS = 4  # re-inspections of an active instance whose final completion was acked


def definitions() -> list[tuple[str, bytes]]:
    """The three processes, as ``(resource name, BPMN)``."""
    task = ProcessBuilder(TASK).start_event("start").service_task("final", job_type=FINAL_TYPE)
    msg = (
        ProcessBuilder(MSG)
        .start_event("start")
        .service_task("prep", job_type=PREP_TYPE)
        .intermediate_catch_event("wait", message=MESSAGE, correlation_key="=corr")
        .service_task("final", job_type=FINAL_TYPE)
    )
    timer = (
        ProcessBuilder(TIMER)
        .start_event("start")
        .intermediate_catch_event("tick", timer_duration="PT1S")
        .service_task("final", job_type=FINAL_TYPE)
    )
    return [
        (f"{pid}.bpmn", builder.end_event("end").done())
        for pid, builder in ((TASK, task), (MSG, msg), (TIMER, timer))
    ]


def correlation_key(instance: int, partitions: int) -> str:
    """The ``corr`` of a ``chaos-msg`` instance: unique to it and, with more than one
    partition, routed to another partition than the instance's own."""
    for i in itertools.count():
        key = f"corr-{instance}-{i}"
        if partitions < 2 or message_partition(key, partitions) != partition_of(instance):
            return key
    raise AssertionError("unreachable")


def _sighting(job: Job) -> dict[str, Any]:
    v = job.variables
    return {
        "key": job.key,
        "instance": job.process_instance_key,
        "process": job.bpmn_process_id,
        "definition": job.process_definition_key,
        "element": job.element_id,
        "op": v.get("op"),
        "digest": digest({k: v[k] for k in CREATE_VARIABLES if k in v}),
        "corr": v.get("corr"),
        "msg": v.get("msg"),
        "retries": job.retries,
    }


@attrs.frozen
class CreateInstance:
    name = "create_instance"
    weight = 1.0
    part: Processes

    async def __call__(self, ctx: ClientContext) -> None:
        op_id = ctx.new_id()
        process = ctx.rng.choices(PROCESSES, weights=(0.3, 0.5, 0.2))[0]
        variables = {"op": op_id, "n": ctx.rng.randrange(10**6), "pad": "y" * ctx.rng.randrange(64)}

        async def request() -> Any:
            return await ctx.client.create_process_instance(process, variables=variables)

        def result(answer: Any) -> dict[str, Any]:
            return {
                "key": answer.process_instance_key,
                "process": answer.bpmn_process_id,
                "version": answer.version,
                "definition": answer.process_definition_key,
            }

        args = {"process": process, "op": op_id, "digest": digest(variables)}
        outcome, answer, _ = await ctx.call(self.name, args, request, result=result, op_id=op_id)
        if outcome is Outcome.OK and answer is not None:
            self.part.instances.add(answer.process_instance_key)


@attrs.frozen
class CreateInstanceWithResult:
    name = "create_instance_with_result"
    weight = 0.15
    wait = 4.0
    part: Processes

    async def __call__(self, ctx: ClientContext) -> None:
        op_id = ctx.new_id()
        variables = {"op": op_id, "n": ctx.rng.randrange(10**6), "pad": ""}

        async def request() -> Any:
            return await ctx.client.create_process_instance_with_result(
                TASK, variables=variables, request_timeout=self.wait
            )

        def result(answer: Any) -> dict[str, Any]:
            return {
                "key": answer.process_instance_key,
                "process": answer.bpmn_process_id,
                "version": answer.version,
                "definition": answer.process_definition_key,
                "op": answer.variables.get("op"),
            }

        args = {"process": TASK, "op": op_id, "digest": digest(variables)}
        outcome, answer, _ = await ctx.call(self.name, args, request, result=result, op_id=op_id)
        if outcome is Outcome.OK and answer is not None:
            self.part.instances.add(answer.process_instance_key)
            self.part.finished.add(answer.process_instance_key)


@attrs.frozen
class WorkInstances:
    name = "work_instances"
    weight = 1.2
    part: Processes

    async def __call__(self, ctx: ClientContext) -> None:
        job_type = ctx.rng.choice((PREP_TYPE, FINAL_TYPE, FINAL_TYPE))
        for job in await activate(ctx, "activate_instance_jobs", job_type, _sighting):
            part = self.part
            part.instances.add(job.process_instance_key)
            if job.element_id == "final":
                part.waiting.pop(job.process_instance_key, None)
            roll = ctx.rng.random()
            if roll < 0.85:
                await self._complete(ctx, job)
            elif roll < 0.97:
                await self._fail(ctx, job)
            # else: abandoned; the lease runs out and the job is activatable again

    async def _complete(self, ctx: ClientContext, job: Job) -> None:
        part = self.part
        instance = job.process_instance_key
        args: dict[str, Any] = {"key": job.key, "instance": instance, "element": job.element_id}
        variables: dict[str, Any] = {"finished": True}
        if job.element_id == "prep":
            args["corr"] = variables["corr"] = correlation_key(instance, part.partitions)

        async def request() -> None:
            await ctx.client.complete_job(job.key, variables)

        outcome, _, _ = await ctx.call("complete_instance_job", args, request, keyed=True)
        if job.element_id == "prep" and outcome is not Outcome.REFUSED:
            part.waiting.setdefault(instance, args["corr"])
        if job.element_id == "final" and outcome is Outcome.OK:
            part.finished.add(instance)

    async def _fail(self, ctx: ClientContext, job: Job) -> None:
        retries = max(1, job.retries - 1)
        backoff = ctx.rng.choice((0.0, 0.0, 0.5))

        async def request() -> None:
            await ctx.client.fail_job(
                job.key, retries=retries, error_message="chaos", retry_backoff=backoff
            )

        args = {"key": job.key, "instance": job.process_instance_key, "retries": retries}
        await ctx.call("fail_instance_job", args, request, keyed=True)


@attrs.frozen
class PublishMessage:
    name = "publish_message"
    weight = 0.8
    part: Processes

    async def __call__(self, ctx: ClientContext) -> None:
        part = self.part
        op_id = ctx.new_id()
        instance: int | None = None
        if part.waiting and ctx.rng.random() < 0.9:
            instance = ctx.rng.choice(list(part.waiting))
            corr = part.waiting[instance]
            ttl = ctx.rng.choice((0.0, 30.0, 120.0, 120.0, 600.0))
            message_id = f"m-{instance}" if ctx.rng.random() < 0.3 else ""
        else:  # nobody waits for this one: it expires
            corr, ttl, message_id = f"orphan-{op_id}", 5.0, ""

        async def request() -> int:
            return await ctx.client.publish_message(
                MESSAGE, corr, variables={"msg": op_id}, time_to_live=ttl, message_id=message_id
            )

        args = {
            "op": op_id,
            "name": MESSAGE,
            "corr": corr,
            "ttl": ttl,
            "message_id": message_id,
            "instance": instance,
        }
        outcome, _, _ = await ctx.call(self.name, args, request, op_id=op_id)
        # Mostly one message per instance; sometimes another one follows (only one may get in).
        if instance is not None and outcome is Outcome.OK and ttl > 0 and ctx.rng.random() < 0.7:
            part.waiting.pop(instance, None)


async def inspect(ctx: ClientContext, instance: int) -> tuple[Outcome, BaseException | None]:
    async def request() -> None:
        await ctx.client.set_variables(instance, {"inspected": True})

    outcome, _, exc = await ctx.call("inspect_instance", {"key": instance}, request, keyed=True)
    return outcome, exc


class Processes:
    """The process part (see the module docstring)."""

    name = "processes"

    def __init__(self) -> None:
        self.partitions = 1
        self.instances: set[int] = set()  # every instance key the history names
        self.waiting: dict[int, str] = {}  # chaos-msg instance -> corr, until a message is out
        self.finished: set[int] = set()  # instances whose final completion was acknowledged

    def operations(self) -> Sequence[Operation]:
        return [
            CreateInstance(self),
            CreateInstanceWithResult(self),
            WorkInstances(self),
            PublishMessage(self),
        ]

    async def setup(self, ctx: ClientContext) -> None:
        resources = definitions()
        with trio.fail_after(DEPLOY_BOUND):
            self.partitions = (await ctx.client.topology()).partitions_count
            while True:

                async def request() -> Any:
                    return await ctx.client.deploy_resources(*resources)

                def result(answer: Any) -> dict[str, int]:
                    return {p.bpmn_process_id: p.process_definition_key for p in answer.processes}

                args = {"resources": [name for name, _ in resources]}
                outcome, _, _ = await ctx.call("deploy", args, request, result=result)
                if outcome is Outcome.OK:
                    return
                await trio.sleep(0.5)

    async def verify(self, contexts: Sequence[ClientContext]) -> None:
        await share_out(contexts, self.instances, self._inspect)

    async def _inspect(self, ctx: ClientContext, keys: list[int]) -> None:
        for key in keys:
            settle = SETTLE_ATTEMPTS if key in self.finished else 0
            for attempt in range(VERIFY_ATTEMPTS + settle):
                outcome, exc = await inspect(ctx, key)
                if isinstance(exc, NotFound):
                    break
                if outcome is Outcome.OK:
                    if settle == 0:
                        break
                    settle -= 1  # its completion was acknowledged: give it a moment to end
                await trio.sleep(min(2.0, 0.25 * 2**attempt))

    def check(self, recorded: Recorded) -> list[Violation]:
        return check_instances(recorded)

    def stats(self, recorded: Recorded) -> dict[str, int]:
        final = inspections([op for op in recorded.ops if op.kind == "inspect_instance"])
        return {
            "instances_active": sum(1 for present in final.values() if present),
            "instances_completed": sum(1 for present in final.values() if not present),
        }


# -- invariants --------------------------------------------------------------------------------


def check_instances(recorded: Recorded) -> list[Violation]:
    ops, events = recorded.ops, recorded.events
    by_kind = grouped(ops, lambda op: op.kind)
    with_result = by_kind["create_instance_with_result"]
    creates = {op.id: op for op in by_kind["create_instance"] + with_result}
    deployed: dict[str, set[int]] = defaultdict(set)
    for op in by_kind["deploy"]:
        if op.outcome is Outcome.OK:
            for pid, key in op.result.items():
                deployed[pid].add(int(key))

    # instance key <-> create, definition and variables
    creators = Creators(creates, "instance", "duplicate-instance-key", "instance-key-reused")
    violations = creators.violations
    definition: dict[int, tuple[str, int]] = {}
    for op in creates.values():
        if op.outcome is not Outcome.OK:
            continue
        key = int(op.result["key"])
        creators.acknowledged(key, op)
        answered = (str(op.result["process"]), int(op.result["definition"]))
        definition[key] = answered
        if answered[0] != op.args["process"] or (
            deployed and answered[1] not in deployed.get(answered[0], set())
        ):
            violations.append(
                Violation(
                    "wrong-definition",
                    f"create {op.id} of {op.args['process']} was answered with instance {key} "
                    f"of {answered[0]} (definition {answered[1]}; deployed: "
                    f"{sorted(deployed.get(op.args['process'], set()))})",
                )
            )
    sightings = [
        (op, s)
        for op in by_kind["activate_instance_jobs"]
        if op.outcome is Outcome.OK
        for s in op.result
    ]
    for op, s in sightings:
        instance, creator = s["instance"], s["op"]
        where = f"instance {instance} (job {s['key']}, seen by {op.id})"
        create = creators.sighted(instance, creator, s["digest"], where)
        if create is None:
            continue
        seen_definition = (s["process"], int(s["definition"]))
        expected = definition.setdefault(instance, seen_definition)
        if seen_definition != expected or seen_definition[0] != create.args["process"]:
            violations.append(
                Violation(
                    "definition-changed",
                    f"{where} runs {seen_definition}, but its create {creator} "
                    f"({create.args['process']}) was answered with {expected}",
                )
            )
    violations.extend(creators.duplicate_creates())
    key_to_op = creators.key_to_op

    # each element once per instance
    jobs_of: dict[tuple[int, str], set[int]] = defaultdict(set)
    for _, s in sightings:
        jobs_of[(s["instance"], s["element"])].add(s["key"])
    violations.extend(
        repeated(
            jobs_of,
            "element-twice",
            lambda at, keys: f"instance {at[0]} ran {at[1]!r} more than once: jobs {keys}",
        )
    )

    violations.extend(_messages(sightings, by_kind["publish_message"]))

    completions = by_job_key(by_kind["complete_instance_job"])
    fails = by_job_key(by_kind["fail_instance_job"])
    finals = grouped(  # instance -> completions of its final job
        (op for op in by_kind["complete_instance_job"] if op.args.get("element") == "final"),
        lambda op: op.args["instance"],
    )

    # no acknowledged completion comes back; nothing runs in an instance after it completed
    violations.extend(
        completed_jobs_back(
            sightings, completions, lambda s: f"job {s['key']} of instance {s['instance']}"
        )
    )
    for op, s in sightings:
        for done in finals.get(s["instance"], []):
            if done.outcome is Outcome.OK and done.end < op.start and done.args["key"] != s["key"]:
                violations.append(
                    Violation(
                        "completed-instance-back",
                        f"instance {s['instance']} completed by {done.id} (acknowledged at "
                        f"{done.end}s) has job {s['key']} activated by {op.id} at {op.start}s",
                    )
                )

    answered_done: dict[int, Op] = {}  # instance -> its create, answered with its result
    for op in with_result:
        if op.outcome is Outcome.OK:
            key = int(op.result["key"])
            answered_done[key] = op
            if op.result.get("op") != op.args["op"]:
                violations.append(
                    Violation(
                        "payload-changed",
                        f"instance {key} of {op.id} completed with op {op.result.get('op')!r}",
                    )
                )
            if not any(c.outcome is not Outcome.REFUSED for c in finals.get(key, [])):
                violations.append(
                    Violation(
                        "completed-by-nobody",
                        f"instance {key} of {op.id} was answered as completed at {op.end}s, but "
                        "no completion of its last task was acknowledged or unknown",
                    )
                )

    # every known instance is active at the end or completed
    final = inspections(by_kind["inspect_instance"])
    for key in sorted(key_to_op):
        creator = key_to_op[key]
        present = final.get(key)
        if present is None:
            violations.append(
                Violation(
                    "unverified",
                    f"instance {key} (create {creator}): no final inspection got an answer",
                )
            )
            continue
        acked = [c for c in finals.get(key, []) if c.outcome is Outcome.OK]
        if key in answered_done:
            acked.append(answered_done[key])
        if present:
            if acked:
                violations.append(
                    Violation(
                        "completed-instance-back",
                        f"instance {key} (create {creator}) is active at the end, but "
                        f"{acked[0].id} acknowledged its completion",
                    )
                )
            continue
        applied = [c for c in finals.get(key, []) if c.outcome is not Outcome.REFUSED]
        if not applied:
            refused = ", ".join(f"{c.id}: {c.error}" for c in finals.get(key, []))
            violations.append(
                Violation(
                    "lost-instance",
                    f"instance {key} (create {creator}, {creates[creator].outcome.value}) is "
                    f"gone, but no completion of its last task was acknowledged or unknown"
                    + (f" (refused: {refused})" if refused else ""),
                )
            )

    violations.extend(early_leases(by_kind["activate_instance_jobs"], fails, completions, events))
    return violations


def _messages(
    sightings: Sequence[tuple[Op, dict[str, Any]]], publishes: Sequence[Op]
) -> list[Violation]:
    """At most one message per instance, and only a message published for it, before."""
    violations: list[Violation] = []
    by_id = {op.id: op for op in publishes}
    got: dict[int, set[str]] = defaultdict(set)  # instance -> the messages its jobs carry
    went_to: dict[str, set[int]] = defaultdict(set)  # message -> instances that carry it
    for op, s in sightings:
        msg = s.get("msg")
        if msg is None:
            if s["process"] == MSG and s["element"] == "final":
                violations.append(
                    Violation(
                        "no-message",
                        f"instance {s['instance']} passed its message catch without a "
                        f"message (job {s['key']}, seen by {op.id})",
                    )
                )
            continue
        got[s["instance"]].add(msg)
        went_to[msg].add(s["instance"])
        where = f"instance {s['instance']} (job {s['key']}, seen by {op.id})"
        publish = by_id.get(msg)
        if publish is None:
            violations.append(Violation("phantom-message", f"{where} got {msg!r}: never published"))
            continue
        if publish.outcome is Outcome.REFUSED:
            violations.append(
                Violation(
                    "refused-message-correlated",
                    f"{where} got {msg}, which was refused ({publish.error})",
                )
            )
        if publish.args["corr"] != s.get("corr"):
            violations.append(
                Violation(
                    "misrouted-message",
                    f"{where} (correlation key {s.get('corr')!r}) got {msg}, published for "
                    f"{publish.args['corr']!r}",
                )
            )
        if publish.start > op.end:
            violations.append(
                Violation(
                    "message-from-the-future",
                    f"{where} got {msg} by {op.end}s, but it was published at {publish.start}s",
                )
            )
    violations.extend(
        repeated(
            got,
            "correlated-twice",
            lambda instance, msgs: (
                f"instance {instance} got messages {msgs} (at most one may get in)"
            ),
        )
    )
    violations.extend(
        repeated(went_to, "message-correlated-twice", lambda msg, into: f"{msg} got into {into}")
    )
    return violations
