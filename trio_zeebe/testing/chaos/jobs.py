"""The job part of the chaos workload: create, activate, complete and fail jobs; check them.

Operations (public client API only):

* ``create_job``: a job whose variables carry the id of the request that created it (``op``),
  so every later sighting of the job names its creator, and a digest of its variables;
* ``work_jobs``: one ``activate_jobs`` (short lease, short long-poll), then for each job
  ``complete_job`` (mostly), ``fail_job`` with retries left (sometimes, back to activatable),
  or nothing (rarely: its lease runs out and it comes back).

``verify`` (after the faults healed): one ``update_job_retries`` per job the history knows (each
acknowledged create, each job seen in an activation), which answers the job as it is now, or
NotFound once it completed. Recorded as ``inspect_job``.

``check``, over the whole history:

* every acknowledged create is present at the end, or was completed by a completion that was
  acknowledged or may have been applied (else: lost);
* no acknowledged completion comes back (in a later activation or the final inspection);
* no key maps to two creates, no create to two keys, no job to a payload other than its
  create's, no job exists for a create that was refused or that nobody sent;
* no lease ends early: a job is not activated again before its lease could have run out,
  allowing for the clock offsets injected meanwhile (leases may end early by the skew).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio

from ...client import Job, NotFound
from .history import Event, Op, Outcome, Recorded, Violation, grouped, inspections, repeated
from .workload import ClientContext, Operation, share_out

JOB_TYPES = ("chaos-a", "chaos-b")
LEASE = 8.0  # seconds an activation holds its jobs
LEASE_TOLERANCE = 0.25  # seconds of scheduling noise between the runner's and brokers' clocks
VERIFY_ATTEMPTS = 8


def digest(variables: dict[str, Any]) -> str:
    text = json.dumps(variables, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sighting(job: Job) -> dict[str, Any]:
    return {
        "key": job.key,
        "op": job.variables.get("op"),
        "digest": digest(job.variables),
        "retries": job.retries,
        "state": job.state,
    }


async def activate(
    ctx: ClientContext, kind: str, job_type: str, sighting: Callable[[Job], dict[str, Any]]
) -> list[Job]:
    """One ActivateJobs of up to a few jobs (lease ``LEASE``, a short long-poll or none),
    recorded as ``kind`` with a ``sighting`` of each job; the jobs got, none if it failed."""
    max_jobs = ctx.rng.randint(1, 8)
    poll = ctx.rng.choice((0.0, 0.5, 1.0))

    async def request() -> list[Job]:
        return await ctx.client.activate_jobs(
            job_type, worker=ctx.name, max_jobs=max_jobs, timeout=LEASE, request_timeout=poll
        )

    def sightings(jobs: list[Job]) -> list[dict[str, Any]]:
        return [sighting(j) for j in jobs]

    args = {"type": job_type, "max_jobs": max_jobs, "lease": LEASE}
    _, jobs, _ = await ctx.call(kind, args, request, result=sightings)
    return jobs or []


@attrs.frozen
class CreateJob:
    name = "create_job"
    weight = 1.0
    part: Jobs

    async def __call__(self, ctx: ClientContext) -> None:
        op_id = ctx.new_id()
        job_type = ctx.rng.choice(JOB_TYPES)
        variables = {"op": op_id, "n": ctx.rng.randrange(10**6), "pad": "x" * ctx.rng.randrange(64)}

        async def request() -> int:
            return await ctx.client.create_job(job_type, retries=3, variables=variables)

        args = {"type": job_type, "op": op_id, "digest": digest(variables)}
        outcome, key, _ = await ctx.call(self.name, args, request, op_id=op_id)
        if outcome is Outcome.OK and key is not None:
            self.part.keys.add(key)


@attrs.frozen
class WorkJobs:
    name = "work_jobs"
    weight = 1.0
    part: Jobs

    async def __call__(self, ctx: ClientContext) -> None:
        job_type = ctx.rng.choice(JOB_TYPES)
        for job in await activate(ctx, "activate_jobs", job_type, _sighting):
            self.part.keys.add(job.key)
            roll = ctx.rng.random()
            if roll < 0.8:
                await complete(ctx, job.key)
            elif roll < 0.95:
                await fail(ctx, job.key, max(1, job.retries - 1), ctx.rng.choice((0.0, 0.0, 0.5)))
            # else: abandoned; the lease runs out and the job is activatable again


async def complete(ctx: ClientContext, key: int) -> None:
    async def request() -> None:
        await ctx.client.complete_job(key, {"done": True})

    # Zeebe's CompleteJob answers with an empty response: the outcome is the record.
    await ctx.call("complete_job", {"key": key}, request, keyed=True)


async def fail(ctx: ClientContext, key: int, retries: int, backoff: float) -> None:
    async def request() -> None:
        await ctx.client.fail_job(
            key, retries=retries, error_message="chaos", retry_backoff=backoff
        )

    args = {"key": key, "retries": retries, "backoff": backoff}
    await ctx.call("fail_job", args, request, keyed=True)


async def inspect(ctx: ClientContext, key: int) -> tuple[Outcome, BaseException | None]:
    async def request() -> None:
        await ctx.client.update_job_retries(key, 3)

    outcome, _, exc = await ctx.call("inspect_job", {"key": key}, request, keyed=True)
    return outcome, exc


class Jobs:
    """The job part (see the module docstring)."""

    name = "jobs"

    def __init__(self) -> None:
        self.keys: set[int] = set()  # every job key the history names: to inspect at the end

    def operations(self) -> Sequence[Operation]:
        return [CreateJob(self), WorkJobs(self)]

    async def setup(self, ctx: ClientContext) -> None:
        pass  # standalone jobs need nothing deployed

    def stats(self, recorded: Recorded) -> dict[str, int]:
        return {}

    async def verify(self, contexts: Sequence[ClientContext]) -> None:
        await share_out(contexts, self.keys, self._inspect)

    async def _inspect(self, ctx: ClientContext, keys: list[int]) -> None:
        for key in keys:
            for attempt in range(VERIFY_ATTEMPTS):
                outcome, exc = await inspect(ctx, key)
                if outcome is Outcome.OK or isinstance(exc, NotFound):
                    break
                await trio.sleep(min(2.0, 0.25 * 2**attempt))

    def check(self, recorded: Recorded) -> list[Violation]:
        return check_jobs(recorded.ops, recorded.events)


# -- invariants --------------------------------------------------------------------------------


@attrs.define
class Creators:
    """Which create made which key (a job's, an instance's): from the creates' answers and from
    every sighting of the thing, whose variables name their create (``op``) and digest.

    ``noun`` names the thing in details, ``key_rule`` and ``reused_rule`` are the rules of a key
    acknowledged twice and of a sighting that ties a key to a second create."""

    creates: dict[str, Op]
    noun: str
    key_rule: str
    reused_rule: str
    violations: list[Violation] = attrs.field(factory=list)
    key_to_op: dict[int, str] = attrs.field(factory=dict)
    op_to_keys: defaultdict[str, set[int]] = attrs.field(factory=lambda: defaultdict(set))

    def acknowledged(self, key: int, op: Op) -> None:
        """``op``, a create, was answered with ``key``."""
        if key in self.key_to_op:
            self.violations.append(
                Violation(
                    self.key_rule,
                    f"{self.noun} {key} acknowledged for {self.key_to_op[key]} and {op.id}",
                )
            )
        self.key_to_op[key] = op.id
        self.op_to_keys[op.id].add(key)

    def sighted(self, key: int, creator: str, variables: str, where: str) -> Op | None:
        """``where`` (the thing with ``key``, and who saw it) carries the variables of create
        ``creator`` with the digest ``variables``; its create, None if nobody sent it."""
        create = self.creates.get(creator)
        if create is None:
            self.violations.append(
                Violation(
                    f"phantom-{self.noun}", f"{where} carries op {creator!r}, which no create sent"
                )
            )
            return None
        if create.outcome is Outcome.REFUSED:
            self.violations.append(
                Violation(
                    "refused-create-applied",
                    f"create {creator} was refused ({create.error}) but {where} exists",
                )
            )
        if variables != create.args["digest"]:
            self.violations.append(
                Violation(
                    "payload-changed",
                    f"{where} has variables other than its create {creator} sent",
                )
            )
        known = self.key_to_op.setdefault(key, creator)
        if known != creator:
            self.violations.append(
                Violation(
                    self.reused_rule,
                    f"{where} belongs to {known} but carries the variables of {creator}",
                )
            )
        self.op_to_keys[creator].add(key)
        return create

    def duplicate_creates(self) -> list[Violation]:
        """A create that made more than one."""
        return repeated(
            self.op_to_keys,
            "duplicate-create",
            lambda creator, keys: f"create {creator} made {self.noun}s {keys}",
        )


def completed_jobs_back(
    sightings: Sequence[tuple[Op, dict[str, Any]]],
    completions: dict[int, list[Op]],
    job: Callable[[dict[str, Any]], str],
) -> list[Violation]:
    """A job activated after a completion of it was acknowledged (``job`` names it)."""
    return [
        Violation(
            "completed-job-back",
            f"{job(s)} completed by {done.id} "
            f"(acknowledged at {done.end}s) is back in {op.id} at {op.start}s",
        )
        for op, s in sightings
        for done in completions.get(s["key"], [])
        if done.outcome is Outcome.OK and done.end < op.start
    ]


def by_job_key(ops: Sequence[Op]) -> defaultdict[int, list[Op]]:
    """Job commands (complete, fail) by the key of the job they name."""
    return grouped(ops, lambda op: op.args["key"])


def check_jobs(ops: Sequence[Op], events: Sequence[Event]) -> list[Violation]:
    by_kind = grouped(ops, lambda op: op.kind)
    creates = {op.id: op for op in by_kind["create_job"]}

    # key <-> create, from the creates' answers and from every sighting of a job
    creators = Creators(creates, "job", "duplicate-key", "key-reused")
    for op in creates.values():
        if op.outcome is Outcome.OK:
            creators.acknowledged(int(op.result), op)
    sightings = [
        (op, s)
        for op in by_kind["activate_jobs"] + by_kind["inspect_job"]
        if op.outcome is Outcome.OK
        for s in (op.result if isinstance(op.result, list) else [op.result])
        # An inspection (UpdateJobRetries) answers empty, as Zeebe's: it tells only that the
        # job exists; sightings with contents come from activations.
        if s is not None
    ]
    for op, s in sightings:
        creators.sighted(s["key"], s["op"], s["digest"], f"job {s['key']} (seen by {op.id})")
    violations = creators.violations
    violations.extend(creators.duplicate_creates())
    key_to_op = creators.key_to_op

    completions = by_job_key(by_kind["complete_job"])
    fails = by_job_key(by_kind["fail_job"])

    # no acknowledged completion comes back
    violations.extend(completed_jobs_back(sightings, completions, lambda s: f"job {s['key']}"))

    # every known job is present at the end or completed
    final = inspections(by_kind["inspect_job"])
    for key in sorted(key_to_op):
        present = final.get(key)
        if present is None:
            violations.append(
                Violation(
                    "unverified",
                    f"job {key} (create {key_to_op[key]}): no final inspection got an answer",
                )
            )
            continue
        if present:
            continue  # (completion checked above)
        applied = [c for c in completions.get(key, []) if c.outcome is not Outcome.REFUSED]
        if not applied:
            refused = ", ".join(f"{c.id}: {c.error}" for c in completions.get(key, []))
            violations.append(
                Violation(
                    "lost",
                    f"job {key} (create {key_to_op[key]}, "
                    f"{creates[key_to_op[key]].outcome.value}) is gone, but no completion "
                    f"was acknowledged or unknown" + (f" (refused: {refused})" if refused else ""),
                )
            )

    violations.extend(early_leases(by_kind["activate_jobs"], fails, completions, events))
    return violations


def early_leases(
    activations: Sequence[Op],
    fails: dict[int, list[Op]],
    completions: dict[int, list[Op]],
    events: Sequence[Event],
) -> list[Violation]:
    """A job activated again before its previous lease could have ended.

    Of two activations ``a`` and ``b`` that both returned a job, one was applied first; it was
    applied after its request started, so its lease ends no earlier than ``start + lease``, and
    the other was applied before its answer came (``end``). When either order would put the
    second activation before ``start + lease - allowance`` the lease provably ended early.
    ``allowance`` is twice the largest clock offset in force meanwhile (a leader behind when it
    stamps the activation, a leader ahead when it expires it). A fail or completion that may
    have been applied between them ends the lease legally.
    """
    skews = _skew_windows(events)
    seen: dict[int, list[Op]] = defaultdict(list)
    for op in activations:
        if op.outcome is Outcome.OK:
            for s in op.result:
                seen[s["key"]].append(op)
    violations = []
    for key, acts in sorted(seen.items()):
        acts.sort(key=lambda o: o.start)
        answers = fails.get(key, []) + completions.get(key, [])
        for a, b in itertools.pairwise(acts):
            low, high = min(a.start, b.start), max(a.end, b.end)
            if any(x.start <= high and x.end >= low for x in answers):
                continue
            allowance = 2 * _max_skew(skews, low, high) + LEASE_TOLERANCE
            if (
                b.end < a.start + float(a.args["lease"]) - allowance
                and a.end < b.start + float(b.args["lease"]) - allowance
            ):
                violations.append(
                    Violation(
                        "lease-ended-early",
                        f"job {key} activated by {a.id} ({a.start}s..{a.end}s, lease "
                        f"{a.args['lease']:g}s) and again by {b.id} ({b.start}s..{b.end}s) "
                        f"with no fail or completion between (clock offsets allowed for: "
                        f"{(allowance - LEASE_TOLERANCE) / 2:g}s)",
                    )
                )
    return violations


def _skew_windows(events: Sequence[Event]) -> list[tuple[float, float, float]]:
    """(from, to, |offset|) of every clock offset injected (open ones run to the end)."""
    windows = []
    open_: dict[Any, tuple[float, float]] = {}
    for e in events:
        if e.fields.get("fault", "").startswith("clock-"):
            index = e.fields.get("index")
            if e.kind == "fault":
                open_[index] = (e.at, abs(float(e.fields.get("offset", 0.0))))
            elif e.kind == "heal" and index in open_:
                start, offset = open_.pop(index)
                windows.append((start, e.at, offset))
    windows.extend((start, float("inf"), offset) for start, offset in open_.values())
    return windows


def _max_skew(windows: Sequence[tuple[float, float, float]], start: float, end: float) -> float:
    return max((o for a, b, o in windows if a <= end and b >= start), default=0.0)
