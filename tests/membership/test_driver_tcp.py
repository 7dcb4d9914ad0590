"""MembershipService over the real TcpTransport (mutual TLS on loopback): the cluster name.

A peer configured with another cluster name never becomes a member: the transport refuses the
connection at the handshake, so no SWIM message from it ever reaches the core. (SimNetwork has no
handshake, which is why this test uses real sockets and the real clock, with short timings.)
"""

from __future__ import annotations

import random

import pytest
import trio

from trio_zeebe.membership import Event, State, SwimConfig, SwimCore
from trio_zeebe.membership.driver import MembershipService
from trio_zeebe.transport.api import Peer
from trio_zeebe.transport.config import TransportConfig
from trio_zeebe.transport.tcp import TcpTransport
from trio_zeebe.transport.tls import DevCerts, client_context, server_context

pytestmark = pytest.mark.timeout(20)

FAST = SwimConfig(
    probe_interval=0.1,
    probe_timeout=0.05,
    failure_timeout=1.0,
    gossip_interval=0.05,
    sync_interval=0.5,
)


async def start_member(
    nursery: trio.Nursery, certs: DevCerts, node_id: int, cluster: str, contacts: list[str]
) -> tuple[TcpTransport, MembershipService, trio.MemoryReceiveChannel[Event]]:
    files = (certs.ca, *certs.nodes[node_id])
    transport = TcpTransport(
        Peer(node_id, "127.0.0.1:0"),
        cluster,
        ssl_server=server_context(*files),
        ssl_client=client_context(*files),
        config=TransportConfig(backoff_max=0.2),
    )
    await nursery.start(transport.run)
    core = SwimCore(
        node_id=node_id,
        address=transport.local.address,
        incarnation=1,
        rng=random.Random(node_id),
        config=FAST,
        now=trio.current_time(),
    )
    service = MembershipService(core, transport, cluster_name=cluster, contact_points=contacts)
    events = service.subscribe()
    await nursery.start(service.run)
    return transport, service, events


def alive(service: MembershipService) -> set[int]:
    return {n for n, m in service.members().items() if m.state is State.ALIVE}


def drain(channel: trio.MemoryReceiveChannel[Event]) -> list[Event]:
    out = []
    while True:
        try:
            out.append(channel.receive_nowait())
        except trio.WouldBlock:
            return out


async def test_peer_with_another_cluster_name_never_becomes_a_member(
    dev_certs: DevCerts,
) -> None:
    async with trio.open_nursery() as nursery:
        t0, blue0, events0 = await start_member(nursery, dev_certs, 0, "blue", [])
        t1, blue1, events1 = await start_member(nursery, dev_certs, 1, "blue", [t0.local.address])
        # Same certificates (same CA), wrong cluster name; it knows both blue addresses.
        t2, green, _ = await start_member(
            nursery, dev_certs, 2, "green", [t0.local.address, t1.local.address]
        )

        def refused(transport: TcpTransport) -> int:
            return transport.stats().get("handshakes_refused", 0)

        with trio.fail_after(10):
            while not (  # noqa: ASYNC110 (real sockets: progress happens in other tasks)
                alive(blue0) == {0, 1} == alive(blue1)
                and refused(t0) >= 2
                and refused(t1) >= 2
                and refused(t2) >= 4
            ):
                await trio.sleep(0.02)
        # Green kept trying (contact points are retried every probe round) and was refused
        # every time; neither side ever let the other in.
        assert alive(green) == {2} and green.known() == {2: t2.local.address}
        for service, events in ((blue0, events0), (blue1, events1)):
            assert 2 not in service.members()
            assert 2 not in service.known()
            assert all(e.member.node_id != 2 for e in drain(events))
        assert t0.stats().get("handler_errors", 0) == 0
        nursery.cancel_scope.cancel()
