"""Benchmark (not a test): request/response round trips and one-way throughput over loopback
mutual TLS between two TcpTransports in one process. Run: python bench/transport_rtt.py"""

from __future__ import annotations

import tempfile
import time

import attrs
import trio

from trio_zeebe import codec
from trio_zeebe.transport.api import Peer
from trio_zeebe.transport.config import TransportConfig
from trio_zeebe.transport.tcp import TcpTransport
from trio_zeebe.transport.tls import client_context, server_context, write_dev_certs


@codec.wire("t.bench.msg")
@attrs.frozen
class Msg:
    n: int
    payload: bytes = b""


async def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        write_dev_certs(d, 2, [])

        def node(i: int) -> TcpTransport:
            ca, cert, key = f"{d}/ca.pem", f"{d}/node-{i}.pem", f"{d}/node-{i}.key"
            return TcpTransport(
                Peer(i, "127.0.0.1:0"), "bench", server_context(ca, cert, key),
                client_context(ca, cert, key), config=TransportConfig(queue_frames=100_000),
            )  # fmt: skip

        a, b = node(0), node(1)
        received = 0
        done = trio.Event()
        target = 0

        async def on_msg(peer: Peer, msg: Msg) -> Msg:
            return msg

        async def on_note(peer: Peer, msg: Msg) -> None:
            nonlocal received
            received += 1
            if received == target:
                done.set()

        b.on(Msg, on_msg)
        a.on(Msg, on_note)  # a receives one-ways sent by b
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            await nursery.start(b.run)
            await a.request(b.local.address, Msg(0), timeout=5)  # connect

            for inflight in (1, 64):
                total = 20_000 if inflight > 1 else 5_000
                per_task = total // inflight

                async def worker(per_task: int = per_task) -> None:
                    for i in range(per_task):
                        await a.request(b.local.address, Msg(i, b"x" * 100), timeout=5)

                start = time.perf_counter()
                async with trio.open_nursery() as n:
                    for _ in range(inflight):
                        n.start_soon(worker)
                elapsed = time.perf_counter() - start
                print(f"request/response, {inflight:2d} in flight: "
                      f"{per_task * inflight / elapsed:9.0f} round trips/s")  # fmt: skip

            count = 200_000
            target = count
            start = time.perf_counter()
            for i in range(count):
                b.send(a.local.address, Msg(i, b"x" * 100))
                if i % 1000 == 999:
                    # the queue is bounded: pace the producer instead of dropping
                    while b.stats()["queued_frames"] > 20_000:  # noqa: ASYNC110
                        await trio.sleep(0.0005)
            with trio.move_on_after(30):
                await done.wait()
            print(f"  received {received} of {count}")
            elapsed = time.perf_counter() - start
            print(f"one-way (100-byte body):       {count / elapsed:9.0f} messages/s")
            s = b.stats()
            print(f"  sender: frames_out={s['frames_out']} writes={s['writes']} "
                  f"dropped={s.get('dropped_queue_full', 0)}")  # fmt: skip
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
