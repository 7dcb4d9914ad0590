"""Client tests run every scenario under trio and under asyncio (explicit ``anyio.run``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest

from .fake import FakeGateways


@pytest.fixture(params=["trio", "asyncio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(backend: str) -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    def run(fn: Callable[[], Awaitable[Any]]) -> Any:
        return anyio.run(fn, backend=backend)

    return run


@pytest.fixture
def gateways() -> Iterator[FakeGateways]:
    with FakeGateways(2) as fake:
        yield fake


async def eventually(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``limit`` seconds."""
    with anyio.fail_after(limit):
        while not predicate():  # noqa: ASYNC110 - state lives in another thread
            await anyio.sleep(0.005)
