"""A request waiting for its response: shared by the TCP transport and the simulated network."""

from __future__ import annotations

import collections
from typing import Any

import attrs
import trio

from .api import RequestTimeout


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

    async def outcome(self, timeout: float, stats: collections.Counter[str]) -> Any:  # noqa: ASYNC109
        """The response's value once it comes, or the error it was resolved with raised;
        :class:`RequestTimeout` (counted as ``requests_timed_out``) after ``timeout``."""
        with trio.move_on_after(timeout):
            await self.done.wait()
        if not self.done.is_set():
            stats["requests_timed_out"] += 1
            raise RequestTimeout(f"no response from {self.address} within {timeout:g}s")
        if self.error is not None:
            raise self.error
        return self.value
