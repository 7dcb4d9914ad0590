"""SWIM/Lifeguard numbers from the deterministic core simulator (virtual time; not a test).

Prints, for n = 10, 50, 200 (Zeebe's membership defaults):
  * detection: time from a crash until each survivor has removed the member (mean / max),
  * false suspicions at 10 % message loss, plain SWIM vs Lifeguard (health multiplier, dynamic
    suspicion, buddy notice): distinct suspicion episodes (member, incarnation) per member-minute,
    and members wrongly declared dead,
  * the same with one slow member (its inbox is processed 1.5 s late),
  * dissemination of a properties change: seconds and gossip rounds until every member has it.

Run: ``python bench/swim_sim.py [--quick]``.
"""

from __future__ import annotations

import statistics
import sys
import time

from trio_zeebe.membership import MemberRemoved, MemberSuspect, SwimConfig
from trio_zeebe.testing.swim_sim import SwimSim

LIFEGUARD = SwimConfig()
PLAIN = SwimConfig().without_lifeguard()


def joined(n: int, seed: int, config: SwimConfig, loss: float = 0.0) -> SwimSim:
    sim = SwimSim(n, seed=seed, config=config, loss=loss)
    sim.join_all(contact=0)
    if sim.run_until_converged(limit=120.0) is None:
        raise SystemExit(f"n={n} seed={seed}: cluster did not converge")
    return sim


def detection(n: int, seeds: range) -> tuple[float, float]:
    delays: list[float] = []
    for seed in seeds:
        sim = joined(n, seed, LIFEGUARD)
        victim = n // 2
        start = sim.now
        sim.crash(victim)
        sim.run_for(30.0)
        seen = {
            i: t - start
            for t, i, e in sim.events
            if t >= start and isinstance(e, MemberRemoved) and e.member.node_id == victim
        }
        if len(seen) != n - 1:
            raise SystemExit(f"n={n} seed={seed}: only {len(seen)} of {n - 1} detected the crash")
        delays.extend(seen.values())
    return statistics.mean(delays), max(delays)


def false_suspicions(
    n: int, seed: int, config: SwimConfig, loss: float, slow: float, minutes: float
) -> tuple[float, int]:
    sim = joined(n, seed, config)
    sim.loss = loss
    if slow:
        sim.set_slow(n - 1, slow)
    start = sim.now
    sim.run_for(minutes * 60.0)
    window = [(i, e) for t, i, e in sim.events if t >= start]
    episodes = {
        (e.member.node_id, e.member.incarnation) for _, e in window if isinstance(e, MemberSuspect)
    }
    dead = len({e.member.node_id for _, e in window if isinstance(e, MemberRemoved)})
    return len(episodes) / (n * minutes), dead


def dissemination(n: int, seeds: range) -> tuple[float, float]:
    times: list[float] = []
    for seed in seeds:
        sim = joined(n, seed, LIFEGUARD)
        sim.run_for(15.0)  # let the join news drain so the change is not queued behind it
        origin = 1
        sim.set_properties(origin, {"partition-1": f"LEADER:{seed}"})
        start = sim.now
        while sim.now - start < 60.0:
            sim.run_for(0.05)
            if all(
                node.core.members()[origin].properties.get("partition-1") == f"LEADER:{seed}"
                for node in sim.nodes
            ):
                break
        times.append(sim.now - start)
    return statistics.mean(times), max(times)


def _pair(plain: float, lifeguard: float) -> str:
    return f"plain {plain:.3f} / LG {lifeguard:.3f}"


def main() -> None:
    quick = "--quick" in sys.argv
    minutes = 1.0 if quick else 3.0
    t0 = time.perf_counter()
    print("SWIM + Lifeguard, Zeebe defaults (probe 1s/100ms, 2 helpers, failure timeout 10s,")
    print("gossip 250ms x2, sync 10s); virtual time, latency 0.5-3 ms per message\n")
    header = (
        f"{'n':>4} | {'detect mean':>11} {'max':>6} | {'10% loss: susp/member-min':>25} "
        f"{'dead':>9} | {'slow member: susp/member-min':>28} {'dead':>9} | "
        f"{'update spread mean':>18} {'max':>6} {'rounds':>6}"
    )
    print(header)
    print("-" * len(header))
    for n in (10, 50, 200):
        seeds = range(1, 2 if n >= 200 or quick else 4)
        det_mean, det_max = detection(n, seeds)
        plain_rate, plain_dead = false_suspicions(n, 100, PLAIN, 0.10, 0.0, minutes)
        lg_rate, lg_dead = false_suspicions(n, 100, LIFEGUARD, 0.10, 0.0, minutes)
        slow_plain_rate, slow_plain_dead = false_suspicions(n, 200, PLAIN, 0.0, 1.5, minutes)
        slow_lg_rate, slow_lg_dead = false_suspicions(n, 200, LIFEGUARD, 0.0, 1.5, minutes)
        spread_mean, spread_max = dissemination(n, seeds)
        rounds = spread_mean / LIFEGUARD.gossip_interval
        print(
            f"{n:>4} | {det_mean:>10.2f}s {det_max:>5.2f}s | "
            f"{_pair(plain_rate, lg_rate):>25} {f'{plain_dead} / {lg_dead}':>9} | "
            f"{_pair(slow_plain_rate, slow_lg_rate):>28} "
            f"{f'{slow_plain_dead} / {slow_lg_dead}':>9} | "
            f"{spread_mean:>17.2f}s {spread_max:>5.2f}s {rounds:>6.1f}",
            flush=True,
        )
    print(f"\n(wall time {time.perf_counter() - t0:.1f}s; 'dead' = members wrongly declared dead,")
    print(f" plain / Lifeguard; suspicion windows of {minutes:g} virtual minutes)")


if __name__ == "__main__":
    main()
