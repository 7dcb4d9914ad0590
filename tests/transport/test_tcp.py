"""TcpTransport over real loopback sockets with mutual TLS (trustme certificates)."""

from __future__ import annotations

import logging
import ssl
from functools import partial

import pytest
import trio

from tests.transport.conftest import (
    Answer,
    Ask,
    Blob,
    Certs,
    Note,
    echo_handlers,
    make,
    running,
)
from trio_zeebe.transport.api import Peer, PeerUnavailable, RemoteError, RequestTimeout
from trio_zeebe.transport.tcp import TcpTransport

pytestmark = pytest.mark.timeout(10)


async def wait_for(predicate: object, limit: float = 2.0) -> None:
    """Poll a condition about real sockets (delivery happens in other tasks) for `limit` s."""
    assert callable(predicate)
    with trio.fail_after(limit):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.005)


async def test_round_trips_both_directions_over_one_connection(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "trio_zeebe.transport")
    a, b = make(certs, 0), make(certs, 1)
    got_a, got_b = echo_handlers(a), echo_handlers(b)
    async with running(a, b):
        for i in range(5):
            a.send(b.local.address, Note(i))
        assert await a.request(b.local.address, Ask(7), timeout=1) == Answer(7, 1)
        assert await b.request(a.local.address, Ask(8), timeout=1) == Answer(8, 0)
        b.send(a.local.address, Note(99))
        await wait_for(lambda: len(got_a) == 1 and len(got_b) == 5)
        assert got_b == [(0, Note(i)) for i in range(5)]  # in order, sender identified
        assert got_a == [(1, Note(99))]
        assert a.stats()["connections"] == 1 and b.stats()["connections"] == 1
        assert (
            a.stats()["connections_dialled"] == 1 and b.stats().get("connections_dialled", 0) == 0
        )
    assert "connected to node 1 at 127.0.0.1:" in caplog.text
    assert "(mutual TLS, dialled)" in caplog.text


async def test_request_timeout_and_slow_request_does_not_block_connection(certs: Certs) -> None:
    a, b = make(certs, 0), make(certs, 1)
    echo_handlers(a)
    got_b = echo_handlers(b)
    async with running(a, b):
        with pytest.raises(RequestTimeout):
            await a.request(b.local.address, Ask(1, delay=0.5), timeout=0.1)
        async with trio.open_nursery() as n:
            n.start_soon(partial(a.request, b.local.address, Ask(2, delay=0.3), timeout=1.0))
            await trio.sleep(0.01)
            # the slow request runs in its own task: a fast one and one-ways still get through
            with trio.fail_after(0.2):
                assert await a.request(b.local.address, Ask(3), timeout=1) == Answer(3, 1)
                a.send(b.local.address, Note(4))
                await wait_for(lambda: len(got_b) == 1)
        assert a.stats()["requests_timed_out"] == 1


async def test_handler_exception_becomes_remote_error(certs: Certs) -> None:
    a, b = make(certs, 0), make(certs, 1)
    echo_handlers(a)
    echo_handlers(b)
    async with running(a, b):
        with pytest.raises(RemoteError, match="ask 5 failed on purpose"):
            await a.request(b.local.address, Ask(5, fail=True), timeout=1)
        with pytest.raises(RemoteError, match="unknown message type"):
            await a.request(b.local.address, Blob(b"x"), timeout=1)
        # the connection survives both
        assert await a.request(b.local.address, Ask(6), timeout=1) == Answer(6, 1)
        assert a.stats()["connections"] == 1
        assert b.stats()["handler_errors"] == 1


async def test_loopback_to_self(certs: Certs) -> None:
    a = make(certs, 0)
    got = echo_handlers(a)
    async with running(a):
        a.send(a.local.address, Note(1))
        assert await a.request(a.local.address, Ask(2), timeout=1) == Answer(2, 0)
        with pytest.raises(RemoteError):
            await a.request(a.local.address, Ask(3, fail=True), timeout=1)
        await wait_for(lambda: got == [(0, Note(1))])
        assert a.stats()["connections"] == 0


async def test_unreachable_peer_backoff_then_redial_after_restart(certs: Certs) -> None:
    a = make(certs, 0, backoff_initial=0.05, backoff_max=0.2)
    b = make(certs, 1)
    echo_handlers(a)
    async with running(a) as nursery:
        # learn a free port for b, then stop it
        async with running(b):
            address = b.local.address
        with pytest.raises(PeerUnavailable):
            await a.request(address, Ask(1), timeout=1)
        # backing off: fails fast, sends are dropped
        with trio.fail_after(0.02):
            with pytest.raises(PeerUnavailable, match="next dial"):
                await a.request(address, Ask(1), timeout=1)
        a.send(address, Note(1))
        assert a.stats()["dropped_unreachable"] >= 1
        # the peer comes back on the same port
        b2 = make(certs, 1, port=int(address.rsplit(":", 1)[1]))
        echo_handlers(b2)
        await nursery.start(b2.run)
        await trio.sleep(0.25)  # past the (capped) backoff
        assert await a.request(address, Ask(2), timeout=1) == Answer(2, 1)
        assert a.stats()["dial_failures"] >= 1


async def test_connection_loss_fails_pending_requests(certs: Certs) -> None:
    a, b = make(certs, 0), make(certs, 1)
    echo_handlers(a)
    echo_handlers(b)
    async with running(a) as outer:
        async with trio.open_nursery() as bn:
            await bn.start(b.run)
            assert await a.request(b.local.address, Ask(1), timeout=1) == Answer(1, 1)

            async def stop_b() -> None:
                await trio.sleep(0.05)
                bn.cancel_scope.cancel()

            bn.start_soon(stop_b)
            with trio.fail_after(0.5), pytest.raises(PeerUnavailable):
                await a.request(b.local.address, Ask(2, delay=5), timeout=3)
        outer.cancel_scope.cancel()


@pytest.mark.parametrize("rogue_dials", [True, False])
async def test_peer_without_cluster_certificate_is_refused(
    certs: Certs,
    rogue_contexts: tuple[ssl.SSLContext, ...],
    rogue_dials: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = make(certs, 0)
    rogue = make(None, 1, contexts=rogue_contexts)
    got_good, got_rogue = echo_handlers(good), echo_handlers(rogue)
    async with running(good, rogue):
        src, dst = (rogue, good) if rogue_dials else (good, rogue)
        with pytest.raises(PeerUnavailable):
            await src.request(dst.local.address, Ask(1), timeout=1)
        src.send(dst.local.address, Note(1))
        await trio.sleep(0.1)
        assert got_good == [] and got_rogue == []
        assert good.stats()["connections"] == 0
        # the good node noticed a TLS failure (as listener or as dialler)
        await wait_for(lambda: good.stats().get("tls_failures", 0) >= 1)
    assert "certificate" in caplog.text.lower() or "handshake" in caplog.text.lower()


async def test_plain_tcp_peer_cannot_talk_to_tls_node(certs: Certs) -> None:
    good = make(certs, 0)
    plain = make(None, 1)
    echo_handlers(good)
    async with running(good, plain):
        with pytest.raises(PeerUnavailable):
            await plain.request(good.local.address, Ask(1), timeout=1)
        assert good.stats()["connections"] == 0


async def test_other_cluster_name_is_refused_and_logged_on_both_sides(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    a = make(certs, 0, cluster="blue")
    b = make(certs, 1, cluster="green")
    echo_handlers(b)
    async with running(a, b):
        with pytest.raises(PeerUnavailable, match="cluster name"):
            await a.request(b.local.address, Ask(1), timeout=1)
        assert a.stats()["handshakes_refused"] == 1
        await wait_for(lambda: b.stats().get("handshakes_refused", 0) == 1)
    lines = [r.getMessage() for r in caplog.records if r.name == "trio_zeebe.transport"]
    assert f"refused by {b.local.address}: cluster name 'blue' != 'green'" in lines
    assert any(
        line.startswith("refusing connection from 127.0.0.1:")
        and "cluster name 'blue' != 'green'" in line
        for line in lines
    )


async def test_oversized_frame_closes_that_connection_only(certs: Certs) -> None:
    small = make(certs, 0, max_frame_bytes=1000)
    big = make(certs, 1)
    other = make(certs, 2)
    got = echo_handlers(small)
    echo_handlers(big)
    echo_handlers(other)
    async with running(small, big, other):
        assert await big.request(small.local.address, Ask(1), timeout=1) == Answer(1, 0)
        big.send(small.local.address, Blob(b"x" * 5000))
        await wait_for(lambda: small.stats().get("oversized_frames", 0) == 1)
        await wait_for(lambda: big.stats()["connections"] == 0)
        # small keeps serving others, and big can reconnect
        assert await other.request(small.local.address, Ask(2), timeout=1) == Answer(2, 0)
        assert await big.request(small.local.address, Ask(3), timeout=1) == Answer(3, 0)
        other.send(small.local.address, Note(4))
        await wait_for(lambda: got == [(2, Note(4))])


async def test_garbage_after_handshake_is_a_decode_error_not_a_crash(certs: Certs) -> None:
    # a peer speaking the handshake and then garbage: only its connection is closed
    a, b = make(certs, 0), make(certs, 1)
    echo_handlers(a)
    echo_handlers(b)
    async with running(a, b):
        assert await a.request(b.local.address, Ask(1), timeout=1) == Answer(1, 1)
        link = a._links[b.local.address]
        assert link.current is not None
        await link.current.stream.send_all(b"\x00\x00\x00\x03\xc1\xc1\xc1")
        await wait_for(lambda: b.stats().get("decode_errors", 0) == 1)
        await wait_for(lambda: a.stats()["connections"] == 0)
        assert await a.request(b.local.address, Ask(2), timeout=1) == Answer(2, 1)


async def test_simultaneous_dial_keeps_one_connection_and_loses_nothing(certs: Certs) -> None:
    for _ in range(3):
        await _simultaneous_dial_round(certs)


async def _simultaneous_dial_round(certs: Certs) -> None:
    if True:
        a, b = make(certs, 0), make(certs, 1)
        got_a, got_b = echo_handlers(a), echo_handlers(b)
        async with running(a, b):
            for i in range(50):
                a.send(b.local.address, Note(i))
                b.send(a.local.address, Note(i))
            answers: list[Answer] = []

            async def ask(t: TcpTransport, to: str, n: int) -> None:
                answers.append(await t.request(to, Ask(n), timeout=1))

            async with trio.open_nursery() as n:
                n.start_soon(ask, a, b.local.address, 1)
                n.start_soon(ask, b, a.local.address, 2)
            for i in range(50, 100):
                a.send(b.local.address, Note(i))
                b.send(a.local.address, Note(i))
            await wait_for(lambda: len(got_a) == 100 and len(got_b) == 100)
            assert sorted(m.n for _, m in got_a) == list(range(100))
            assert sorted(m.n for _, m in got_b) == list(range(100))
            assert sorted(answers, key=lambda x: x.n) == [Answer(1, 1), Answer(2, 0)]
            await wait_for(lambda: a.stats()["connections"] == 1 == b.stats()["connections"])
            # the survivor is the one dialled by the lower node id, on both sides
            ca, cb = a._links[b.local.address].current, b._links[a.local.address].current
            assert ca is not None and cb is not None
            assert ca.dialled_by_us and not cb.dialled_by_us
            assert await a.request(b.local.address, Ask(3), timeout=1) == Answer(3, 1)


async def test_plain_tcp_round_trip_and_port_zero() -> None:
    a, b = make(None, 0), make(None, 1)
    echo_handlers(b)
    async with running(a, b):
        assert a.port and b.port and b.local.address == f"127.0.0.1:{b.port}"
        assert await a.request(b.local.address, Ask(1), timeout=1) == Answer(1, 1)


async def test_one_handler_per_type_and_only_wire_types(certs: Certs) -> None:
    a = make(certs, 0)

    async def h(peer: Peer, msg: object) -> None:
        return None

    a.on(Note, h)
    with pytest.raises(ValueError, match="already registered"):
        a.on(Note, h)
    with pytest.raises(ValueError, match="not a wire message"):
        a.on(int, h)


async def test_a_broker_certificate_cannot_claim_another_node_id(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    # Node 2 presents node 1's (valid, cluster-CA-signed) certificate.
    impostor = make(certs, 2, contexts=certs.contexts(1))
    honest = make(certs, 0)
    echo_handlers(honest)
    async with running(impostor, honest):
        with pytest.raises(PeerUnavailable, match="certificate is for node-1"):
            await impostor.request(honest.local.address, Ask(1), timeout=1)
        assert honest.stats().get("handshakes_refused", 0) == 1


async def test_unreachable_peer_means_not_sent(certs: Certs) -> None:
    """A request that never left (no connection) is NotSent: safe to send elsewhere."""
    from trio_zeebe.transport.api import NotSent

    a = make(certs, 0)
    async with running(a):
        with pytest.raises(NotSent):
            await a.request("127.0.0.1:1", Ask(1), timeout=2)
