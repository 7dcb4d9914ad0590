"""Time-driven rules of the SWIM core: probing, suspicion timeouts, awareness, dissemination."""

from __future__ import annotations

import math

import pytest

from tests.membership.test_core_rules import gossip, make, rec, state
from trio_zeebe.membership import MemberRemoved, State, SwimConfig, SwimCore
from trio_zeebe.membership.dissemination import Broadcasts, retransmit_limit
from trio_zeebe.membership.messages import Ack, Gossip, Nack, Ping, PingReq, Update
from trio_zeebe.membership.suspicion import Suspicion, suspicion_bounds


def sends_of(core: SwimCore, kind: type) -> list[tuple[str, object]]:
    return [
        (s.address, s.message) for s in core.take_outputs().sends if isinstance(s.message, kind)
    ]


def with_members(core: SwimCore, *ids: int) -> SwimCore:
    for i in ids:
        core.step(Gossip(rec(i), []), 0.0)
    core.take_outputs()
    return core


# ---------------------------------------------------------------- suspicion timeouts


def test_flat_suspicion_expires_after_failure_timeout() -> None:
    core = with_members(make(config=SwimConfig(dynamic_suspicion=False)), 1, 2, 3)
    gossip(core, rec(1, state=State.SUSPECT), accuser=2, now=5.0)
    core.tick(14.99)
    assert state(core, 1) is State.SUSPECT
    core.tick(15.0)
    assert state(core, 1) is State.DEAD
    out = core.take_outputs()
    assert MemberRemoved(rec(1, state=State.SUSPECT)) in out.events
    assert Update(rec(1, state=State.DEAD), 0) in core.pending_updates()


def test_refutation_cancels_the_timer() -> None:
    core = with_members(make(), 1, 2, 3)
    gossip(core, rec(1, state=State.SUSPECT), accuser=2, now=0.0)
    gossip(core, rec(1, 6), now=3.0)
    core.tick(20.0)
    assert state(core, 1) is State.ALIVE


def test_suspicion_bounds_follow_lifeguard() -> None:
    low, high, k = suspicion_bounds(11, 10.0, 4, 1.0)
    assert (low, high, k) == (pytest.approx(4 * math.log10(11)), 10.0, 2)
    assert suspicion_bounds(3, 10.0, 4, 1.0)[2] == 1  # only one other member can confirm
    assert suspicion_bounds(2, 10.0, 4, 1.0)[2] == 0
    assert suspicion_bounds(10_000, 10.0, 4, 1.0)[0] == 10.0  # never above failure_timeout


def test_suspicion_shrinks_with_independent_confirmations_only() -> None:
    s = Suspicion(start=0.0, accuser=1, min_timeout=4.0, max_timeout=10.0, k=2)
    assert s.deadline == 10.0
    assert not s.confirm(1)  # the first accuser again
    assert not s.confirm(-1)  # unknown accuser (anti-entropy)
    assert s.confirm(2)
    assert s.deadline == pytest.approx(10.0 - 6.0 * math.log(2) / math.log(3))
    assert s.confirm(3)
    assert s.deadline == pytest.approx(4.0)
    assert s.confirm(4)
    assert s.deadline == pytest.approx(4.0)  # never below the minimum


def test_no_confirmations_possible_means_full_failure_timeout() -> None:
    s = Suspicion(start=2.0, accuser=1, min_timeout=4.0, max_timeout=10.0, k=0)
    s.confirm(2)
    assert s.deadline == 12.0


def test_core_counts_confirmations_and_regossips_them() -> None:
    core = with_members(make(), *range(1, 11))  # n = 11
    gossip(core, rec(1, state=State.SUSPECT), accuser=2, now=0.0)
    gossip(core, rec(1, state=State.SUSPECT), accuser=3, now=0.5)
    assert Update(rec(1, state=State.SUSPECT), 3) in core.pending_updates()
    gossip(core, rec(1, state=State.SUSPECT), accuser=4, now=0.5)
    low = 4 * math.log10(11)
    core.tick(low - 0.01)
    assert state(core, 1) is State.SUSPECT
    core.tick(low)
    assert state(core, 1) is State.DEAD


# ---------------------------------------------------------------- probing


def first_probe(core: SwimCore, now: float = 0.0) -> tuple[str, Ping]:
    core.tick(now)
    ((address, ping),) = sends_of(core, Ping)
    assert isinstance(ping, Ping)
    return address, ping


def test_failed_probe_asks_helpers_then_suspects_and_notifies_the_suspect() -> None:
    core = with_members(make(), 1, 2, 3)
    address, ping = first_probe(core)
    target = ping.target_id
    core.tick(0.05)
    assert sends_of(core, PingReq) == []
    core.tick(0.1)
    reqs = sends_of(core, PingReq)
    assert len(reqs) == 2  # suspect_probes - 1 helpers
    assert {a for a, _ in reqs} == {f"n{i}:26502" for i in (1, 2, 3) if i != target}
    assert all(r.target.node_id == target and r.seq == ping.seq for _, r in reqs)  # type: ignore[attr-defined]
    core.tick(1.0)
    assert state(core, target) is State.SUSPECT
    buddy = sends_of(core, Gossip)
    assert (address, Gossip(core.local, [Update(rec(target, state=State.SUSPECT), 0)])) in buddy
    assert core.awareness.score == 2  # two nacks expected, none came


def test_probe_of_a_suspect_carries_its_suspicion_first() -> None:
    core = with_members(make(), 1)
    gossip(core, rec(1, state=State.SUSPECT), accuser=9)
    core.take_outputs()
    _, ping = first_probe(core)
    assert ping.updates[0] == Update(rec(1, state=State.SUSPECT), 0)


def test_buddy_notice_is_off_without_lifeguard() -> None:
    quiet = SwimConfig(gossip_interval=100.0).without_lifeguard()  # no regular gossip
    core = with_members(make(config=quiet), 1)
    first_probe(core)
    core.tick(0.1)
    core.tick(1.0)
    assert state(core, 1) is State.SUSPECT
    assert sends_of(core, Gossip) == []


def test_nacks_keep_awareness_and_direct_acks_lower_it() -> None:
    core = with_members(make(), 1, 2, 3)
    core.awareness.apply(3)
    _, ping = first_probe(core)
    core.tick(0.4)  # probe timeout scaled by (3 + 1)
    assert len(sends_of(core, PingReq)) == 2
    core.step(Nack(ping.seq, rec(2)), 0.5)
    core.step(Nack(ping.seq, rec(3)), 0.5)
    core.tick(4.0)  # probe interval scaled by 4
    assert core.awareness.score == 3
    _, ping = first_probe(core, 4.0)
    core.step(Ack(ping.seq, rec(ping.target_id), []), 4.01)
    assert core.awareness.score == 2


def test_indirect_ack_saves_the_member() -> None:
    core = with_members(make(), 1, 2, 3)
    _, ping = first_probe(core)
    core.tick(0.1)
    core.step(Ack(ping.seq, rec(2), []), 0.3)  # forwarded by a helper
    core.tick(1.0)
    assert all(m.state is State.ALIVE for m in core.members().values())
    assert core.awareness.score == 0


def test_single_member_probe_failure_raises_awareness_by_one() -> None:
    core = with_members(make(), 1)
    first_probe(core)
    core.tick(0.1)
    assert sends_of(core, PingReq) == []
    core.tick(1.0)
    assert core.awareness.score == 1


def test_awareness_is_capped() -> None:
    core = with_members(make(config=SwimConfig(awareness_max_multiplier=3)), 1)
    core.awareness.apply(10)
    assert core.awareness.score == 2
    core.awareness.apply(-10)
    assert core.awareness.score == 0


def test_helper_forwards_ack_or_nacks() -> None:
    helper = with_members(make(5), 0, 1)
    helper.step(PingReq(77, rec(0), rec(1), []), 0.0)
    ((address, ping),) = sends_of(helper, Ping)
    assert address == "n1:26502"
    helper.step(Ack(ping.seq, rec(1), []), 0.01)  # type: ignore[attr-defined]
    assert [(a, m.seq) for a, m in sends_of(helper, Ack)] == [("n0:26502", 77)]  # type: ignore[attr-defined]
    helper.step(PingReq(78, rec(0), rec(1), []), 1.0)
    helper.take_outputs()
    helper.tick(1.1)
    assert [(a, m.seq) for a, m in sends_of(helper, Nack)] == [("n0:26502", 78)]  # type: ignore[attr-defined]


def test_round_robin_probes_every_member_once_per_round() -> None:
    core = with_members(make(), *range(1, 8))
    rounds = []
    for r in range(2):
        targets = []
        for i in range(7):
            now = r * 7 + i
            _, ping = first_probe(core, float(now))
            core.step(Ack(ping.seq, rec(ping.target_id), []), now + 0.01)
            targets.append(ping.target_id)
        assert sorted(targets) == list(range(1, 8))
        rounds.append(targets)
    assert rounds[0] != rounds[1]  # reshuffled


# ---------------------------------------------------------------- dissemination


def test_retransmit_limit_formula() -> None:
    assert retransmit_limit(4, 3) == 4
    assert retransmit_limit(4, 9) == 4
    assert retransmit_limit(4, 10) == 8
    assert retransmit_limit(4, 200) == 12


def test_update_is_piggybacked_exactly_limit_times() -> None:
    core = with_members(make(), 1, 2)  # n = 3 -> limit 4
    gossip(core, rec(7))
    core.take_outputs()
    count = 0
    for i in range(20):
        core.step(Ping(i, rec(1), 0, []), float(i))
        ((_, ack),) = sends_of(core, Ack)
        count += sum(u.member.node_id == 7 for u in ack.updates)  # type: ignore[attr-defined]
    assert count == 4


def test_newest_least_sent_updates_go_first() -> None:
    b = Broadcasts()
    for i in range(5):
        b.add(Update(rec(i)))
    assert [u.member.node_id for u in b.take(2, 10)] == [4, 3]
    assert [u.member.node_id for u in b.take(2, 10)] == [2, 1]
    b.add(Update(rec(3, 6)))  # fresher news about 3 restarts its count
    assert [u.member for u in b.take(2, 10)] == [rec(3, 6), rec(0)]


def test_gossip_tick_sends_pending_updates_to_fanout_members() -> None:
    core = with_members(make(), 1, 2, 3, 4)
    while core.pending_updates():  # drain the join news
        core.tick(core.next_deadline())
        core.take_outputs()
    now = core.next_deadline()
    core.tick(now)
    assert sends_of(core, Gossip) == []  # nothing to say, nothing sent
    gossip(core, rec(9, 6), now=now)
    core.take_outputs()
    core.tick(now + 0.25)
    out = sends_of(core, Gossip)
    assert len(out) == 2 and len({a for a, _ in out}) == 2
