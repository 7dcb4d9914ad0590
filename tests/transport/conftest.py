"""Fixtures for transport tests: trustme certificates and a helper to run transports."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trustme

from trio_zeebe import codec
from trio_zeebe.transport.api import Peer
from trio_zeebe.transport.config import TransportConfig
from trio_zeebe.transport.tcp import TcpTransport
from trio_zeebe.transport.tls import client_context, server_context, write_dev_certs


@codec.wire("t.test.note")
@attrs.frozen
class Note:
    n: int
    text: str = ""


@codec.wire("t.test.ask")
@attrs.frozen
class Ask:
    n: int
    delay: float = 0.0
    fail: bool = False


@codec.wire("t.test.answer")
@attrs.frozen
class Answer:
    n: int
    by: int


@codec.wire("t.test.blob")
@attrs.frozen
class Blob:
    data: bytes


@attrs.frozen
class Certs:
    directory: Path
    nodes: int

    def contexts(self, i: int) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        ca = self.directory / "ca.pem"
        cert, key = self.directory / f"node-{i}.pem", self.directory / f"node-{i}.key"
        return server_context(ca, cert, key), client_context(ca, cert, key)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    directory = tmp_path_factory.mktemp("certs")
    write_dev_certs(directory, 4, [])
    return Certs(directory, 4)


@pytest.fixture(scope="session")
def rogue_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ...]:
    """Contexts of a node whose certificate is signed by another CA (but trusts ours)."""
    directory = tmp_path_factory.mktemp("rogue")
    write_dev_certs(directory / "own", 1, [])
    write_dev_certs(directory / "other", 1, [])
    trusted = directory / "own" / "ca.pem"
    cert, key = directory / "other" / "node-0.pem", directory / "other" / "node-0.key"
    return server_context(trusted, cert, key), client_context(trusted, cert, key)


def make(
    certs: Certs | None,
    node_id: int,
    *,
    port: int = 0,
    cluster: str = "test",
    contexts: tuple[ssl.SSLContext, ...] | None = None,
    **kwargs: Any,
) -> TcpTransport:
    if contexts is None and certs is not None:
        contexts = certs.contexts(node_id)
    server, client = contexts if contexts else (None, None)
    knobs = {f.name for f in attrs.fields(TransportConfig)}
    config = TransportConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in knobs})
    peer = Peer(node_id, f"127.0.0.1:{port}")
    return TcpTransport(peer, cluster, server, client, config=config, **kwargs)


Collector = Callable[[Peer, Any], Any]


@asynccontextmanager
async def running(*transports: TcpTransport) -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        for t in transports:
            await nursery.start(t.run)
        yield nursery
        nursery.cancel_scope.cancel()


def echo_handlers(t: TcpTransport) -> list[tuple[int, Any]]:
    """Register Note (collected) and Ask (answered) handlers; returns the collected notes."""
    got: list[tuple[int, Any]] = []

    async def on_note(peer: Peer, msg: Note) -> None:
        got.append((peer.node_id, msg))

    async def on_ask(peer: Peer, msg: Ask) -> Answer:
        if msg.delay:
            await trio.sleep(msg.delay)
        if msg.fail:
            raise RuntimeError(f"ask {msg.n} failed on purpose")
        return Answer(msg.n, t.local.node_id)

    t.on(Note, on_note)
    t.on(Ask, on_ask)
    return got


__all__ = ["Answer", "Ask", "Blob", "Certs", "Note", "echo_handlers", "make", "running", "trustme"]
