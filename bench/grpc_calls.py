"""The CPU one unary gRPC call costs: the project's gRPC server and channel, nothing else.

A server process runs :class:`~trio_zeebe.gateway.grpc_server.GrpcServer` with one trivial raw
unary method (answers a fixed response, no broker behind it); this process calls it through
:class:`~trio_zeebe.grpc.channel.Channel` over TLS on loopback, closed loop, with 1 and 64
calls in flight on one connection (``--inflight``), each with a ``grpc-timeout``: by default
through the client's connection layer (:class:`~trio_zeebe.client.connection.Connections`,
what ``trio_zeebe.Client`` calls go through, a 10 s timeout per call), with ``--layer channel``
straight on the channel. Printed per bound: calls/s, and the CPU microseconds per call of
the server process and of this one (user + system over the measured window; the user part,
the Python side, in brackets). A benchmark, not a test.

    python bench/grpc_calls.py [--seconds 5] [--warmup 1] [--inflight 1,64] [--size 40]
                               [--layer client|channel] [--backend trio|asyncio] [--rounds 1]
                               [--json]

``--serve`` runs only the server (it prints its port and pid), e.g. to profile it with
``py-spy record --pid``; ``--connect PORT --ca FILE`` then drives an already running one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from trio_zeebe.client.connection import Connections
from trio_zeebe.grpc.channel import client_ssl_context, open_channel
from trio_zeebe.grpc.framing import MAX_MESSAGE_BYTES

METHOD = "/bench.Calls/Call"


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds process ``pid`` has used so far (from ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def write_certs(directory: Path) -> None:
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    server.private_key_pem.write_to_path(str(directory / "server.key"))
    with open(directory / "server.pem", "wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())


def serve(certs: Path, size: int) -> None:
    import trio

    from trio_zeebe.gateway.grpc_call import ServerCall
    from trio_zeebe.gateway.grpc_server import GrpcServer
    from trio_zeebe.gateway.grpc_services import Service, ServiceRegistry
    from trio_zeebe.gateway.grpc_tls import grpc_ssl_context

    response = b"r" * size

    async def call(request: bytes, call: ServerCall) -> bytes:
        return response

    service = Service("bench.Calls")
    service.unary_raw("Call", call)
    registry = ServiceRegistry()
    registry.add(service)
    context = grpc_ssl_context(certs / "server.pem", certs / "server.key", None)

    async def main() -> None:
        server = GrpcServer(registry, host="127.0.0.1", port=0, ssl_context=context)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server.run)
            print(port, os.getpid(), flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)  # until the driver closes stdin
            nursery.cancel_scope.cancel()

    trio.run(main)


@asynccontextmanager
async def calling(
    layer: str, port: int, ca: Path
) -> AsyncIterator[Callable[[bytes], Awaitable[bytes]]]:
    """A function making one call, through the client's connection layer or the bare channel."""
    if layer == "channel":
        async with open_channel(
            "127.0.0.1", port, ssl_context=client_ssl_context(ca), server_hostname="localhost"
        ) as channel:

            async def on_channel(request: bytes) -> bytes:
                return await channel.unary(METHOD, request, timeout=10.0)

            yield on_channel
        return
    connections = Connections(
        [f"127.0.0.1:{port}"],
        client_ssl_context(ca),
        connect_timeout=10.0,
        max_message_bytes=MAX_MESSAGE_BYTES,
    )
    await connections.open()
    try:

        async def on_connections(request: bytes) -> bytes:
            return await connections.unary(METHOD, request, timeout=10.0, idempotent=False)

        yield on_connections
    finally:
        await connections.close()


async def closed_loop(
    layer: str,
    port: int,
    ca: Path,
    inflight: int,
    warmup: float,
    seconds: float,
    size: int,
    server_pid: int,
) -> dict[str, float]:
    request = b"q" * size
    done = 0
    marks: dict[str, tuple[float, int, tuple[float, float], tuple[float, float] | None]] = {}
    async with calling(layer, port, ca) as call:
        stop = False

        async def caller() -> None:
            nonlocal done
            while not stop:
                await call(request)
                done += 1

        def mark(name: str) -> None:
            server = cpu_seconds(server_pid) if server_pid else None
            own = os.times()
            marks[name] = (time.perf_counter(), done, (own.user, own.system), server)

        async with anyio.create_task_group() as tg:
            for _ in range(inflight):
                tg.start_soon(caller)
            await anyio.sleep(warmup)
            mark("start")
            await anyio.sleep(seconds)
            mark("end")
            stop = True
    (t0, n0, c0, s0), (t1, n1, c1, s1) = marks["start"], marks["end"]
    calls = n1 - n0
    result = {
        "inflight": inflight,
        "calls_per_s": calls / (t1 - t0),
        "client_us_per_call": (sum(c1) - sum(c0)) / calls * 1e6,
        "client_user_us_per_call": (c1[0] - c0[0]) / calls * 1e6,
    }
    if s0 is not None and s1 is not None:
        result["server_us_per_call"] = (sum(s1) - sum(s0)) / calls * 1e6
        result["server_user_us_per_call"] = (s1[0] - s0[0]) / calls * 1e6
    return result


def start_server(certs: Path, size: int) -> tuple[subprocess.Popen[str], int, int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--certs", str(certs), "--size", str(size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2:
        proc.kill()
        raise SystemExit("the server did not start")
    return proc, int(line[0]), int(line[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--inflight", default="1,64")
    parser.add_argument("--size", type=int, default=40, help="request and response bytes")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--layer", default="client", choices=["client", "channel"])
    parser.add_argument("--backend", default="trio", choices=["trio", "asyncio"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--certs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--connect", type=int, help="port of a server started with --serve")
    parser.add_argument("--ca", type=Path, help="its CA (ca.pem in the --serve directory)")
    args = parser.parse_args()
    if args.serve:
        if args.certs is None:
            directory = Path(tempfile.mkdtemp(prefix="grpc-calls-"))
            write_certs(directory)
            print(f"certificates in {directory}", file=sys.stderr)
            args.certs = directory
        serve(args.certs, args.size)
        return
    bounds = [int(b) for b in args.inflight.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp)
        write_certs(certs)
        if args.connect is not None:
            server, port, pid, ca = None, args.connect, 0, args.ca
        else:
            server, port, pid = start_server(certs, args.size)
            ca = certs / "ca.pem"
        try:
            for _ in range(args.rounds):
                for inflight in bounds:
                    result = anyio.run(
                        closed_loop,
                        args.layer,
                        port,
                        ca,
                        inflight,
                        args.warmup,
                        args.seconds,
                        args.size,
                        pid,
                        backend=args.backend,
                    )
                    results.append(result)
                    if not args.json:
                        nan = float("nan")
                        print(
                            f"{inflight:4d} in flight: {result['calls_per_s']:8.0f} calls/s"
                            f"  server {result.get('server_us_per_call', nan):6.1f} µs/call"
                            f" (user {result.get('server_user_us_per_call', nan):5.1f})"
                            f"  client {result['client_us_per_call']:6.1f} µs/call"
                            f" (user {result['client_user_us_per_call']:5.1f})",
                            flush=True,
                        )
        finally:
            if server is not None:
                assert server.stdin is not None
                server.stdin.close()
                server.wait(10)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
