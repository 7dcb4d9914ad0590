"""A certified but hostile peer against the real TCP + mutual-TLS transport and the gateway.

The peer holds the client certificate ``trio_zeebe certs`` issues (signed by the cluster CA, so
it is accepted as a peer). Whatever it sends, before or after the handshake, the listener only
closes that connection (or drops that message) and keeps serving a well-behaved peer. A peer
that never completes its Hello, or stops in the middle of a frame, is closed after a timeout.
"""

from __future__ import annotations

import logging
import os
import random

import pytest
import trio

from tests.transport.conftest import Answer, Ask, Certs, Note, echo_handlers, make, running
from tests.transport.hostile import client_certificate_context, fuzz_transport, raw_peer
from tests.wire_fuzz import SECONDS_ENV, pack
from trio_zeebe.transport import frames

pytestmark = pytest.mark.timeout(30)

BYTES_KEY_HELLO = pack(["t.hello", {b"protocol_version": 1}])
HOSTILE_HELLOS = [
    BYTES_KEY_HELLO,
    pack(["t.hello", {"protocol_version": 1, b"cluster_name": "test"}]),
    pack(["t.hello", {"protocol_version": 2**64 - 1}]),
    pack(["t.hello", [1, 2]]),
    pack(["t.verdict", {"accepted": True}]),  # the wrong message first
    b"\x91" * 3000 + b"\xc0",
    b"\xc7\x01\x05x",  # an extension type
]


async def test_a_hostile_hello_closes_that_connection_and_the_transport_serves_on(
    certs: Certs,
) -> None:
    a, b = make(certs, 0), make(certs, 1)
    echo_handlers(a)
    echo_handlers(b)
    context = client_certificate_context(certs)
    async with running(a, b):
        for i, hello in enumerate(HOSTILE_HELLOS):
            async with raw_peer(b, context) as peer:
                await peer.send_payload(hello)
                with trio.fail_after(2):
                    assert await peer.closed_by_peer()
            assert b.stats()["handshake_failures"] == i + 1
            assert await a.request(b.local.address, Ask(i), timeout=2) == Answer(i, 1)
        assert b.stats()["connections"] == 1  # a's only


async def test_hostile_frames_after_the_handshake_cost_a_message_or_that_connection(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = make(certs, 0), make(certs, 1)
    echo_handlers(a)
    got = echo_handlers(b)
    context = client_certificate_context(certs)
    async with running(a, b):
        async with raw_peer(b, context) as peer:
            await peer.handshake(node_id=3)
            # A sound envelope around a bad message: that message is dropped, counted.
            await peer.send_payload(pack([frames.ONEWAY, 0, ["t.hello", {b"protocol_version": 1}]]))
            bad_member = {"node_id": 4, "address": "[::1", "incarnation": 1}
            await peer.send_payload(
                pack([frames.ONEWAY, 0, ["m.gossip", {"source": bad_member, "updates": []}]])
            )
            # A bad request is answered with an error, so the asker does not wait for a timeout.
            await peer.send_payload(pack([frames.REQUEST, 41, ["t.test.ask", {"n": 2**64 - 1}]]))
            error = frames.decode(await peer._next())
            assert error.kind == frames.ERROR and error.correlation_id == 41
            assert "signed 64-bit" in error.message
            # The connection still works both ways.
            await peer.send_payload(frames.encode(frames.REQUEST, 42, Ask(5))[4:])
            assert frames.decode(await peer._next()) == (frames.RESPONSE, 42, Answer(5, 1))
            await peer.send_payload(frames.encode(frames.ONEWAY, 0, Note(6))[4:])
            assert b.stats()["dropped_undecodable"] == 3
            # A broken envelope: the stream cannot be trusted any more, only it is closed.
            await peer.send_payload(b"\xc1")
            with trio.fail_after(2):
                assert await peer.closed_by_peer()
        assert b.stats()["decode_errors"] == 1
        assert got == [(3, Note(6))]
        assert await a.request(b.local.address, Ask(7), timeout=2) == Answer(7, 1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_peer_that_never_sends_its_hello_is_closed_after_the_handshake_timeout(
    certs: Certs,
) -> None:
    b = make(certs, 1, handshake_timeout=0.3)
    context = client_certificate_context(certs)
    async with running(b):
        for tls in (True, False):  # after the TLS handshake; and one that never starts TLS
            start = trio.current_time()
            async with raw_peer(b, context, tls=tls) as peer:
                with trio.fail_after(3):
                    assert await peer.closed_by_peer()
            assert trio.current_time() - start >= 0.3
        assert b.stats()["handshake_timeouts"] == 2
        assert b.stats()["connections"] == 0


async def test_a_peer_that_stops_in_the_middle_of_a_frame_is_closed(certs: Certs) -> None:
    b = make(certs, 1, partial_frame_timeout=0.4, keepalive=0.05, idle_timeout=30)
    got = echo_handlers(b)
    context = client_certificate_context(certs)
    async with running(b):
        async with raw_peer(b, context) as peer:
            await peer.handshake(node_id=3)
            # Whole frames, however slowly they come, are fine...
            for i in range(6):
                await peer.send_payload(frames.encode(frames.ONEWAY, 0, Note(i))[4:])
                await trio.sleep(0.1)
            assert [n.n for _, n in got] == list(range(6))
            assert b.stats().get("partial_frame_timeouts", 0) == 0
            # ...a frame trickled byte by byte never completing is not.
            frame = frames.encode(frames.ONEWAY, 0, Note(99, "x" * 200))
            start = trio.current_time()
            with trio.fail_after(3):
                for byte in frame[:-1]:
                    try:
                        await peer.stream.send_all(bytes([byte]))
                    except trio.BrokenResourceError:
                        break
                    await trio.sleep(0.05)
                assert await peer.closed_by_peer()
            assert 0.4 <= trio.current_time() - start < 2.5
        assert b.stats()["partial_frame_timeouts"] == 1
        assert "idle_closed" not in b.stats()  # it was the frame timeout, not silence


async def test_a_hello_with_a_malformed_address_is_refused(certs: Certs) -> None:
    b = make(certs, 1)
    context = client_certificate_context(certs)
    async with running(b):
        for address in ["[::1", "host:", ":80", "h" * 5000 + ":1"]:
            async with raw_peer(b, context) as peer:
                with pytest.raises(AssertionError, match="Verdict"):
                    await peer.handshake(node_id=3, address=address)
        assert b.stats()["handshakes_refused"] == 4


async def test_frame_fuzzer_short(certs: Certs) -> None:
    """The bounded CI run of the frame fuzzer (``nox -s fuzz`` runs it for longer)."""
    report = await fuzz_transport(certs, seconds=1.5, seed=20240601)
    print(report.summary())
    assert not report.findings
    assert report.round_trips >= 2
    assert report.connections["after handshake"] >= 3


FUZZ_SECONDS = float(os.environ.get(SECONDS_ENV, "30"))


@pytest.mark.fuzz
@pytest.mark.timeout(FUZZ_SECONDS + 60)
async def test_frame_fuzzer(certs: Certs) -> None:
    seconds = FUZZ_SECONDS
    seed = random.randrange(2**32)
    report = await fuzz_transport(certs, seconds=seconds, seed=seed)
    print(report.summary())
    assert not report.findings, report.summary()
