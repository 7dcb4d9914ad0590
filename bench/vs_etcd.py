"""trio_zeebe next to etcd on the same machine, the same load shape, one run. A benchmark, not a
test: it measures and prints, it does not pass or fail.

Starts a 3-member etcd (Debian's ``etcd-server``: ``apt-get install etcd-server``; without an
``etcd`` on PATH the script says so and exits 0) and a 3-broker trio_zeebe cluster (3 partitions,
replication factor 3), both on loopback, both with TLS between members and towards clients, both
fsyncing with their defaults (etcd: its WAL fsync; trio_zeebe: the log's fsync before any ack).

Load, the same closed loop for both: ``--inflight`` requests (1, 64, 256) in flight at any time,
each task sending its next request when the previous answer arrives, tasks spread round-robin
over all three endpoints, 100-byte payloads (etcd: a 100-byte value under a fresh key;
trio_zeebe: ``CreateProcessInstance`` of a one-service-task process with 100 bytes of JSON
variables). Each measurement warms up for ``--warmup`` seconds, then counts the answers that
arrive within the next ``--seconds`` (ops/s) and their latency (p50). The "whole instance" figure
is create -> activate -> complete -> completed: ``CreateProcessInstanceWithResult`` with 64 in
flight while workers (one per endpoint, their concurrency adding up to 64) complete the task.

Fair both ways: each load generator runs in a fresh process of its own (this script re-invoked
with ``--load``), one Python process per measurement, while the other system sits idle; this
process only starts the servers and waits. etcd's load is a ``grpc.aio`` client (the C-core
gRPC stack; one channel per endpoint) with ``etcdserverpb.KV/Put`` messages generated at run time
by grpcio-tools from the minimal subset of etcd's ``rpc.proto`` below; trio_zeebe's is the
project's own client (pure Python over anyio, ``--backend``), one ``Client`` per endpoint. Rounds
alternate which system goes first. Ratios are trio_zeebe / etcd from the same round; medians are
over rounds.

Where ``/proc`` exists, each trio_zeebe figure also gives the CPU its measured seconds cost, per
answer: the three brokers' together and the load generator's. On a machine whose cores are all
busy the rate is that CPU's inverse, so this tells a slow path from a path that waits.

    python bench/vs_etcd.py [--rounds 3] [--seconds 8] [--warmup 1] [--inflight 1,64,256]
                            [--whole-inflight 64] [--backend trio|asyncio] [--json]
                            [--new-work round-robin|local-first]
    nox -s bench -- vs-etcd [same options]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PAYLOAD = 100

# A minimal subset of etcd v3's api/etcdserverpb/rpc.proto: the KV service's Put, field numbers as
# in etcd's API reference (PutRequest: key 1, value 2, lease 3, prev_kv 4, ignore_value 5,
# ignore_lease 6; PutResponse: header 1; ResponseHeader: cluster_id 1, member_id 2, revision 3,
# raft_term 4). Fields left out are skipped by the decoder as unknown fields.
ETCD_PROTO = """
syntax = "proto3";
package etcdserverpb;
service KV { rpc Put(PutRequest) returns (PutResponse) {} }
message ResponseHeader {
  uint64 cluster_id = 1; uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4;
}
message PutRequest {
  bytes key = 1; bytes value = 2; int64 lease = 3; bool prev_kv = 4; bool ignore_value = 5;
  bool ignore_lease = 6;
}
message PutResponse { ResponseHeader header = 1; }
"""


def one_task_process(process_id: str, job_type: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="http://x">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements><zeebe:taskDefinition type="{job_type}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


# CreateProcessInstance rounds leave their instances waiting at the task (nobody works on
# "bench-task"); whole instances use a process of their own, so their workers never meet that
# backlog.
BPMN = one_task_process("bench", "bench-task")
WHOLE_BPMN = one_task_process("bench-whole", "bench-whole-task")


def variables_of_size(size: int) -> dict[str, str]:
    """JSON variables whose compact encoding is exactly ``size`` bytes."""
    base = len(json.dumps({"payload": ""}, separators=(",", ":")))
    return {"payload": "x" * (size - base)}


# --- the closed loop, shared by both load generators ---------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds process ``pid`` has used so far; None without ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Window:
    """Counts answers whose request was sent after the warm-up and that arrived before the end;
    with ``pids`` (the servers') also the CPU those and this process used meanwhile."""

    def __init__(self, warmup: float, seconds: float, pids: Sequence[int] = ()) -> None:
        now = time.perf_counter()
        self.start = now + warmup
        self.end = self.start + seconds
        self.latencies: list[float] = []
        self.errors = 0
        self.pids = [*pids, os.getpid()]
        self._cpu: list[list[float | None]] = []

    def sample_cpu(self) -> None:
        """Called at the window's start and at its end."""
        self._cpu.append([cpu_seconds(pid) for pid in self.pids])

    async def watch_cpu(self, sleep: Any) -> None:
        """Sample the CPU at the window's start and end (``sleep``: the event loop's)."""
        await sleep(max(0.0, self.start - time.perf_counter()))
        self.sample_cpu()
        await sleep(max(0.0, self.end - time.perf_counter()))
        self.sample_cpu()

    def open(self) -> bool:
        return time.perf_counter() < self.end

    def record(self, sent: float, done: float) -> None:
        if sent >= self.start and done <= self.end:
            self.latencies.append(done - sent)

    def result(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        seconds = self.end - self.start
        return {
            "ops": len(lat),
            "ops_per_s": len(lat) / seconds,
            "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else None,
            "errors": self.errors,
            **self._cpu_per_answer(len(lat)),
        }

    def _cpu_per_answer(self, answers: int) -> dict[str, float]:
        if len(self._cpu) != 2 or not answers or len(self.pids) < 2:
            return {}
        before, after = self._cpu
        if None in before or None in after:
            return {}
        used = [b - a for a, b in zip(before, after, strict=True)]  # type: ignore[operator]
        return {
            "server_cpu_ms": 1000 * sum(used[:-1]) / answers,
            "client_cpu_ms": 1000 * used[-1] / answers,
        }


# --- etcd ------------------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Etcd:
    """Three etcd members on loopback: TLS to clients and between peers, default fsync."""

    def __init__(self, directory: Path, certs: Path, binary: str) -> None:
        self.directory = directory
        self.certs = certs
        self.binary = binary
        ports = free_ports(6)
        self.client_ports = ports[0::2]
        self.peer_ports = ports[1::2]
        self.endpoints = [f"127.0.0.1:{p}" for p in self.client_ports]
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        cluster = ",".join(f"e{i}=https://127.0.0.1:{p}" for i, p in enumerate(self.peer_ports))
        for i in range(3):
            cert, key = self.certs / f"node-{i}.pem", self.certs / f"node-{i}.key"
            ca = self.certs / "ca.pem"
            log = (self.directory / f"etcd-{i}.log").open("ab")
            self.procs.append(
                subprocess.Popen(
                    [
                        self.binary,
                        f"--name=e{i}",
                        f"--data-dir={self.directory / f'etcd-{i}'}",
                        f"--listen-client-urls=https://127.0.0.1:{self.client_ports[i]}",
                        f"--advertise-client-urls=https://127.0.0.1:{self.client_ports[i]}",
                        f"--listen-peer-urls=https://127.0.0.1:{self.peer_ports[i]}",
                        f"--initial-advertise-peer-urls=https://127.0.0.1:{self.peer_ports[i]}",
                        f"--initial-cluster={cluster}",
                        "--initial-cluster-state=new",
                        "--initial-cluster-token=bench",
                        f"--cert-file={cert}",
                        f"--key-file={key}",
                        f"--peer-cert-file={cert}",
                        f"--peer-key-file={key}",
                        f"--peer-trusted-ca-file={ca}",
                        "--peer-client-cert-auth",
                        "--log-level=warn",
                        "--logger=zap",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()

    def terminate(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def etcd_modules(out: Path) -> tuple[Any, Any]:
    """Generate and import the etcd KV messages and stub (grpcio-tools, at run time)."""
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    (out / "etcd_kv.proto").write_text(ETCD_PROTO)
    code = protoc.main(
        [
            "protoc",
            f"-I{out}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(out / "etcd_kv.proto"),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed ({code}) on the etcd subset")
    sys.path.insert(0, str(out))
    import etcd_kv_pb2
    import etcd_kv_pb2_grpc

    return etcd_kv_pb2, etcd_kv_pb2_grpc


async def etcd_load(args: argparse.Namespace) -> dict[str, Any]:
    import grpc

    pb, stubs = etcd_modules(Path(args.gen))
    with open(args.ca, "rb") as f:  # noqa: ASYNC230 (once, before the load starts)
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    channels = [grpc.aio.secure_channel(e, creds) for e in args.endpoints.split(",")]
    kv = [stubs.KVStub(c) for c in channels]
    value = b"v" * PAYLOAD
    import asyncio

    if args.load == "etcd-ready":
        deadline = time.monotonic() + 60
        for stub in kv:
            while True:
                try:
                    await stub.Put(pb.PutRequest(key=b"ready", value=value), timeout=2)
                    break
                except grpc.aio.AioRpcError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        for c in channels:
            await c.close()
        return {}

    pids = [int(p) for p in args.server_pids.split(",")] if args.server_pids else []
    window = Window(args.warmup, args.seconds, pids)

    async def loop(worker: int) -> None:
        stub = kv[worker % len(kv)]
        n = 0
        while window.open():
            key = b"bench/%05d/%09d" % (worker, n)
            n += 1
            sent = time.perf_counter()
            try:
                await stub.Put(pb.PutRequest(key=key, value=value), timeout=30)
            except grpc.aio.AioRpcError:
                window.errors += 1
                continue
            window.record(sent, time.perf_counter())

    watch = [window.watch_cpu(asyncio.sleep)] if pids else []
    await asyncio.gather(*(loop(i) for i in range(args.inflight)), *watch)
    for c in channels:
        await c.close()
    return window.result()


# --- trio_zeebe ------------------------------------------------------------------------------


async def zeebe_load(args: argparse.Namespace) -> dict[str, Any]:
    import anyio

    from trio_zeebe import Client, ClientError, Job

    endpoints = args.endpoints.split(",")
    variables = variables_of_size(PAYLOAD)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(Client([e, *endpoints], ca=args.ca, request_timeout=60))
            for e in endpoints
        ]
        if args.load == "zeebe-ready":
            await zeebe_ready(clients)
            return {}
        pids = [int(p) for p in args.server_pids.split(",")] if args.server_pids else []
        window = Window(args.warmup, args.seconds, pids)
        whole = args.load == "zeebe-whole"

        async def call(c: Client) -> Any:
            if whole:
                return await c.create_process_instance_with_result(
                    "bench-whole", variables=variables, request_timeout=60
                )
            return await c.create_process_instance("bench", variables=variables)

        async def loop(worker: int) -> None:
            c = clients[worker % len(clients)]
            while window.open():
                sent = time.perf_counter()
                try:
                    await call(c)
                except ClientError:
                    window.errors += 1
                    continue
                window.record(sent, time.perf_counter())

        async def handle(job: Job) -> dict[str, Any]:
            return {}

        per_worker = max(1, args.inflight // len(clients))
        async with anyio.create_task_group() as workers:
            if whole:
                for c in clients:
                    workers.start_soon(
                        c.worker(
                            "bench-whole-task", handle, max_jobs=per_worker, concurrency=per_worker
                        ).run
                    )
            async with anyio.create_task_group() as tg:
                if pids:
                    tg.start_soon(window.watch_cpu, anyio.sleep)
                for i in range(args.inflight):
                    tg.start_soon(loop, i)
            workers.cancel_scope.cancel()
        return window.result()


async def zeebe_ready(clients: Sequence[Any]) -> None:
    """Deploy the process and wait until an instance starts through every endpoint (every
    partition led, the deployment distributed)."""
    import anyio

    from trio_zeebe import ClientError

    with anyio.fail_after(90):
        while True:
            try:
                await clients[0].deploy_resources(
                    ("bench.bpmn", BPMN), ("bench-whole.bpmn", WHOLE_BPMN)
                )
                break
            except ClientError:
                await anyio.sleep(0.2)
        for c in clients:
            ok = 0
            while ok < 6:  # round-robin over the partitions: each one answered at least once
                try:
                    await c.create_process_instance("bench", variables={})
                    ok += 1
                except ClientError:
                    await anyio.sleep(0.1)


# --- the driver --------------------------------------------------------------------------------


def run_load(
    kind: str, endpoints: Sequence[str], ca: str, gen: Path, **opts: Any
) -> dict[str, Any]:
    """One measurement in a fresh process; its JSON result."""
    cmd = [sys.executable, str(HERE), "--load", kind, "--endpoints", ",".join(endpoints)]
    cmd += ["--ca", ca, "--gen", str(gen)]
    for k, v in opts.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    result: dict[str, Any] = json.loads(line)
    return result


def fmt_rate(r: dict[str, Any]) -> str:
    p50 = r.get("p50_ms")
    p50s = f"{p50:6.1f} ms" if p50 is not None else "     - ms"
    err = f" ({r['errors']} errors)" if r.get("errors") else ""
    cpu = ""
    if r.get("server_cpu_ms") is not None:
        cpu = f" cpu {r['server_cpu_ms']:.1f}+{r['client_cpu_ms']:.1f} ms"
    return f"{r['ops_per_s']:8.0f}/s p50 {p50s}{cpu}{err}"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per figure")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before counting")
    parser.add_argument("--inflight", default="1,64,256")
    parser.add_argument("--whole-inflight", type=int, default=64)
    parser.add_argument("--backend", default="trio", choices=["trio", "asyncio"])
    parser.add_argument(
        "--new-work",
        default="round-robin",
        choices=["round-robin", "local-first"],
        help="the brokers' network.new_work_partitions (where the gateway creates instances)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--etcd", default="etcd", help="the etcd binary (default: on PATH)")
    parser.add_argument("--keep", help="keep the clusters' directory here (logs)")
    # internal: one load generator
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--endpoints", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--gen", help=argparse.SUPPRESS)
    parser.add_argument("--inflight-one", dest="inflight_n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pids", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.load:
        args.inflight = args.inflight_n or 1
        if args.load.startswith("etcd"):
            import asyncio

            result = asyncio.run(etcd_load(args))
        else:
            import anyio

            result = anyio.run(zeebe_load, args, backend=args.backend)
        print(json.dumps(result))
        return 0

    binary = shutil.which(args.etcd)
    if binary is None:
        print(
            f"skipped: no `{args.etcd}` on PATH. This benchmark runs etcd next to trio_zeebe; "
            "install Debian's etcd server (`apt-get install etcd-server`) or pass --etcd PATH.",
            file=sys.stderr,
        )
        return 0
    try:
        import grpc  # noqa: F401
        import grpc_tools  # noqa: F401
    except ImportError:
        print(
            "skipped: the etcd client needs grpcio and grpcio-tools "
            "(`pip install grpcio grpcio-tools`, or the package's [test] extra).",
            file=sys.stderr,
        )
        return 0

    inflights = [int(x) for x in args.inflight.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        gen = base / "gen"
        return drive(args, binary, base, gen, inflights)


def drive(
    args: argparse.Namespace, binary: str, base: Path, gen: Path, inflights: list[int]
) -> int:
    from trio_zeebe.testing.processes import Brokers

    env = {"TRIO_ZEEBE_BROKER_NETWORK__NEW_WORK_PARTITIONS": args.new_work}
    brokers = Brokers(base / "zeebe", partitions=3, replication_factor=3, env=env)
    etcd = Etcd(base, base / "zeebe" / "certs", binary)
    ca = brokers.ca
    rounds: list[dict[str, Any]] = []
    timing = {"warmup": args.warmup, "seconds": args.seconds}
    try:
        etcd.start()
        for i in range(3):
            brokers.start(i)
        run_load("etcd-ready", etcd.endpoints, ca, gen)
        run_load("zeebe-ready", brokers.gateways, ca, gen, backend=args.backend)
        load_before = os.getloadavg()
        etcd_pids = ",".join(str(p.pid) for p in etcd.procs)
        zeebe_pids = ",".join(str(brokers.procs[i].pid) for i in range(3))
        for r in range(args.rounds):
            row: dict[str, Any] = {}
            systems = ["etcd", "zeebe"] if r % 2 == 0 else ["zeebe", "etcd"]
            order = [f"{s}-{n}" for n in inflights for s in systems]
            if args.whole_inflight not in inflights:
                order.append(f"etcd-{args.whole_inflight}")
            order.append("zeebe-whole")
            for name in order:
                system, what = name.split("-", 1)
                if system == "etcd":
                    n = int(what)
                    row[name] = run_load(
                        "etcd-put",
                        etcd.endpoints,
                        ca,
                        gen,
                        inflight_one=n,
                        server_pids=etcd_pids,
                        **timing,
                    )
                elif what == "whole":
                    row[name] = run_load(
                        "zeebe-whole",
                        brokers.gateways,
                        ca,
                        gen,
                        inflight_one=args.whole_inflight,
                        backend=args.backend,
                        server_pids=zeebe_pids,
                        **timing,
                    )
                else:
                    row[name] = run_load(
                        "zeebe-create",
                        brokers.gateways,
                        ca,
                        gen,
                        inflight_one=int(what),
                        backend=args.backend,
                        server_pids=zeebe_pids,
                        **timing,
                    )
            rounds.append(row)
            if not args.json:
                print_round(r + 1, row, inflights, args.whole_inflight)
        load_after = os.getloadavg()
        brokers.check_running()
    finally:
        brokers.terminate_all()
        etcd.terminate()
    summary = medians(rounds, inflights, args.whole_inflight)
    if args.json:
        print(json.dumps({"rounds": rounds, "median": summary, "load": [load_before, load_after]}))
        return 0
    print(
        f"\nmedians of {len(rounds)} rounds (new work {args.new_work}, {args.seconds:g} s each, "
        f"{args.warmup:g} s warm-up; load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f}):"
    )
    print_summary(summary, inflights, args.whole_inflight)
    return 0


def print_round(
    number: int, row: dict[str, Any], inflights: list[int], whole_inflight: int
) -> None:
    print(f"round {number}:")
    for n in inflights:
        e, z = row[f"etcd-{n}"], row[f"zeebe-{n}"]
        print(
            f"  {n:>3} in flight: etcd Put {fmt_rate(e)} | CreateProcessInstance {fmt_rate(z)}"
            f" | ratio {ratio(z['ops_per_s'], e['ops_per_s']):.2f}x"
        )
    e, w = row[f"etcd-{whole_inflight}"], row["zeebe-whole"]
    print(
        f"  {whole_inflight:>3} in flight: whole instances {fmt_rate(w)}"
        f" | ratio to etcd Put {ratio(w['ops_per_s'], e['ops_per_s']):.2f}x"
    )
    sys.stdout.flush()


def medians(rounds: list[dict[str, Any]], inflights: list[int], whole: int) -> dict[str, Any]:
    def med(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    out: dict[str, Any] = {}
    for n in inflights:
        e = [r[f"etcd-{n}"] for r in rounds]
        z = [r[f"zeebe-{n}"] for r in rounds]
        out[str(n)] = {
            "etcd_ops": med([x["ops_per_s"] for x in e]),
            "etcd_p50_ms": med([x["p50_ms"] for x in e]),
            "zeebe_ops": med([x["ops_per_s"] for x in z]),
            "zeebe_p50_ms": med([x["p50_ms"] for x in z]),
            "ratio": med(
                [ratio(b["ops_per_s"], a["ops_per_s"]) for a, b in zip(e, z, strict=True)]
            ),
        }
    e = [r[f"etcd-{whole}"] for r in rounds]
    w = [r["zeebe-whole"] for r in rounds]
    out["whole"] = {
        "inflight": whole,
        "etcd_ops": med([x["ops_per_s"] for x in e]),
        "zeebe_ops": med([x["ops_per_s"] for x in w]),
        "zeebe_p50_ms": med([x["p50_ms"] for x in w]),
        "ratio": med([ratio(b["ops_per_s"], a["ops_per_s"]) for a, b in zip(e, w, strict=True)]),
    }
    return out


def print_summary(s: dict[str, Any], inflights: list[int], whole: int) -> None:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} ms"

    print("| in flight | etcd Put ops/s (p50) | CreateProcessInstance ops/s (p50) | ratio |")
    print("|---|---|---|---|")
    for n in inflights:
        x = s[str(n)]
        print(
            f"| {n} | {x['etcd_ops']:,.0f} ({ms(x['etcd_p50_ms'])}) | "
            f"{x['zeebe_ops']:,.0f} ({ms(x['zeebe_p50_ms'])}) | {x['ratio']:.2f}x |"
        )
    w = s["whole"]
    print(
        f"| {whole}, whole instances | {w['etcd_ops']:,.0f} | {w['zeebe_ops']:,.0f} "
        f"({ms(w['zeebe_p50_ms'])}) | {w['ratio']:.2f}x |"
    )


if __name__ == "__main__":
    sys.exit(main())
