"""Sans-IO SWIM membership with Lifeguard (local health, dynamic suspicion, buddy notice).

The core is a deterministic state machine.  Inputs: :meth:`SwimCore.tick` (time passes),
:meth:`SwimCore.step` (a message arrived), :meth:`SwimCore.join`, :meth:`SwimCore.set_properties`,
:meth:`SwimCore.leave`.  Outputs accumulate until :meth:`SwimCore.take_outputs`: messages to send,
each addressed to a peer address ``"host:port"``, and membership events.  The driver calls
``tick`` no later than :meth:`SwimCore.next_deadline`.  No I/O, no clock, no global randomness.

Record merge rules (Zeebe's, plus instance ids and tombstones):

* a member's own record is never overwritten by others; hearing itself suspected or dead at an
  incarnation >= its own (or any record of itself with a higher incarnation) makes it refute:
  incarnation := that + 1, disseminated, and with ``broadcast_disputes`` sent to every member;
* unknown member: added only when ALIVE, unless a tombstone of the same instance at an
  incarnation >= the record's says it died (stale gossip);
* another instance id with a higher incarnation: the process restarted -> removed, then re-added;
* same instance: higher incarnation wins; equal incarnation, the more severe state wins;
* DEAD removes the member and leaves a tombstone for ``tombstone_timeout``.  A node that talks to
  us directly while tombstoned is told it is dead, so it refutes and rejoins everywhere.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

import attrs

from trio_zeebe.membership.awareness import Awareness
from trio_zeebe.membership.config import SwimConfig
from trio_zeebe.membership.dissemination import Broadcasts, retransmit_limit
from trio_zeebe.membership.events import (
    Event,
    MemberAdded,
    MemberAlive,
    MemberRemoved,
    MemberSuspect,
    Outputs,
    PropertiesChanged,
    Send,
)
from trio_zeebe.membership.messages import (
    Ack,
    Gossip,
    Member,
    Message,
    Nack,
    Ping,
    PingReq,
    State,
    Sync,
    SyncReply,
    Update,
)
from trio_zeebe.membership.probe import ProbeState, Relay
from trio_zeebe.membership.suspicion import Suspicion, suspicion_bounds

__all__ = ["UNKNOWN_TARGET", "Outputs", "Send", "SwimCore"]

UNKNOWN_TARGET = -1


class SwimCore:
    """One member's view of the cluster, as a state machine (see the module docstring).

    Contract: one caller at a time (the driver), time only as the ``now`` it is given, messages
    and events only through :meth:`take_outputs`; the driver calls :meth:`tick` no later than
    :meth:`next_deadline`. Everything random comes from the injected ``rng``.

    Owns: the member table (others ALIVE or SUSPECT, by id and by address), the tombstones of
    dead members, the running suspicions (:class:`Suspicion`), the piggyback queue
    (:class:`Broadcasts`), the local health score (:class:`Awareness`), the probe in flight
    (:class:`ProbeState`) and the indirect probes it relays for others, and its own record
    (incarnation, properties).
    """

    def __init__(
        self,
        *,
        node_id: int,
        address: str,
        incarnation: int,
        rng: random.Random,
        config: SwimConfig | None = None,
        properties: Mapping[str, str] | None = None,
        instance_id: int | None = None,
        now: float = 0.0,
    ) -> None:
        self.config = cfg = config or SwimConfig()
        self._rng = rng
        if instance_id is None:
            instance_id = rng.getrandbits(63)
        self._self = Member(
            node_id, address, incarnation, State.ALIVE, instance_id, 0, dict(properties or {})
        )
        self._members: dict[int, Member] = {}  # others, ALIVE or SUSPECT
        self._by_address: dict[str, int] = {}
        self._tombstones: dict[int, tuple[Member, float]] = {}
        self._suspicions: dict[int, Suspicion] = {}
        self._broadcasts = Broadcasts()
        self.awareness = Awareness(cfg.awareness_max_multiplier)
        self._sends: list[Send] = []
        self._events: list[Event] = []
        self._contacts: list[str] = []
        self._probe_order: list[int | str] = []
        self._probe_index = 0
        self._sync_order: list[int] = []
        self._sync_index = 0
        self._probe: ProbeState | None = None
        self._relays: dict[int, Relay] = {}
        self._seq = 0
        self._next_probe = now
        self._next_gossip = now + cfg.gossip_interval
        self._next_sync = now + cfg.sync_interval
        self._left = False

    # ------------------------------------------------------------------ views

    @property
    def local(self) -> Member:
        return self._self

    @property
    def has_left(self) -> bool:
        return self._left

    def members(self, *, include_dead: bool = True) -> dict[int, Member]:
        """node_id -> record, self included; recently dead members (tombstones) as DEAD."""
        view = {self._self.node_id: self._self}
        view.update(self._members)
        if include_dead:
            for node_id, (record, _) in self._tombstones.items():
                view.setdefault(node_id, record)
        return dict(sorted(view.items()))

    def live_count(self) -> int:
        return len(self._members) + 1

    def pending_updates(self) -> list[Update]:
        return self._broadcasts.pending()

    def next_deadline(self) -> float:
        """The latest time by which :meth:`tick` must be called."""
        times = [self._next_gossip, self._next_sync]
        probe = self._probe
        if probe is None:
            times.append(self._next_probe)
        else:
            times.append(probe.end if probe.indirect else probe.deadline)
        times.extend(r.deadline for r in self._relays.values())
        times.extend(s.deadline for s in self._suspicions.values())
        times.extend(expiry for _, expiry in self._tombstones.values())
        return min(times)

    def take_outputs(self) -> Outputs:
        out = Outputs(self._sends, self._events)
        self._sends = []
        self._events = []
        return out

    # ------------------------------------------------------------------ inputs

    def join(self, contact_addresses: Iterable[str]) -> None:
        """Contact points, known by address only: synced now and probed until they are members."""
        for address in contact_addresses:
            if address == self._self.address or address in self._contacts:
                continue
            self._contacts.append(address)
            if address not in self._by_address and not self._left:
                self._send(address, Sync(self._self, self._full_list()))
        self._probe_index = len(self._probe_order)  # rebuild the rotation with the contacts

    def set_properties(self, properties: Mapping[str, str]) -> None:
        """Publish new properties; they spread like a state change (incarnation is bumped)."""
        me = self._self
        if self._left or dict(properties) == me.properties:
            return
        self._self = attrs.evolve(
            me,
            incarnation=me.incarnation + 1,
            properties_version=me.properties_version + 1,
            properties=dict(properties),
        )
        self._broadcasts.add(Update(self._self))

    def leave(self) -> None:
        """Announce DEAD to every member and stop; the core ignores all later input."""
        if self._left:
            return
        self._left = True
        me = self._self = attrs.evolve(
            self._self, incarnation=self._self.incarnation + 1, state=State.DEAD
        )
        for member in self._members.values():
            self._send(member.address, Gossip(me, [Update(me, me.node_id)]))
        self._probe = None
        self._relays.clear()

    def tick(self, now: float) -> None:
        if self._left:
            return
        self._check_probe(now)
        if self._probe is None and now >= self._next_probe:
            self._start_probe(now)
        if self._relays:
            for seq in [s for s, r in self._relays.items() if now >= r.deadline]:
                relay = self._relays.pop(seq)
                self._send(relay.requester, Nack(relay.seq, self._self))
        if self._suspicions:
            for node_id in [n for n, s in self._suspicions.items() if now >= s.deadline]:
                member = self._members.get(node_id)
                if member is not None:
                    dead = attrs.evolve(member, state=State.DEAD)
                    self._merge(dead, self._self.node_id, now)
                self._suspicions.pop(node_id, None)
        if now >= self._next_gossip:
            self._next_gossip = now + self.config.gossip_interval
            self._gossip()
        if now >= self._next_sync:
            self._next_sync = now + self.config.sync_interval
            self._sync()
        if self._tombstones:
            for node_id in [n for n, (_, t) in self._tombstones.items() if now >= t]:
                del self._tombstones[node_id]

    def step(self, msg: object, now: float) -> None:
        """Handle one received message; anything that is not a membership message is ignored."""
        if self._left:
            return
        if isinstance(msg, Ping):
            self._merge_source(msg.source, now)
            self._merge_updates(msg.updates, now)
            if msg.target_id in (UNKNOWN_TARGET, self._self.node_id):
                self._send(msg.source.address, Ack(msg.seq, self._self, self._piggyback()))
        elif isinstance(msg, Ack):
            self._merge_source(msg.source, now)
            self._merge_updates(msg.updates, now)
            self._on_ack(msg.seq)
        elif isinstance(msg, Nack):
            self._merge_source(msg.source, now)
            probe = self._probe
            if probe is not None and probe.seq == msg.seq:
                probe.nacks += 1
        elif isinstance(msg, PingReq):
            self._merge_source(msg.source, now)
            self._merge_updates(msg.updates, now)
            self._relay(msg, now)
        elif isinstance(msg, Gossip):
            self._merge_source(msg.source, now)
            self._merge_updates(msg.updates, now)
        elif isinstance(msg, Sync):
            self._merge_source(msg.source, now)
            for member in msg.members:
                self._merge(member, UNKNOWN_TARGET, now)
            self._send(msg.source.address, SyncReply(self._self, self._full_list()))
        elif isinstance(msg, SyncReply):
            self._merge_source(msg.source, now)
            for member in msg.members:
                self._merge(member, UNKNOWN_TARGET, now)

    # ------------------------------------------------------------------ probing

    def _next_target(self) -> int | str | None:
        for _ in range(2):
            while self._probe_index < len(self._probe_order):
                candidate = self._probe_order[self._probe_index]
                self._probe_index += 1
                if isinstance(candidate, str):
                    if candidate not in self._by_address:
                        return candidate
                elif candidate in self._members:
                    return candidate
            # A new round: contact points not yet known, then every member in a fresh shuffle.
            ids: list[int | str] = list(self._members)
            self._rng.shuffle(ids)
            unknown: list[int | str] = [a for a in self._contacts if a not in self._by_address]
            self._probe_order = unknown + ids
            self._probe_index = 0
        return None

    def _start_probe(self, now: float) -> None:
        interval = self.awareness.scale(self.config.probe_interval)
        self._next_probe = now + interval
        target = self._next_target()
        if target is None:
            return
        if isinstance(target, str):
            # A contact point we have no record of: push/pull sync, its reply makes it a member.
            self._send(target, Sync(self._self, self._full_list()))
            return
        member = self._members[target]
        seq = self._next_seq()
        first = None
        if member.state is State.SUSPECT and self.config.notify_suspect:
            # Buddy system: make sure the suspect hears about it from its prober.
            first = Update(member, self._self.node_id)
        self._send(member.address, Ping(seq, self._self, target, self._piggyback(first)))
        timeout = self.awareness.scale(self.config.probe_timeout)
        self._probe = ProbeState(seq, target, now + timeout, now + interval)

    def _check_probe(self, now: float) -> None:
        probe = self._probe
        if probe is None:
            return
        target = self._members.get(probe.target)
        if target is None:  # removed meanwhile (dead, left, restarted)
            self._probe = None
            return
        if not probe.indirect and now >= probe.deadline:
            probe.indirect = True
            helpers = [
                m
                for m in self._members.values()
                if m.node_id != target.node_id and m.state is State.ALIVE
            ]
            count = min(self.config.indirect_probes, len(helpers))
            for helper in self._rng.sample(helpers, count):
                req = PingReq(probe.seq, self._self, target, self._piggyback())
                self._send(helper.address, req)
            probe.expected_nacks = count
        if now >= probe.end:
            self._probe = None
            if probe.expected_nacks:
                self.awareness.apply(probe.expected_nacks - probe.nacks)
            else:
                self.awareness.apply(1)
            # Already suspect: our failed probe still counts as an independent confirmation.
            self._suspect(target, now)

    def _on_ack(self, seq: int) -> None:
        probe = self._probe
        if probe is not None and probe.seq == seq:
            self._probe = None
            if not probe.indirect:
                self.awareness.apply(-1)
            return
        relay = self._relays.pop(seq, None)
        if relay is not None:
            self._send(relay.requester, Ack(relay.seq, self._self, self._piggyback()))

    def _relay(self, req: PingReq, now: float) -> None:
        seq = self._next_seq()
        deadline = now + self.awareness.scale(self.config.probe_timeout)
        self._relays[seq] = Relay(req.source.address, req.seq, deadline)
        ping = Ping(seq, self._self, req.target.node_id, self._piggyback())
        self._send(req.target.address, ping)

    def _suspect(self, member: Member, now: float) -> None:
        me = self._self.node_id
        suspect = attrs.evolve(member, state=State.SUSPECT)
        self._merge(suspect, me, now)
        note = Gossip(self._self, [Update(suspect, me)])
        if self.config.notify_suspect:
            self._send(member.address, note)
        if self.config.broadcast_updates:
            for other in self._members.values():
                if other.node_id != member.node_id:
                    self._send(other.address, note)

    # ------------------------------------------------------------------ dissemination

    def _piggyback(self, first: Update | None = None) -> list[Update]:
        limit = retransmit_limit(self.config.retransmit_mult, self.live_count())
        updates = self._broadcasts.take(self.config.max_piggyback, limit)
        if first is not None:
            node = first.member.node_id
            updates = [first, *(u for u in updates if u.member.node_id != node)]
        return updates

    def _gossip(self) -> None:
        if not self._broadcasts or not self._members:
            return
        targets = list(self._members.values())
        count = min(self.config.gossip_fanout, len(targets))
        for target in self._rng.sample(targets, count):
            updates = self._piggyback()
            if not updates:
                break
            self._send(target.address, Gossip(self._self, updates))

    def _sync(self) -> None:
        for _ in range(2):
            while self._sync_index < len(self._sync_order):
                node_id = self._sync_order[self._sync_index]
                self._sync_index += 1
                member = self._members.get(node_id)
                if member is not None:
                    self._send(member.address, Sync(self._self, self._full_list()))
                    return
            self._sync_order = list(self._members)
            self._rng.shuffle(self._sync_order)
            self._sync_index = 0

    def _full_list(self) -> list[Member]:
        return [self._self, *self._members.values()]

    # ------------------------------------------------------------------ merging

    def _merge_updates(self, updates: list[Update], now: float) -> None:
        for update in updates:
            self._merge(update.member, update.accuser, now)

    def _merge_source(self, source: Member, now: float) -> None:
        if self._merge(source, UNKNOWN_TARGET, now) or source.node_id == self._self.node_id:
            return
        tomb = self._tombstones.get(source.node_id)
        if tomb is not None and source.node_id not in self._members:
            # It talks to us, yet we buried it: tell it, so it refutes with a higher incarnation.
            self._send(source.address, Gossip(self._self, [Update(tomb[0])]))

    def _merge(self, record: Member, accuser: int, now: float) -> bool:
        """Apply one record; True if it changed our view."""
        node_id = record.node_id
        if node_id == self._self.node_id:
            self._merge_self(record)
            return False
        current = self._members.get(node_id)
        if current is None:
            if record.state is not State.ALIVE:
                return False
            tomb = self._tombstones.get(node_id)
            if tomb is not None:
                dead = tomb[0]
                same = dead.instance_id == record.instance_id
                if same and record.incarnation <= dead.incarnation:
                    return False
                del self._tombstones[node_id]
            self._add(record)
            return True
        if record.instance_id != current.instance_id:
            if record.incarnation <= current.incarnation:
                return False  # gossip about an older process of this member
            self._remove(current, now)
            if record.state is State.ALIVE:
                self._add(record)
            elif record.state is State.DEAD:
                self._tombstones[node_id] = (record, now + self.config.tombstone_timeout)
            return True
        if record.incarnation < current.incarnation:
            return False
        if record.incarnation == current.incarnation and record.state <= current.state:
            if record.state is State.SUSPECT and current.state is State.SUSPECT:
                timer = self._suspicions.get(node_id)
                if timer is not None and timer.confirm(accuser):
                    self._broadcasts.add(Update(current, accuser))
            return False
        self._transition(current, record, accuser, now)
        return True

    def _merge_self(self, record: Member) -> None:
        me = self._self
        if self._left:
            return
        if record.incarnation > me.incarnation or (
            record.incarnation == me.incarnation
            and (record.state is not State.ALIVE or record.instance_id != me.instance_id)
        ):
            if record.state is not State.ALIVE:
                self.awareness.apply(1)
            self._self = me = attrs.evolve(me, incarnation=record.incarnation + 1)
            self._broadcasts.add(Update(me))
            if self.config.broadcast_disputes:
                note = Gossip(me, [Update(me)])
                for member in self._members.values():
                    self._send(member.address, note)

    def _add(self, record: Member) -> None:
        self._members[record.node_id] = record
        self._by_address[record.address] = record.node_id
        self._events.append(MemberAdded(record))
        self._broadcasts.add(Update(record))

    def _remove(self, current: Member, now: float) -> None:
        node_id = current.node_id
        del self._members[node_id]
        if self._by_address.get(current.address) == node_id:
            del self._by_address[current.address]
        self._suspicions.pop(node_id, None)
        self._events.append(MemberRemoved(current))

    def _transition(self, current: Member, record: Member, accuser: int, now: float) -> None:
        node_id = record.node_id
        if record.state is State.DEAD:
            self._remove(current, now)
            self._tombstones[node_id] = (record, now + self.config.tombstone_timeout)
            self._broadcasts.add(Update(record, accuser))
            return
        self._members[node_id] = record
        if record.address != current.address:
            self._by_address.pop(current.address, None)
            self._by_address[record.address] = node_id
        if record.state is State.SUSPECT:
            if current.state is not State.SUSPECT:
                self._start_suspicion(node_id, accuser, now)
                self._events.append(MemberSuspect(record))
            else:
                # Suspected again after a refutation we missed: a new suspicion, a new timer.
                self._start_suspicion(node_id, accuser, now)
        elif current.state is State.SUSPECT:
            self._suspicions.pop(node_id, None)
            self._events.append(MemberAlive(record))
        if record.properties_version != current.properties_version or (
            record.properties != current.properties
        ):
            self._events.append(PropertiesChanged(record))
        self._broadcasts.add(Update(record, accuser))

    def _start_suspicion(self, node_id: int, accuser: int, now: float) -> None:
        cfg = self.config
        if cfg.dynamic_suspicion:
            low, high, k = suspicion_bounds(
                self.live_count(), cfg.failure_timeout, cfg.suspicion_mult, cfg.probe_interval
            )
        else:
            low = high = cfg.failure_timeout
            k = 0
        self._suspicions[node_id] = Suspicion(now, accuser, low, high, k)

    # ------------------------------------------------------------------ plumbing

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _send(self, address: str, message: Message) -> None:
        self._sends.append(Send(address, message))
