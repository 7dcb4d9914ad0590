"""The Link's decisions without sockets: queueing, back-off, which connection carries traffic."""

from __future__ import annotations

import collections
import random

import attrs
import pytest

from trio_zeebe.transport.links import Link


@attrs.define(eq=False)
class FakeConnection:
    node_id: int
    incarnation: int
    dialled_by_us: bool
    link: Link | None = None
    retiring: bool = False
    closed: bool = False

    def retire(self) -> None:
        self.retiring = True
        assert self.link is not None
        self.link.retired(self)

    def close(self) -> None:
        self.closed = True


def make_link(local: int = 0, **kwargs: object) -> tuple[Link, collections.Counter[str]]:
    stats: collections.Counter[str] = collections.Counter()
    options: dict[str, object] = {
        "queue_frames": 2,
        "backoff_initial": 0.1,
        "backoff_max": 1.0,
        "rng": random.Random(1),
        "stats": stats,
    }
    options.update(kwargs)
    return Link("10.0.0.2:26502", local, **options), stats  # type: ignore[arg-type]


def connection(link: Link, node_id: int, incarnation: int, dialled_by_us: bool) -> FakeConnection:
    return FakeConnection(node_id, incarnation, dialled_by_us, link)


def test_frames_wait_only_for_a_connection_or_a_dial_and_only_while_there_is_room() -> None:
    link, stats = make_link()
    assert not link.offer(b"a") and stats["dropped_unreachable"] == 1
    link.dial_started()
    assert link.offer(b"a") and link.offer(b"b")
    assert not link.offer(b"c") and stats["dropped_queue_full"] == 1
    assert link.take(1 << 20) == (2, b"ab")
    assert link.take(1 << 20) is None


def test_a_batch_is_cut_after_the_byte_limit() -> None:
    link, _ = make_link(queue_frames=10)
    link.dial_started()
    for part in (b"aaa", b"bbb", b"ccc"):
        link.offer(part)
    assert link.take(4) == (2, b"aaabbb")
    assert link.take(4) == (1, b"ccc")


def test_back_off_doubles_up_to_the_cap_with_jitter() -> None:
    link, _ = make_link()
    delays = []
    for _ in range(6):
        assert link.should_dial(link.backoff_until)
        link.dial_started()
        assert not link.should_dial(1e9)  # a dial is under way
        delays.append(link.dial_failed(0.0))
    bounds = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert all(0.75 * b <= d <= b for d, b in zip(delays, bounds, strict=True))
    assert "next dial in" in link.why_unavailable(0.0)
    link.dial_started()
    link.dial_succeeded()
    assert link.failures == 0


@pytest.mark.parametrize("local", [0, 2])
def test_duplicates_resolve_to_the_connection_dialled_by_the_lower_node_id(local: int) -> None:
    # This node is `local`, the peer node 1; both dialled at once (same incarnation).
    link, stats = make_link(local)
    ours = connection(link, 1, 7, dialled_by_us=True)
    theirs = connection(link, 1, 7, dialled_by_us=False)
    assert not link.adopt(ours)
    assert not link.adopt(theirs)
    winner, loser = (ours, theirs) if local < 1 else (theirs, ours)
    assert link.current is winner and loser.retiring and not winner.retiring
    assert stats["duplicate_connections"] == 1
    assert not link.gone(loser)  # the winner still carries the traffic
    assert link.current is winner


def test_a_new_incarnation_replaces_the_old_connections_and_drops_their_traffic() -> None:
    link, stats = make_link()
    old = connection(link, 1, 7, dialled_by_us=True)
    link.adopt(old)
    link.offer(b"for the old process")
    new = connection(link, 1, 8, dialled_by_us=False)
    assert link.adopt(new)
    assert old.closed and link.current is new and link.queued == 0
    assert stats["dropped_unreachable"] == 1
    assert not link.gone(old)


def test_losing_the_last_connection_disconnects_the_link() -> None:
    link, stats = make_link()
    only = connection(link, 1, 7, dialled_by_us=True)
    link.adopt(only)
    link.offer(b"x")
    assert link.gone(only)
    assert link.current is None and link.queued == 0
    assert stats["disconnects"] == 1 and stats["dropped_unreachable"] == 1
    assert link.ever_connected
