"""Record merge rules of the SWIM core: incarnations, refutation, restarts, joins, sync."""

from __future__ import annotations

import random

import attrs
import pytest

from trio_zeebe import codec
from trio_zeebe.membership import (
    MemberAdded,
    MemberAlive,
    MemberRemoved,
    MemberSuspect,
    PropertiesChanged,
    State,
    SwimConfig,
    SwimCore,
)
from trio_zeebe.membership.messages import (
    Ack,
    Gossip,
    Member,
    Nack,
    Ping,
    PingReq,
    Sync,
    SyncReply,
    Update,
)

ME = 0


def make(
    node_id: int = ME, incarnation: int = 100, config: SwimConfig | None = None, **kw: object
) -> SwimCore:
    return SwimCore(
        node_id=node_id,
        address=f"n{node_id}:26502",
        incarnation=incarnation,
        rng=random.Random(node_id),
        config=config,
        instance_id=1000 + node_id,
        **kw,  # type: ignore[arg-type]
    )


def rec(
    node_id: int, inc: int = 5, state: State = State.ALIVE, instance: int | None = None
) -> Member:
    return Member(
        node_id, f"n{node_id}:26502", inc, state, 1000 + node_id if instance is None else instance
    )


def gossip(core: SwimCore, *records: Member, accuser: int = -1, now: float = 0.0) -> None:
    """Deliver records to ``core`` as gossip from node 9 (who is itself alive)."""
    core.step(Gossip(rec(9), [Update(r, accuser) for r in records]), now)


def state(core: SwimCore, node_id: int) -> State | None:
    m = core.members().get(node_id)
    return None if m is None else m.state


def events(core: SwimCore) -> list[object]:
    return list(core.take_outputs().events)


# ---------------------------------------------------------------- incarnation ordering


def test_unknown_member_is_added_only_when_alive() -> None:
    core = make()
    gossip(core, rec(1, state=State.SUSPECT), rec(2, state=State.DEAD), rec(3))
    assert state(core, 1) is None
    assert state(core, 2) is None
    assert state(core, 3) is State.ALIVE
    assert MemberAdded(rec(3)) in events(core)


@pytest.mark.parametrize(
    ("have", "incoming", "result"),
    [
        ((5, State.ALIVE), (6, State.SUSPECT), (6, State.SUSPECT)),  # higher incarnation wins
        ((5, State.SUSPECT), (6, State.ALIVE), (6, State.ALIVE)),  # ... even if less severe
        ((5, State.ALIVE), (5, State.SUSPECT), (5, State.SUSPECT)),  # same: more severe wins
        ((5, State.SUSPECT), (5, State.ALIVE), (5, State.SUSPECT)),  # same: less severe loses
        ((5, State.SUSPECT), (4, State.ALIVE), (5, State.SUSPECT)),  # older loses
        ((5, State.ALIVE), (4, State.SUSPECT), (5, State.ALIVE)),
        ((5, State.ALIVE), (5, State.DEAD), (5, State.DEAD)),
    ],
)
def test_incarnation_ordering(
    have: tuple[int, State], incoming: tuple[int, State], result: tuple[int, State]
) -> None:
    core = make()
    gossip(core, rec(1, have[0]))
    if have[1] is not State.ALIVE:
        gossip(core, rec(1, have[0], have[1]))
    gossip(core, rec(1, incoming[0], incoming[1]))
    m = core.members()[1]
    assert (m.incarnation, m.state) == result


def test_suspect_and_alive_again_events() -> None:
    core = make()
    gossip(core, rec(1))
    events(core)
    gossip(core, rec(1, state=State.SUSPECT), accuser=2)
    assert events(core) == [MemberSuspect(rec(1, state=State.SUSPECT))]
    gossip(core, rec(1, 6))
    assert events(core) == [MemberAlive(rec(1, 6))]


def test_own_record_is_never_overwritten_and_suspicion_is_refuted() -> None:
    core = make(incarnation=100)
    gossip(core, rec(1))
    core.take_outputs()
    gossip(core, Member(ME, "n0:26502", 100, State.SUSPECT, 1000))
    me = core.local
    assert (me.incarnation, me.state) == (101, State.ALIVE)
    assert core.members()[ME] == me
    # broadcast_disputes: the refutation goes straight to every member...
    sends = core.take_outputs().sends
    assert any(s.address == "n1:26502" and Update(me) in s.message.updates for s in sends)  # type: ignore[union-attr]
    # ...and is queued for piggybacking as well.
    assert Update(me) in core.pending_updates()
    assert core.awareness.score == 1


def test_refutes_dead_and_higher_incarnations_but_not_stale_news() -> None:
    core = make(incarnation=100)
    gossip(core, Member(ME, "n0:26502", 99, State.SUSPECT, 1000))  # stale
    assert core.local.incarnation == 100
    gossip(core, Member(ME, "n0:26502", 100, State.ALIVE, 1000))  # same news
    assert core.local.incarnation == 100
    gossip(core, Member(ME, "n0:26502", 100, State.DEAD, 1000))
    assert core.local.incarnation == 101
    gossip(core, Member(ME, "n0:26502", 150, State.SUSPECT, 1000))
    assert core.local.incarnation == 151
    assert core.local.state is State.ALIVE


def test_no_dispute_broadcast_when_disabled() -> None:
    core = make(config=SwimConfig(broadcast_disputes=False))
    gossip(core, rec(1))
    core.take_outputs()
    gossip(core, Member(ME, "n0:26502", 100, State.SUSPECT, 1000))
    assert core.take_outputs().sends == []
    assert core.local.incarnation == 101


# ---------------------------------------------------------------- restarts and tombstones


def test_restart_with_new_instance_is_removed_then_added() -> None:
    core = make()
    gossip(core, rec(1, 5))
    events(core)
    restarted = rec(1, 9000, instance=777)
    gossip(core, restarted)
    assert events(core) == [MemberRemoved(rec(1, 5)), MemberAdded(restarted)]
    # Gossip still circulating about the old process is ignored.
    gossip(core, rec(1, 6, State.SUSPECT))
    assert core.members()[1] == restarted


def test_dead_member_is_removed_and_tombstone_blocks_stale_gossip() -> None:
    core = make()
    gossip(core, rec(1, 5))
    gossip(core, rec(1, 5, State.DEAD), now=1.0)
    assert MemberRemoved(rec(1, 5)) in events(core)
    assert state(core, 1) is State.DEAD
    assert 1 not in core.members(include_dead=False)
    gossip(core, rec(1, 5), now=2.0)  # stale: same instance, not newer
    assert state(core, 1) is State.DEAD
    gossip(core, rec(1, 6), now=3.0)  # the member refuted its death
    assert state(core, 1) is State.ALIVE


def test_new_instance_replaces_tombstone_and_tombstone_expires() -> None:
    core = make(config=SwimConfig(tombstone_timeout=5.0))
    gossip(core, rec(1, 5), rec(2, 5))
    gossip(core, rec(1, 5, State.DEAD), rec(2, 5, State.DEAD), now=1.0)
    gossip(core, rec(1, 3, instance=42), now=2.0)  # restarted (even with a lower incarnation)
    assert core.members()[1] == rec(1, 3, instance=42)
    core.tick(6.5)
    assert 2 not in core.members()


def test_tombstoned_node_talking_to_us_is_told_it_is_dead() -> None:
    core = make()
    gossip(core, rec(1, 5))
    gossip(core, rec(1, 5, State.DEAD), now=1.0)
    core.take_outputs()
    core.step(Ping(7, rec(1, 5), ME, []), 2.0)
    sends = core.take_outputs().sends
    told = [s for s in sends if isinstance(s.message, Gossip)]
    assert told and told[0].address == "n1:26502"
    assert told[0].message.updates[0].member == rec(1, 5, State.DEAD)  # type: ignore[union-attr]


def test_leave_announces_dead_and_others_remove_it() -> None:
    a, b = make(0), make(1)
    b.step(Gossip(a.local, []), 0.0)
    a.step(Gossip(b.local, []), 0.0)
    a.take_outputs()
    b.take_outputs()
    before = a.local
    a.leave()
    sends = a.take_outputs().sends
    assert [s.address for s in sends] == ["n1:26502"]
    b.step(sends[0].message, 1.0)
    assert events(b) == [MemberRemoved(before)]
    assert state(b, 0) is State.DEAD
    a.tick(5.0)
    assert a.take_outputs().sends == []


# ---------------------------------------------------------------- properties


def test_properties_bump_incarnation_and_spread_as_update() -> None:
    a, b = make(0), make(1)
    b.step(Gossip(a.local, []), 0.0)
    events(b)
    a.set_properties({"partition.1": "LEADER"})
    me = a.local
    assert (me.incarnation, me.properties_version) == (101, 1)
    assert a.pending_updates() == [Update(me)]
    a.set_properties({"partition.1": "LEADER"})  # no change, no bump
    assert a.local.incarnation == 101
    b.step(Gossip(b.local, a.pending_updates()), 1.0)
    assert events(b) == [PropertiesChanged(me)]
    assert b.members()[0].properties == {"partition.1": "LEADER"}


# ---------------------------------------------------------------- join and sync


def test_join_through_one_contact_point() -> None:
    joiner, contact = make(5), make(0)
    contact.step(Gossip(rec(1), []), 0.0)  # the contact already knows node 1
    contact.take_outputs()
    joiner.join(["n0:26502", "n5:26502"])  # own address is skipped
    sends = joiner.take_outputs().sends
    assert [(s.address, type(s.message)) for s in sends] == [("n0:26502", Sync)]
    contact.step(sends[0].message, 0.1)
    out = contact.take_outputs()
    assert MemberAdded(joiner.local) in out.events
    reply = out.sends
    assert [(s.address, type(s.message)) for s in reply] == [("n5:26502", SyncReply)]
    joiner.step(reply[0].message, 0.2)
    assert set(joiner.members()) == {0, 1, 5}


def test_unknown_contact_point_is_probed_by_address_until_it_answers() -> None:
    joiner = make(5)
    joiner.join(["n0:26502"])
    joiner.take_outputs()
    joiner.tick(0.0)
    assert [s.address for s in joiner.take_outputs().sends] == ["n0:26502"]
    joiner.tick(1.0)
    assert [s.address for s in joiner.take_outputs().sends] == ["n0:26502"]
    joiner.step(SyncReply(rec(0), [rec(0)]), 1.1)
    joiner.tick(2.0)
    sent = joiner.take_outputs().sends
    assert [type(s.message) for s in sent if isinstance(s.message, Ping | Sync)] == [Ping]


def test_sync_merges_both_ways() -> None:
    a, b = make(0), make(1)
    b.step(Gossip(rec(3), [Update(rec(4)), Update(rec(2))]), 0.0)
    a.take_outputs()
    b.take_outputs()
    b.step(Gossip(a.local, []), 0.0)
    a.step(Gossip(b.local, []), 0.0)
    a.take_outputs()
    a.tick(10.0)  # sync interval: a syncs with one member round-robin
    syncs = [s for s in a.take_outputs().sends if isinstance(s.message, Sync)]
    assert [s.address for s in syncs] == ["n1:26502"]
    a.set_properties({"role": "leader"})  # b learns it from the full list, not from gossip
    b.step(Sync(a.local, [a.local]), 10.0)
    assert b.members()[0].properties == {"role": "leader"}
    reply = b.take_outputs().sends[0]
    assert isinstance(reply.message, SyncReply)
    a.step(reply.message, 10.1)
    assert set(a.members()) == {0, 1, 2, 3, 4}


# ---------------------------------------------------------------- wire and bad input


def test_every_message_round_trips_through_the_codec() -> None:
    m = attrs.evolve(rec(1), properties={"k": "v"}, properties_version=3)
    msgs = [
        Ping(1, m, 2, [Update(rec(3, 4, State.SUSPECT), 1)]),
        PingReq(2, m, rec(3), []),
        Ack(3, m, [Update(rec(4))]),
        Nack(4, m),
        Gossip(m, [Update(rec(5, 1, State.DEAD))]),
        Sync(m, [m, rec(2)]),
        SyncReply(m, [rec(2)]),
    ]
    for msg in msgs:
        assert codec.decode(codec.encode(msg)) == msg


def test_bad_state_on_the_wire_is_a_decode_error() -> None:
    raw = codec.to_wire(Gossip(rec(1), []))
    raw[1]["source"]["state"] = 7
    with pytest.raises(codec.DecodeError):
        codec.from_wire(raw)


def test_foreign_objects_are_ignored() -> None:
    core = make()
    core.step("hello", 0.0)
    core.step(None, 0.0)
    assert core.take_outputs().sends == []


def test_ping_for_another_node_id_is_not_acked() -> None:
    core = make()
    core.step(Ping(1, rec(1), 42, []), 0.0)
    assert not [s for s in core.take_outputs().sends if isinstance(s.message, Ack)]
    core.step(Ping(2, rec(1), -1, []), 0.0)
    acks = [s for s in core.take_outputs().sends if isinstance(s.message, Ack)]
    assert [(a.address, a.message.seq) for a in acks] == [("n1:26502", 2)]  # type: ignore[union-attr]
