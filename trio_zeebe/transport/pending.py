"""A request waiting for its response: shared by the TCP transport and the simulated network."""

from __future__ import annotations

from typing import Any

import attrs
import trio


@attrs.define(eq=False)
class PendingRequest:
    address: str
    done: trio.Event = attrs.field(factory=trio.Event)
    value: Any = None
    error: Exception | None = None

    def resolve(self, value: Any = None, error: Exception | None = None) -> None:
        """First answer wins (a response racing a connection loss is resolved once)."""
        if not self.done.is_set():
            self.value, self.error = value, error
            self.done.set()
