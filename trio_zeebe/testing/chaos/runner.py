"""One chaos run: set up, load, inject the schedule, heal, converge, inspect, check, summarise.

:func:`run_chaos` is what ``python -m trio_zeebe.testing.chaos`` (and ``nox -s chaos``) and the
test suite's short round call. The steps:

1. namespaces and small file systems where the machine allows (else those fault kinds are
   skipped, each with its reason printed once);
2. certificates and configs, the brokers started, and a wait until the cluster has converged;
3. the workload for ``seconds`` while the seeded schedule injects its faults one after another;
   a broker process that exits on its own is recorded (a violation) and restarted;
4. the faults healed, the load stopped, a wait (bounded) for convergence, the final inspection;
5. the brokers stopped, everything set up removed, the history checked: one summary line.

The run directory (history, configs, broker logs) is kept when the check fails or when asked.
"""

from __future__ import annotations

import random
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import trio

from . import netns, smallfs
from .checker import Report, check
from .cluster import ELECTION_TIMEOUT, ChaosCluster
from .faults import Lab, inject
from .history import History, describe, read_history
from .jobs import Jobs
from .processes import Processes
from .schedule import KINDS, PlannedFault, plan
from .workload import Part, Workload

START_BOUND = 90.0
CONVERGE_BOUND = 60.0
DISK_BYTES = 256 * 1024 * 1024


@attrs.frozen
class ChaosOptions:
    seconds: float = 600.0
    seed: int | None = None
    brokers: int = 3
    partitions: int | None = None  # default: one per broker
    replication_factor: int = 3
    clients: int = 4
    loops: int = 2  # concurrent operation loops per client
    kinds: tuple[str, ...] = tuple(KINDS)
    use_netns: bool = True
    use_disk: bool = True
    directory: Path | None = None
    keep: bool = False
    converge_within: float = CONVERGE_BOUND
    replay: str = ""  # the command that replays this run, for the summary and the history


def make_parts() -> list[Part]:
    """The workload parts of a run: standalone jobs; process instances with their jobs and
    messages."""
    return [Jobs(), Processes()]


@attrs.frozen
class ChaosResult:
    report: Report
    seed: int
    directory: Path
    history: Path
    kept: bool

    @property
    def summary(self) -> str:
        return self.report.summary(self.seed)


def run_chaos(options: ChaosOptions, out: Callable[[str], None] = print) -> ChaosResult:
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(10**9)
    directory = options.directory or Path(tempfile.mkdtemp(prefix=f"trio-zeebe-chaos-{seed}-"))
    directory.mkdir(parents=True, exist_ok=True)
    history_path = directory / "history.jsonl"
    out(f"chaos: seed {seed}; replay: {options.replay or '(seed ' + str(seed) + ')'}")
    out(f"chaos: run directory {directory}")
    parts = make_parts()
    trio.run(_run, options, seed, directory, history_path, parts, out)
    report = check(read_history(history_path), parts)
    for violation in report.violations[:50]:
        out(f"chaos: VIOLATION {violation}")
    if len(report.violations) > 50:
        out(f"chaos: ... and {len(report.violations) - 50} more (see {history_path})")
    kept = options.keep or not report.ok
    if kept:
        out(f"chaos: history and broker logs kept in {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)
    return ChaosResult(report, seed, directory, history_path, kept)


async def _run(
    options: ChaosOptions,
    seed: int,
    directory: Path,
    history_path: Path,
    parts: Sequence[Part],
    out: Callable[[str], None],
) -> None:
    size = options.brokers
    history = History(history_path)
    lab_net: netns.NetLab | None = None
    skipped: dict[str, str] = {}
    disks: dict[int, smallfs.SmallDisk] = {}
    cluster: ChaosCluster | None = None
    try:
        reason = netns.unavailable() if options.use_netns else "disabled (--no-netns)"
        if reason is None:
            lab_net = netns.NetLab(size)
            lab_net.open()
        else:
            skipped["partition"] = reason
        cluster = ChaosCluster(
            directory,
            size=size,
            partitions=options.partitions or size,
            replication_factor=min(options.replication_factor, size),
            hosts=[lab_net.address(i) for i in range(size)] if lab_net else None,
            prefixes=[lab_net.exec_prefix(i) for i in range(size)] if lab_net else None,
        )
        cluster.write_configs()
        reason = smallfs.unavailable() if options.use_disk else "disabled (--no-disk)"
        if reason is None:
            for node in cluster.nodes:
                disk = smallfs.SmallDisk(
                    directory / "images" / f"broker-{node.node_id}.img", node.data_dir, DISK_BYTES
                )
                disks[node.node_id] = disk
                disk.open()
        else:
            skipped["disk"] = reason
        for family, why in sorted(skipped.items()):
            out(f"chaos: skipping {family} faults: {why}")
        faults = plan(
            seed,
            seconds=options.seconds,
            kinds=options.kinds,
            election_timeout=ELECTION_TIMEOUT,
        )
        history.meta(
            seed=seed,
            brokers=size,
            partitions=cluster.partitions,
            replication_factor=cluster.replication_factor,
            seconds=options.seconds,
            kinds=list(options.kinds),
            netns=lab_net is not None,
            small_disks=bool(disks),
            skipped=skipped,
            replay=options.replay,
            schedule=[attrs.asdict(f) for f in faults],
        )
        lab = Lab(cluster, history, lab_net, disks, skipped)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(history.run)
            await _start_cluster(cluster, out)
            nursery.start_soon(_watch_exits, cluster, history)
            await _load_and_faults(options, seed, lab, faults, parts, out)
            nursery.cancel_scope.cancel()
    except BaseException as exc:
        history.event("run-error", error=describe(exc))
        raise
    finally:
        # Blocking on purpose: nothing else runs any more, and cleanup must not be cancelled.
        if cluster is not None:
            cluster.stop_all()
            for line in _log_errors(cluster):
                out(line)
        history.flush()
        for disk in disks.values():
            try:
                disk.close()
            except smallfs.DiskSetupError as exc:
                out(f"chaos: cleanup: {exc}")
        if lab_net is not None:
            lab_net.close()


def _log_errors(cluster: ChaosCluster, top: int = 8) -> list[str]:
    """The brokers' ERROR/CRITICAL log lines, counted by message (not violations by
    themselves: a partition failing on a full disk logs one; worth a look all the same)."""
    counts: Counter[str] = Counter()
    for node in cluster.nodes:
        try:
            text = node.log.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            fields = line.split(" ", 5)
            if len(fields) == 6 and fields[2] in ("ERROR", "CRITICAL"):
                # date time LEVEL node-N logger: message; numbers vary, the message does not
                counts[re.sub(r"\d+", "N", f"{fields[4]} {fields[5]}")[:110]] += 1
    lines = [f"chaos: broker logs: {n} x {message}" for message, n in counts.most_common(top)]
    return lines


async def _start_cluster(cluster: ChaosCluster, out: Callable[[str], None]) -> None:
    for i in range(cluster.size):
        cluster.start(i)
    problem: str | None = "not asked yet"
    with trio.move_on_after(START_BOUND):
        while True:
            problem = await cluster.convergence_problem()
            if problem is None:
                break
            for i, how in cluster.new_exits():
                raise RuntimeError(
                    f"broker {i} {how} during startup:\n  " + "\n  ".join(cluster.log_tail(i))
                )
            await trio.sleep(0.2)
    if problem is not None:
        raise RuntimeError(f"the cluster did not come up within {START_BOUND:g}s: {problem}")
    out(f"chaos: {cluster.size} brokers up ({', '.join(n.gateway for n in cluster.nodes)})")


async def _watch_exits(cluster: ChaosCluster, history: History) -> None:
    """A broker that exits on its own is a violation; restart it, as a supervisor would."""
    while True:
        await trio.sleep(0.5)
        for i, how in cluster.new_exits():
            tail = cluster.log_tail(i, 40)
            history.event(
                "broker-exited",
                node=i,
                how=how,
                last_log=tail[-1] if tail else "",
                log_tail=tail,
            )
            await trio.sleep(1.0)
            cluster.start(i)


async def _load_and_faults(
    options: ChaosOptions,
    seed: int,
    lab: Lab,
    faults: Sequence[PlannedFault],
    parts: Sequence[Part],
    out: Callable[[str], None],
) -> None:
    cluster, history = lab.cluster, lab.history
    workload = Workload(
        parts,
        history,
        lambda c: cluster.client(c % cluster.size),
        clients=options.clients,
        loops=options.loops,
        seed=seed,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(workload.run)
        started = trio.current_time()
        history.event("load-started")
        with trio.move_on_after(options.seconds):
            await _schedule(lab, faults, started, out)
            await trio.sleep_forever()
        # Leaving the move_on_after healed the fault in progress (injectors heal in finally).
        history.event("load-stopping")
        workload.stop()
    history.event("load-stopped")
    problem: str | None = "not asked yet"
    began = trio.current_time()
    with trio.move_on_after(options.converge_within):
        while True:
            problem = await cluster.convergence_problem()
            if problem is None:
                break
            await trio.sleep(0.25)
    elapsed = round(trio.current_time() - began, 2)
    history.event(
        "converged",
        ok=problem is None,
        within=options.converge_within,
        after=elapsed,
        problem=problem,
    )
    out(
        f"chaos: converged {elapsed}s after the faults healed"
        if problem is None
        else f"chaos: NOT converged within {options.converge_within:g}s: {problem}"
    )
    await workload.verify()
    history.event("verified")


async def _schedule(
    lab: Lab, faults: Sequence[PlannedFault], started: float, out: Callable[[str], None]
) -> None:
    async with trio.open_nursery() as background:
        for fault in faults:
            await trio.sleep_until(started + fault.at)
            why = lab.unavailable(fault.kind)
            if why is not None:
                lab.history.event("skipped", fault=fault.kind, index=fault.index, reason=why)
                continue
            out(f"chaos: {fault.describe()}")
            if fault.background:
                background.start_soon(_inject, lab, fault, out)
            else:
                await _inject(lab, fault, out)


async def _inject(lab: Lab, fault: PlannedFault, out: Callable[[str], None]) -> None:
    try:
        await inject(lab, fault)
    except Exception as exc:  # the run goes on; the checker reports it
        lab.history.event("fault-error", fault=fault.kind, index=fault.index, error=describe(exc))
        out(f"chaos: fault {fault.describe()} failed: {describe(exc)}")


__all__ = ["ChaosOptions", "ChaosResult", "make_parts", "run_chaos"]
