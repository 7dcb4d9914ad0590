"""The queue of updates to piggyback: each is sent at most ``limit`` times, least-sent first.

One entry per member id: a newer record about a member replaces the queued one (and starts its
retransmit count again), so stale news is never gossiped after fresher news.
"""

from __future__ import annotations

import math

from trio_zeebe.membership.messages import Update


def retransmit_limit(mult: int, n: int) -> int:
    """``mult * ceil(log10(n + 1))``: enough rounds for epidemic spread to reach n members."""
    return mult * max(1, math.ceil(math.log10(n + 1)))


class _Item:
    __slots__ = ("order", "sent", "update")

    def __init__(self, update: Update, order: int) -> None:
        self.update = update
        self.sent = 0
        self.order = order


class Broadcasts:
    def __init__(self) -> None:
        self._items: dict[int, _Item] = {}
        self._order = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, update: Update) -> None:
        self._order += 1
        self._items[update.member.node_id] = _Item(update, self._order)

    def pending(self) -> list[Update]:
        return [item.update for item in self._items.values()]

    def take(self, count: int, limit: int) -> list[Update]:
        """Up to ``count`` updates, fewest transmissions then newest first; counts the send."""
        items = self._items
        if not items or count <= 0:
            return []
        if len(items) <= count:
            chosen = list(items.values())
        else:
            chosen = sorted(items.values(), key=lambda i: (i.sent, -i.order))[:count]
        out: list[Update] = []
        for item in chosen:
            out.append(item.update)
            item.sent += 1
            if item.sent >= limit:
                del items[item.update.member.node_id]
        return out
