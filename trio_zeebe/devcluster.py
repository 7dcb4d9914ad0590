"""``python -m trio_zeebe dev-cluster``: a local cluster of real broker processes on loopback.

Writes (once) development certificates and one config per broker under DIR, starts one
``python -m trio_zeebe node`` process per broker, waits until every gateway answers, prints how to
connect, and stops them all on Ctrl-C / SIGTERM. Re-running with the same DIR reuses the configs,
ports and data, so a dev cluster survives restarts like a real one.

"Up" means the broker process this command started is running and its own gateway answered:
on Linux the gateway's listening socket must belong to that process, so a stale broker (or
anything else) on the port does not count. A broker that exits before that fails the start with
its last log lines (exit code 1); one that dies later is reported with its exit code or signal,
and when every broker has died the command ends with exit code 1. Once every broker is up it
waits until each partition has a leader (the cluster is healthy, as ``status`` says).

While it waits it says so on stderr: each broker as it comes up, the ones still awaited every
few seconds, then each partition as it gets a leader. The announcement on stdout (``--json``: one
object per broker) comes once the cluster is ready.

The configs set small free disk space thresholds (:data:`DEV_DISK_SPACE`) instead of Zeebe's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import tomli_w
import trio

from .config import BrokerConfig, ConfigError, gateway_tls, load_config
from .errors import find_error

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
PROGRESS_EVERY = 5.0
"""Seconds between two "still waiting" lines."""


LOG_TAIL_LINES = 5
DEV_DISK_SPACE = {"free_space_processing": "64MB", "free_space_replication": "32MB"}
"""What every dev broker's config sets for ``data.disk``: its brokers share one developer disk,
often nearly full; Zeebe's defaults (2GB and 1GB) would make each refuse every command there.
Still enough to refuse commands before a write fails."""


class DevClusterError(RuntimeError):
    """The dev cluster cannot start; ``exit_code`` 2 when the operator's setup is at fault."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@attrs.frozen
class DevBroker:
    node_id: int
    config_path: Path
    config: BrokerConfig
    log_path: Path

    def describe(self, pid: int) -> dict[str, Any]:
        net = self.config.network
        host = net.advertised
        return {
            "node_id": self.node_id,
            "pid": pid,
            "gateway": f"{host}:{net.gateway_port}",
            "internal": f"{host}:{net.internal_port}",
            "monitoring": f"{host}:{net.monitoring_port}",
            "config": str(self.config_path),
        }


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the kernel considers free right now (all bound at once, so they are distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def write_configs(
    directory: Path,
    *,
    brokers: int,
    partitions: int,
    replication_factor: int,
    tls: bool,
    zeebe_ports: bool = False,
) -> list[Path]:
    """Write certificates and broker-N.toml files unless they exist; return the config paths.

    ``zeebe_ports``: Zeebe's ports (gateway 26500, internal 26502, monitoring 9600) with
    ``network.port_offset = N`` for broker N (each broker's ports 10 x N higher), else free
    loopback ports.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"broker-{i}.toml" for i in range(brokers)]
    if all(p.exists() for p in paths):
        return paths
    if tls and not (directory / "certs" / "ca.pem").exists():
        from .transport.tls import write_dev_certs

        write_dev_certs(directory / "certs", brokers, ["localhost", "127.0.0.1", "::1"])
    if zeebe_ports:
        internal = [f"127.0.0.1:{26502 + 10 * i}" for i in range(brokers)]
    else:
        ports = free_ports(3 * brokers)
        internal = [f"127.0.0.1:{ports[3 * i]}" for i in range(brokers)]
    for i, path in enumerate(paths):
        network: dict[str, Any] = {"host": "127.0.0.1"}
        if zeebe_ports:
            network["port_offset"] = i
        else:
            network["internal_api"] = {"port": ports[3 * i]}
            network["gateway"] = {"port": ports[3 * i + 1]}
            network["monitoring"] = {"port": ports[3 * i + 2]}
        config: dict[str, Any] = {
            "cluster": {
                "node_id": i,
                "cluster_size": brokers,
                "partitions_count": partitions,
                "replication_factor": replication_factor,
                "cluster_name": "dev-cluster",
                "initial_contact_points": internal,
            },
            "network": network,
            "data": {"directory": f"data/broker-{i}", "disk": dict(DEV_DISK_SPACE)},
            "security": {
                "enabled": tls,
                "certificate_authority": "certs/ca.pem" if tls else "",
                "certificate_chain": f"certs/node-{i}.pem" if tls else "",
                "private_key": f"certs/node-{i}.key" if tls else "",
                "gateway": {"enabled": tls},
            },
        }
        header = f"# trio_zeebe dev-cluster broker {i} of {brokers} (generated; safe to edit)\n"
        path.write_text(header + tomli_w.dumps(config), encoding="utf-8")
    return paths


def run_dev_cluster(
    directory: Path,
    *,
    brokers: int,
    partitions: int,
    replication_factor: int,
    as_json: bool,
    tls: bool = True,
    zeebe_ports: bool = False,
    prog: str = "python -m trio_zeebe",
    broker_env: dict[str, str] | None = None,
) -> int:
    """Start the brokers, wait until the cluster is ready, announce it, supervise until a
    signal. ``prog`` is how the user runs this program (the announcement names commands with
    it); ``broker_env`` is added to the brokers' environment."""
    try:
        paths = write_configs(
            directory,
            brokers=brokers,
            partitions=partitions,
            replication_factor=replication_factor,
            tls=tls,
            zeebe_ports=zeebe_ports,
        )
    except OSError as exc:
        raise DevClusterError(
            f"--dir {directory}: cannot write configs: {exc.strerror or exc}", exit_code=2
        ) from None
    nodes = []
    for path in paths:
        try:
            config = load_config(path, environ={})
        except ConfigError as exc:
            raise DevClusterError(f"{path}: {exc}", exit_code=2) from None
        nodes.append(DevBroker(config.cluster.node_id, path, config, path.with_suffix(".log")))
    try:
        return trio.run(_supervise, directory, nodes, as_json, prog, broker_env or {})
    except BaseException as exc:
        error = find_error(exc, DevClusterError)
        if error is None:
            raise
        raise error from None


async def _supervise(
    directory: Path, nodes: list[DevBroker], as_json: bool, prog: str, env: dict[str, str]
) -> int:
    procs: list[trio.Process] = []
    progress(f"starting {len(nodes)} brokers (logs: {directory}/broker-N.log)")
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            for node in nodes:
                log_file = node.log_path.open("ab")
                procs.append(
                    await trio.lowlevel.open_process(
                        [
                            sys.executable,
                            "-m",
                            "trio_zeebe",
                            "node",
                            "--config",
                            str(node.config_path),
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=log_file,
                        env={**os.environ, **env},
                    )
                )
                log_file.close()
            with trio.move_on_after(STARTUP_TIMEOUT) as startup:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_cancel_on_signal, signals, nursery.cancel_scope)
                    await _wait_until_up(directory, nodes, procs)
                    await _wait_for_leaders(directory, nodes, procs)
                    nursery.cancel_scope.cancel()
            if startup.cancelled_caught:
                raise DevClusterError(
                    f"the cluster was not ready within {STARTUP_TIMEOUT:.0f}s "
                    f"(see the brokers' logs in {directory})"
                )
            _announce(directory, nodes, procs, as_json, prog)
            return await _watch(nodes, procs, signals)
        finally:
            with trio.CancelScope(shield=True):
                await _stop_all(procs)


async def _cancel_on_signal(signals: Any, scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        raise DevClusterError("interrupted during startup")


def progress(line: str) -> None:
    """One progress line on stderr (stdout carries the announcement, ``--json`` included)."""
    print(f"dev-cluster: {line}", file=sys.stderr, flush=True)


def _names(kind: str, ids: Sequence[int]) -> str:
    return f"{kind}{'s' if len(ids) != 1 else ''} {', '.join(map(str, ids))}"


async def _wait_until_up(
    directory: Path, nodes: Sequence[DevBroker], procs: Sequence[trio.Process]
) -> None:
    """Until each broker process started here runs and its own gateway answers."""
    waiting = list(range(len(nodes)))
    started = last_line = trio.current_time()
    while waiting:
        for i in list(waiting):
            _check_running(nodes[i], procs[i], "before its gateway answered")
            if await _answers(directory, nodes[i]) and _serves(procs[i], nodes[i]):
                waiting.remove(i)
                rest = f"; waiting for {_names('broker', waiting)}" if waiting else ""
                gateway = nodes[i].describe(0)["gateway"]
                progress(
                    f"broker {nodes[i].node_id} is up (pid {procs[i].pid}, gateway {gateway})"
                    + rest
                )
        now = trio.current_time()
        if waiting and now - last_line >= PROGRESS_EVERY:
            last_line = now
            progress(f"still waiting for {_names('broker', waiting)} ({now - started:.0f}s)")
        if waiting:
            await trio.sleep(0.1)
    for node, proc in zip(nodes, procs, strict=True):  # none died while the others started
        _check_running(node, proc, "during startup")


async def _wait_for_leaders(
    directory: Path, nodes: Sequence[DevBroker], procs: Sequence[trio.Process]
) -> None:
    """Until the first broker's gateway sees a leader for every partition and no problem (a
    broker it does not know yet, or thinks dead): what ``status`` calls healthy."""
    from .cli_cluster import current_leaders, mark_stale_leaders

    count = nodes[0].config.cluster.partitions_count
    up = "the broker is up" if len(nodes) == 1 else f"all {len(nodes)} brokers up"
    partitions = "its partition" if count == 1 else f"each of {count} partitions"
    progress(f"{up}; waiting for a leader of {partitions}")
    seen: set[int] = set()
    started = last_line = trio.current_time()
    while True:
        for node, proc in zip(nodes, procs, strict=True):
            _check_running(node, proc, "before the cluster was ready")
        topology = await _topology(directory, nodes[0])
        problems = ["no answer from broker 0's gateway"]
        if topology is not None:
            problems = mark_stale_leaders(topology)
            for pid, (leader, term) in sorted(current_leaders(topology).items()):
                if pid not in seen:
                    seen.add(pid)
                    progress(f"partition {pid}: broker {leader} leads (term {term})")
            if not problems:
                progress("cluster ready: every partition has a leader")
                return
        now = trio.current_time()
        if now - last_line >= PROGRESS_EVERY:
            last_line = now
            progress(f"still waiting ({now - started:.0f}s): {'; '.join(problems)}")
        await trio.sleep(0.2)


def _check_running(node: DevBroker, proc: trio.Process, when: str) -> None:
    if proc.returncode is not None:
        raise DevClusterError(
            f"broker {node.node_id} {describe_exit(proc.returncode)} {when}; "
            f"last log lines ({node.log_path}):\n  " + "\n  ".join(log_tail(node.log_path))
        )


async def _answers(directory: Path, node: DevBroker) -> bool:
    return await _topology(directory, node) is not None


async def _topology(directory: Path, node: DevBroker) -> dict[str, Any] | None:
    """The topology (as ``status --json`` shows it) from ``node``'s gateway; None if no answer."""
    from .client import Client, ClientError

    tls = gateway_tls(node.config)
    ca = str(directory / "certs" / "ca.pem") if tls else None
    try:
        async with Client(
            [node.describe(0)["gateway"]],
            ca=ca,
            insecure=not tls,
            connect_timeout=1.0,
            request_timeout=1.0,
        ) as client:
            return (await client.topology()).to_json()
    except ClientError:
        return None


def _serves(proc: trio.Process, node: DevBroker) -> bool:
    """Whether ``proc`` itself listens on the broker's gateway port (else: someone else does).

    Without /proc (not Linux) this cannot be told; the process must at least still run.
    """
    owner = listens_on(proc.pid, node.config.network.gateway_port)
    return proc.returncode is None if owner is None else owner


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a TCP socket listening on ``port``; None if unknown."""
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        return None
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local address "ADDR:PORT" in hex, state 0A = LISTEN, then the socket's inode
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError as exc:
        return [f"(cannot read the log: {exc.strerror})"]


async def _watch(nodes: Sequence[DevBroker], procs: Sequence[trio.Process], signals: Any) -> int:
    """Until Ctrl-C / SIGTERM (0), or until every broker has died (1); reports each death."""
    outcome = 0
    running = len(procs)

    async def watch(node: DevBroker, proc: trio.Process, scope: trio.CancelScope) -> None:
        nonlocal outcome, running
        await proc.wait()
        assert proc.returncode is not None
        print(
            f"dev-cluster: broker {node.node_id} (pid {proc.pid}) "
            f"{describe_exit(proc.returncode)}; log: {node.log_path}",
            file=sys.stderr,
            flush=True,
        )
        running -= 1
        if running == 0:
            print("dev-cluster: every broker has exited", file=sys.stderr, flush=True)
            outcome = 1
            scope.cancel()

    async with trio.open_nursery() as nursery:
        for node, proc in zip(nodes, procs, strict=True):
            nursery.start_soon(watch, node, proc, nursery.cancel_scope)
        async for _ in signals:
            break
        nursery.cancel_scope.cancel()
    return outcome


def _announce(
    directory: Path, nodes: list[DevBroker], procs: list[trio.Process], as_json: bool, prog: str
) -> None:
    described = [n.describe(p.pid) for n, p in zip(nodes, procs, strict=True)]
    if as_json:
        for d in described:
            print(json.dumps(d), flush=True)
        return
    tls = gateway_tls(nodes[0].config)
    brokers = "1 broker" if len(nodes) == 1 else f"{len(nodes)} brokers"
    print(f"trio_zeebe dev cluster: {brokers} up (data, configs, logs in {directory})")
    for d in described:
        print(
            f"  broker {d['node_id']}  pid {d['pid']}  gateway {d['gateway']}  "
            f"internal {d['internal']}  monitoring {d['monitoring']}"
        )
    print("connect with (zbctl, pyzeebe and this package's CLI read these):")
    for line in connect_exports(directory, described[0]["gateway"], tls):
        print(f"  {line}")
    print(f"  {prog} status")
    print("  zbctl status")
    print("Ctrl-C stops the cluster.", flush=True)


def connect_exports(directory: Path, gateway: str, tls: bool) -> list[str]:
    """``export`` lines that point Zeebe's clients (zbctl, pyzeebe, the Java/Go clients' env
    settings) and ours at the cluster without flags."""
    if tls:
        ca = (directory / "certs" / "ca.pem").resolve()
        return [
            f"export ZEEBE_ADDRESS={gateway} ZEEBE_CA_CERTIFICATE_PATH={ca}",
            f"export TRIO_ZEEBE_ADDRESS={gateway} TRIO_ZEEBE_CA_CERTIFICATE_PATH={ca}",
        ]
    return [
        f"export ZEEBE_ADDRESS={gateway} ZEEBE_INSECURE_CONNECTION=true",
        f"export TRIO_ZEEBE_ADDRESS={gateway} TRIO_ZEEBE_INSECURE_CONNECTION=1",
    ]


async def _stop_all(procs: list[trio.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    with trio.move_on_after(STOP_TIMEOUT):
        for proc in procs:
            await proc.wait()
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
