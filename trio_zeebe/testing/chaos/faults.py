"""Fault injectors: each takes a planned fault, finds its target, injects, holds, and heals.

Every injector heals in a ``finally`` shielded from cancellation, so a run that is stopped (or
fails) mid-fault still leaves every broker running, connected, with free disk and a true clock.
Each records ``fault`` (with the brokers hit) and ``heal`` events in the history; the disk
fault also records ``expectation`` events (the broker reported unhealthy while its disk was
full; it was healthy again soon after space returned), which the checker turns into
violations when they failed.

Targets come from the cluster's state at that moment: ``pick`` (from the seed) chooses the
partition whose leader (or follower) is hit, or the brokers of a split.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from .cluster import ChaosCluster
from .history import History
from .netns import NetLab
from .schedule import KINDS, PlannedFault
from .smallfs import SmallDisk

DISK_UNHEALTHY_BOUND = 10.0  # a broker whose disk is full says so within this (under load)
DISK_RECOVERY_BOUND = 30.0  # ... and is healthy again within this once space is back
POLL = 0.25


@attrs.define
class Lab:
    """What faults act on; ``net``/``disks`` are None/empty where the machine does not allow."""

    cluster: ChaosCluster
    history: History
    net: NetLab | None = None
    disks: dict[int, SmallDisk] = attrs.field(factory=dict)
    skipped: dict[str, str] = attrs.field(factory=dict)  # kind -> why it cannot run here

    def unavailable(self, kind: str) -> str | None:
        family = KINDS[kind][0]
        if family == "partition" and self.net is None:
            return self.skipped.get("partition", "no network namespaces")
        if family == "disk" and not self.disks:
            return self.skipped.get("disk", "no size-limited file systems")
        return None


async def inject(lab: Lab, fault: PlannedFault) -> bool:
    """Run one planned fault to its end (healed); False when its kind cannot run here."""
    if lab.unavailable(fault.kind) is not None:
        return False
    await _INJECTORS[KINDS[fault.kind][0]](lab, fault)
    return True


def _record(lab: Lab, what: str, fault: PlannedFault, **fields: Any) -> None:
    lab.history.event(what, fault=fault.kind, index=fault.index, **fields)


# -- targets ---------------------------------------------------------------------------------


async def _leader(lab: Lab, pick: int) -> tuple[int, int]:
    """(partition, its leader) for ``pick``; a running broker when no leader is known."""
    leaders = await lab.cluster.leaders()
    if leaders:
        pid = sorted(leaders)[pick % len(leaders)]
        return pid, leaders[pid]
    running = lab.cluster.running() or list(range(lab.cluster.size))
    return 0, running[pick % len(running)]


async def _follower(lab: Lab, pick: int) -> int:
    pid, leader = await _leader(lab, pick)
    replicas = (await lab.cluster.replicas()).get(pid, [])
    followers = [n for n in replicas if n != leader] or [
        n for n in range(lab.cluster.size) if n != leader
    ]
    return followers[(pick >> 4) % len(followers)]


async def _target(lab: Lab, fault: PlannedFault) -> int:
    """Leader or follower as the kind says; else either, by the pick's lowest bit."""
    if fault.kind.endswith("-leader") or (not fault.kind.endswith("-follower") and fault.pick & 1):
        return (await _leader(lab, fault.pick >> 1))[1]
    return await _follower(lab, fault.pick >> 1)


def _shuffled(size: int, pick: int) -> list[int]:
    nodes = list(range(size))
    random.Random(pick).shuffle(nodes)
    return nodes


# -- injectors ---------------------------------------------------------------------------------


async def _kill(lab: Lab, fault: PlannedFault) -> None:
    cluster = lab.cluster
    size = cluster.size
    if fault.kind == "kill-all":
        targets = list(range(size))
    elif fault.kind == "kill-majority":
        targets = sorted(_shuffled(size, fault.pick)[: size // 2 + 1])
    else:
        targets = [await _target(lab, fault)]
    try:
        for i in targets:
            cluster.kill(i)
        _record(lab, "fault", fault, nodes=targets)
        await trio.sleep(fault.duration)
    finally:
        for i in targets:
            if i in cluster.down:
                cluster.start(i)  # same config, same data
        _record(lab, "heal", fault, nodes=targets)


async def _pause(lab: Lab, fault: PlannedFault) -> None:
    cluster = lab.cluster
    target = await _target(lab, fault)
    try:
        cluster.pause(target)
        _record(lab, "fault", fault, nodes=[target])
        await trio.sleep(fault.duration)
    finally:
        cluster.resume(target)
        _record(lab, "heal", fault, nodes=[target])


async def _partition(lab: Lab, fault: PlannedFault) -> None:
    net = lab.net
    assert net is not None
    size = lab.cluster.size
    order = _shuffled(size, fault.pick)
    detail: dict[str, Any]
    try:
        if fault.kind == "partition-leader":
            leader = (await _leader(lab, fault.pick))[1]
            groups = [[leader], [n for n in range(size) if n != leader]]
            net.partition(groups)
            detail = {"groups": groups}
        elif fault.kind == "partition-split":
            minority = sorted(order[: (size - 1) // 2])
            groups = [minority, sorted(set(range(size)) - set(minority))]
            net.partition(groups)
            detail = {"groups": groups}
        elif fault.kind == "partition-bridge":
            bridge, rest = order[0], order[1:]
            half = len(rest) // 2
            groups = [sorted(rest[:half]), sorted(rest[half:])]
            net.partition(groups)  # the bridge node keeps its links to both sides
            detail = {"groups": groups, "bridge": bridge}
        else:  # partition-oneway: the target's packets to everyone else are lost
            source = await _target(lab, fault)
            others = [n for n in range(size) if n != source]
            for n in others:
                net.cut(source, n)
            detail = {"from": source, "to": others}
        _record(lab, "fault", fault, **detail)
        await trio.sleep(fault.duration)
    finally:
        net.heal()
        _record(lab, "heal", fault)


async def _disk_full(lab: Lab, fault: PlannedFault) -> None:
    """Fill the target's disk and hold; with the pick's second bit the broker is also killed
    and restarted while the disk is full (a restart must not turn into a crash loop)."""
    cluster = lab.cluster
    target = await _target(lab, fault)
    disk = lab.disks[target]
    history = lab.history
    unhealthy_after: float | None = None
    restart = bool(fault.pick & 2)
    try:
        with trio.CancelScope(shield=True):
            filled = await trio.to_thread.run_sync(disk.fill)
        _record(lab, "fault", fault, nodes=[target], filler_bytes=filled, restart=restart)
        started = trio.current_time()
        with trio.move_on_after(fault.duration):
            while True:
                if unhealthy_after is None and await cluster.health(target) == 503:
                    unhealthy_after = round(trio.current_time() - started, 2)
                    if restart:
                        cluster.kill(target)
                        cluster.start(target)
                        _record(lab, "restart-while-full", fault, nodes=[target])
                await trio.sleep(POLL)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(disk.free)
        _record(lab, "heal", fault, nodes=[target])
    held = min(fault.duration, DISK_UNHEALTHY_BOUND)
    history.event(
        "expectation",
        name="disk-full-reported-unhealthy",
        node=target,
        index=fault.index,
        ok=unhealthy_after is not None and unhealthy_after <= DISK_UNHEALTHY_BOUND,
        detail=(
            f"broker {target} answered /health 503 {unhealthy_after}s after its disk filled"
            if unhealthy_after is not None
            else f"broker {target} kept answering /health 204 for {held:.1f}s with a full disk"
        ),
    )
    started = trio.current_time()
    recovered = None
    with trio.move_on_after(DISK_RECOVERY_BOUND):
        while True:
            if await cluster.health(target) == 204:
                break
            await trio.sleep(POLL)
        recovered = round(trio.current_time() - started, 2)
    history.event(
        "expectation",
        name="disk-full-recovered",
        node=target,
        index=fault.index,
        ok=recovered is not None,
        detail=(
            f"broker {target} healthy {recovered}s after space returned"
            if recovered is not None
            else f"broker {target} not healthy {DISK_RECOVERY_BOUND:g}s after space returned"
        ),
    )


async def _clock(lab: Lab, fault: PlannedFault) -> None:
    cluster = lab.cluster
    target = await _target(lab, fault)
    try:
        cluster.set_clock_offset(target, fault.magnitude)
        _record(lab, "fault", fault, nodes=[target], offset=fault.magnitude)
        await trio.sleep(fault.duration)
    finally:
        cluster.set_clock_offset(target, 0.0)
        _record(lab, "heal", fault, nodes=[target], offset=0.0)


_INJECTORS: dict[str, Callable[[Lab, PlannedFault], Awaitable[None]]] = {
    "kill": _kill,
    "pause": _pause,
    "partition": _partition,
    "disk": _disk_full,
    "clock": _clock,
}
