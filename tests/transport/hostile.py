"""A hostile but certified peer for real-socket tests, and a time-bound frame fuzzer.

:class:`RawPeer` speaks the transport's framing by hand over TCP + TLS with the client
certificate that ``trio_zeebe certs`` issues (the cluster CA signs it, so a listener accepts it
as a peer): it can send anything, before or after a proper handshake.

:func:`fuzz_transport` throws random and mutated frames at a real :class:`TcpTransport` for a
given time from many such connections, checks after every few connections that a well-behaved
peer still gets its answers, and returns a :class:`FuzzReport` of what it tried and found.
"""

from __future__ import annotations

import collections
import random
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from tests.transport.conftest import Answer, Ask, Certs, Note, echo_handlers, make, running
from tests.wire_fuzz import (
    load_registry,
    random_hostile_value,
    random_instance,
    random_mutation,
    swap_field,
)
from trio_zeebe import codec
from trio_zeebe.codec import DecodeError
from trio_zeebe.transport import frames
from trio_zeebe.transport.handshake import PROTOCOL_VERSION, Hello, Verdict
from trio_zeebe.transport.tcp import TcpTransport
from trio_zeebe.transport.tls import client_context
from trio_zeebe.transport.tls_stream import TLSStream

CLOSED = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


def client_certificate_context(certs: Certs) -> ssl.SSLContext:
    d = certs.directory
    return client_context(d / "ca.pem", d / "client.pem", d / "client.key")


class RawPeer:
    """One connection to a transport, frames written and read by hand."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.decoder = frames.FrameDecoder(1 << 30)
        self.backlog: list[bytes] = []

    async def send_payload(self, payload: bytes) -> None:
        await self.stream.send_all(len(payload).to_bytes(4, "big") + payload)

    async def send_message(self, message: Any) -> None:
        await self.send_payload(codec.encode(message))

    async def receive_payload(self) -> bytes | None:
        """The next frame's payload, or None once the other side closed."""
        while not self.backlog:
            try:
                data = await self.stream.receive_some(65536)
            except CLOSED:
                return None
            if not data:
                return None
            self.decoder.feed(data)
            self.backlog.extend(self.decoder.frames())
        return self.backlog.pop(0)

    async def closed_by_peer(self) -> bool:
        """Read (and discard) until the other side closes; True when it did."""
        while await self.receive_payload() is not None:
            pass
        return True

    async def handshake(self, node_id: int = 3, address: str = "127.0.0.1:1") -> Hello:
        """A proper handshake as ``node_id``; their Hello."""
        theirs = codec.decode(await self._next())
        await self.send_message(
            Hello(PROTOCOL_VERSION, theirs.cluster_name, node_id, address, random.getrandbits(60))
        )
        verdict = codec.decode(await self._next())
        assert verdict == Verdict(True), verdict
        await self.send_message(Verdict(True))
        assert isinstance(theirs, Hello)
        return theirs

    async def _next(self) -> bytes:
        payload = await self.receive_payload()
        assert payload is not None, "the transport closed the connection"
        return payload


@asynccontextmanager
async def raw_peer(
    transport: TcpTransport, context: ssl.SSLContext | None, *, tls: bool = True
) -> AsyncIterator[RawPeer]:
    assert transport.port is not None
    sock = await trio.open_tcp_stream("127.0.0.1", transport.port)
    stream: trio.abc.Stream = sock
    try:
        if tls and context is not None:
            stream = TLSStream(sock, context, server_hostname="127.0.0.1")
            await stream.do_handshake()
        yield RawPeer(stream)
    finally:
        await trio.aclose_forcefully(sock)


# ---- the frame fuzzer ------------------------------------------------------------------------


@attrs.define
class FuzzReport:
    seed: int
    seconds: float
    connections: collections.Counter[str] = attrs.field(factory=collections.Counter)
    frames: collections.Counter[str] = attrs.field(factory=collections.Counter)
    outcomes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    round_trips: int = 0
    target_stats: dict[str, int] = attrs.field(factory=dict)
    findings: list[str] = attrs.field(factory=list)

    def summary(self) -> str:
        def line(title: str, counts: collections.Counter[str]) -> str:
            return f"  {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))

        interesting = {
            k: v
            for k, v in sorted(self.target_stats.items())
            if k.startswith(("dropped", "decode", "handshake", "oversized", "partial", "tls"))
            or k in ("connections_accepted", "handler_errors", "frames_in")
        }
        found = self.findings or ["nothing: every input decoded or raised DecodeError"]
        return "\n".join(
            [
                f"frame fuzzer: seed {self.seed}, {self.seconds:.1f}s",
                line("connections", self.connections),
                line("frames sent", self.frames),
                line("in-process decode", self.outcomes),
                f"  well-behaved round trips answered: {self.round_trips}",
                "  target transport: " + ", ".join(f"{k} {v}" for k, v in interesting.items()),
                "  found: " + "; ".join(found),
            ]
        )


class _Generator:
    """Frames of every kind: valid, mutated valid, type-swapped, random, oversized."""

    def __init__(self, rng: random.Random, max_frame: int) -> None:
        self.rng = rng
        self.max_frame = max_frame
        registry = load_registry()
        self.classes = [registry[t] for t in sorted(registry)]

    def message(self) -> Any:
        return random_instance(self.rng.choice(self.classes), self.rng)

    def envelope(self, body: Any) -> list[Any]:
        rng = self.rng
        return [rng.choice([0, 0, 1, 1, 2, 3, 4, 5, -1, 9]), rng.randint(0, 2**64 - 1), body]

    def payload(self) -> tuple[str, bytes]:
        rng = self.rng
        kind = rng.choice(["valid", "mutated", "swapped", "hostile", "random", "oversized"])
        if kind == "valid":
            return kind, codec.packb([rng.choice([0, 1]), rng.randint(0, 99), self.wire()])
        if kind == "mutated":
            good = codec.packb(self.envelope(self.wire()))
            other = codec.packb(self.envelope(self.wire()))
            how, data = random_mutation(good, other, rng)
            return f"mutated-{how}", data
        if kind == "swapped":
            wire = swap_field(self.wire(), rng.randrange(10_000), random_hostile_value(rng))
            return kind, codec.packb(self.envelope(wire))
        if kind == "hostile":
            body = rng.choice([random_hostile_value(rng), [self.tag(), random_hostile_value(rng)]])
            return kind, codec.packb(self.envelope(body))
        if kind == "random":
            return kind, rng.randbytes(rng.randint(0, 64))
        return kind, b""  # stands for a header announcing more than the maximum

    def wire(self) -> list[Any]:
        return codec.to_wire(self.message())

    def tag(self) -> str:
        return codec.tag_of(self.rng.choice(self.classes))

    def hello(self, port: int) -> tuple[str, bytes]:
        """A Hello that is damaged one way or another."""
        rng = self.rng
        good = codec.to_wire(
            Hello(PROTOCOL_VERSION, "test", rng.randint(2, 9), f"127.0.0.1:{port}", 1)
        )
        kind = rng.choice(["bytes-key", "swapped", "mutated", "hostile"])
        if kind == "bytes-key":
            return kind, codec.packb(["t.hello", {b"protocol_version": 1}])
        if kind == "swapped":
            return kind, codec.packb(
                swap_field(good, rng.randrange(10_000), random_hostile_value(rng))
            )
        if kind == "mutated":
            how, data = random_mutation(codec.packb(good), codec.encode(self.message()), rng)
            return f"mutated-{how}", data
        return kind, codec.packb(random_hostile_value(rng))


def _decode_in_process(payload: bytes, report: FuzzReport, kind: str) -> None:
    try:
        frames.decode(payload)
    except frames.BadMessage:
        report.outcomes["bad message"] += 1
    except DecodeError:
        report.outcomes["bad envelope"] += 1
    except Exception as exc:  # the finding this fuzzer exists for
        report.findings.append(f"{kind}: {type(exc).__name__}: {exc} on {payload[:120].hex()}")
    else:
        report.outcomes["decoded"] += 1


async def _send_some(peer: RawPeer, gen: _Generator, report: FuzzReport, before: bool) -> None:
    if before:
        kind, payload = gen.hello(gen.rng.randint(1, 65535))
        report.frames[f"hello {kind}"] += 1
        await peer.send_payload(payload)
        return
    for _ in range(gen.rng.randint(1, 12)):
        kind, payload = gen.payload()
        report.frames[kind] += 1
        if kind == "oversized":
            await peer.stream.send_all((gen.max_frame + 1).to_bytes(4, "big"))
            return
        _decode_in_process(payload, report, kind)
        await peer.send_payload(payload)


async def fuzz_transport(certs: Certs, seconds: float, seed: int) -> FuzzReport:
    rng = random.Random(seed)
    report = FuzzReport(seed, seconds)
    gen = _Generator(rng, 1 << 16)
    target = make(
        certs,
        1,
        max_frame_bytes=gen.max_frame,
        handshake_timeout=0.5,
        partial_frame_timeout=0.5,
        keepalive=0.1,
        rng=random.Random(seed),
    )
    good = make(certs, 0)
    echo_handlers(target)
    echo_handlers(good)
    context = client_certificate_context(certs)
    async with running(target, good):
        deadline = trio.current_time() + seconds
        n = 0
        while trio.current_time() < deadline:
            n += 1
            before = rng.random() < 0.3
            report.connections["before handshake" if before else "after handshake"] += 1
            async with raw_peer(target, context) as peer:
                if not before:
                    with trio.fail_after(2):
                        await peer.handshake(rng.randint(2, 9), f"127.0.0.1:{rng.randint(1, 999)}")
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(peer.closed_by_peer)  # drain answers; notice the close
                    with trio.move_on_after(1.0):
                        try:
                            await _send_some(peer, gen, report, before)
                        except CLOSED:
                            report.connections["closed by the target while sending"] += 1
                        await trio.sleep(0.005)  # let the target read before we hang up
                    nursery.cancel_scope.cancel()
            if n % 5 == 0:
                note = rng.randint(0, 10**6)
                good.send(target.local.address, Note(note))
                with trio.fail_after(5):
                    answer = await good.request(target.local.address, Ask(note), timeout=5)
                assert answer == Answer(note, 1), answer
                report.round_trips += 1
        with trio.fail_after(5):
            assert await good.request(target.local.address, Ask(-1), timeout=5) == Answer(-1, 1)
        report.round_trips += 1
        report.target_stats = target.stats()
    return report
