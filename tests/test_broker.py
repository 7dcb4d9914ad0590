"""The broker as users run it: embedded in trio, as a process, and through dev-cluster."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import trio
import trio.testing

from trio_zeebe.broker import Broker, StartupError
from trio_zeebe.client import Client, ConnectionFailed
from trio_zeebe.config import config_from_dict, load_config
from trio_zeebe.transport.tls import DevCerts

from .conftest import repo_root


def broker_dict(certs: DevCerts, tmp: Path, node_id: int = 0, **cluster: Any) -> dict[str, Any]:
    chain, key = certs.nodes[node_id]
    return {
        "cluster": {"node_id": node_id, **cluster},
        "network": {"internal_api": {"port": 0}, "gateway": {"port": 0}, "monitoring": {"port": 0}},
        "data": {"directory": str(tmp / f"data-{node_id}")},
        "security": {
            "certificate_authority": str(certs.ca),
            "certificate_chain": str(chain),
            "private_key": str(key),
        },
    }


async def test_embedded_broker_serves_topology_over_tls(
    dev_certs: DevCerts, tmp_path: Path
) -> None:
    config = config_from_dict(broker_dict(dev_certs, tmp_path))
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(Broker(config).run)
        assert broker.gateway is not None
        address = f"127.0.0.1:{broker.gateway.port}"
        async with Client([address], ca=str(dev_certs.ca), request_timeout=5) as client:
            topology = (await client.topology()).to_json()
        assert topology["cluster_size"] == 1
        assert [b["node_id"] for b in topology["brokers"]] == [0]
        assert topology["brokers"][0]["state"] == "alive"
        assert topology["brokers"][0]["gateway"] == address
        nursery.cancel_scope.cancel()
    # Stopped by cancellation: the port is closed again.
    with pytest.raises(ConnectionFailed):
        async with Client([address], ca=str(dev_certs.ca), connect_timeout=1) as client:
            await client.topology()


async def test_client_without_the_cluster_ca_is_refused_clearly(
    dev_certs: DevCerts, tmp_path: Path
) -> None:
    config = config_from_dict(broker_dict(dev_certs, tmp_path))
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(Broker(config).run)
        assert broker.gateway is not None
        async with Client([f"127.0.0.1:{broker.gateway.port}"], connect_timeout=2) as client:
            with pytest.raises(ConnectionFailed, match="certificate verification failed"):
                await client.topology()
        nursery.cancel_scope.cancel()


async def test_gateway_drops_junk_and_keeps_serving(dev_certs: DevCerts, tmp_path: Path) -> None:
    raw = broker_dict(dev_certs, tmp_path)
    raw["security"]["gateway"] = {"enabled": False}
    config = config_from_dict(raw)
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(Broker(config).run)
        assert broker.gateway is not None
        port = broker.gateway.port
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        junk = [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not HTTP/2
            b"TZGW\x00\x01\r\n\x00\x00\x00\x03abc",  # the old msgpack protocol
            preface + b"\x00\xff\xff\x04\x00\x00\x00\x00\x00",  # a frame above any limit
            preface + b"\x00\x00\x03\x09\x00\x00\x00\x00\x01abc",  # CONTINUATION first
        ]
        for data in junk:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(data)
            with trio.fail_after(5):  # the gateway closes the connection (FIN or RST)
                try:
                    while await stream.receive_some(1024):
                        pass
                except trio.BrokenResourceError:
                    pass
            await stream.aclose()
        async with Client([f"127.0.0.1:{port}"], insecure=True) as client:
            assert len((await client.topology()).brokers) == 1
        assert broker.gateway.server is not None
        assert broker.gateway.server.connections_served >= 2  # the valid HTTP/2 prefaces
        nursery.cancel_scope.cancel()


async def test_second_broker_on_a_data_directory_is_refused(
    dev_certs: DevCerts, tmp_path: Path
) -> None:
    """Two brokers on one directory would both lead and acknowledge, then find the log corrupt
    after a restart: the second one must not start at all."""
    first_config = config_from_dict(broker_dict(dev_certs, tmp_path))
    second_config = config_from_dict(broker_dict(dev_certs, tmp_path))  # same data directory
    data = tmp_path / "data-0"
    async with trio.open_nursery() as nursery:
        first: Broker = await nursery.start(Broker(first_config).run)
        assert first.gateway is not None
        with pytest.raises(StartupError) as refused:
            await nursery.start(Broker(second_config).run)
        assert str(refused.value) == (
            f"data.directory: {data} is in use by another broker (pid {os.getpid()})"
        )
        assert refused.value.exit_code == 2
        async with Client([f"127.0.0.1:{first.gateway.port}"], ca=str(dev_certs.ca)) as client:
            assert len((await client.topology()).brokers) == 1  # the first one serves on
        nursery.cancel_scope.cancel()
    # Stopped: the directory is free again.
    async with trio.open_nursery() as nursery:
        await nursery.start(Broker(second_config).run)
        nursery.cancel_scope.cancel()


async def test_simulated_brokers_sharing_a_disk_directory_are_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from trio_zeebe.testing.cluster import sim_config
    from trio_zeebe.testing.disk import SimDisk
    from trio_zeebe.testing.network import SimNetwork
    from trio_zeebe.transport.api import Peer

    disk, net = SimDisk(), SimNetwork(random.Random(5))
    config = sim_config(0, 1, 1, 1)

    def broker(address: str) -> Broker:
        endpoint = net.endpoint(Peer(0, address))
        return Broker(config, disk=disk, network=endpoint, serve_clients=False, incarnation=1)

    async with trio.open_nursery() as nursery:
        await nursery.start(broker(config.internal_address).run)
        with pytest.raises(StartupError, match=r"/data/broker-0 is in use by another broker"):
            await nursery.start(broker("other:26502").run)
        nursery.cancel_scope.cancel()


def _write_config(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "broker.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


@pytest.mark.slow
def test_broker_process_stops_gracefully_on_sigterm(dev_certs: DevCerts, tmp_path: Path) -> None:
    path = _write_config(tmp_path, broker_dict(dev_certs, tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_zeebe", "node", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait for the startup line, not for a fixed time
            if "broker 0 started" in line:
                break
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        rest = proc.stdout.read()
        assert "received SIGTERM" in rest and "Traceback" not in rest
    finally:
        proc.kill()


@pytest.mark.slow
def test_broker_process_reports_port_in_use(dev_certs: DevCerts, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        raw = broker_dict(dev_certs, tmp_path)
        raw["network"]["gateway"]["port"] = taken.getsockname()[1]
        path = _write_config(tmp_path, raw)
        proc = subprocess.run(
            [sys.executable, "-m", "trio_zeebe", "node", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert "network.gateway.port: port" in proc.stderr and "already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_broker_process_on_a_data_directory_in_use_exits_2(
    dev_certs: DevCerts, tmp_path: Path
) -> None:
    path = _write_config(tmp_path, broker_dict(dev_certs, tmp_path))
    first = subprocess.Popen(
        [sys.executable, "-m", "trio_zeebe", "node", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if "broker 0 started" in line:
                break
        second = subprocess.run(
            [sys.executable, "-m", "trio_zeebe", "node", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 2, second.stderr
        data = tmp_path / "data-0"
        assert f"data.directory: {data} is in use by another broker (pid {first.pid})" in (
            second.stderr
        )
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        assert first.poll() is None
    finally:
        first.kill()
        first.wait()


@pytest.mark.slow
def test_dev_cluster_starts_three_brokers_and_status_lists_them(tmp_path: Path) -> None:
    directory = tmp_path / "dc"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_zeebe", "dev-cluster", "--dir", str(directory), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=repo_root(),
    )
    try:
        assert proc.stdout is not None
        brokers = [json.loads(proc.stdout.readline()) for _ in range(3)]
        assert [b["node_id"] for b in brokers] == [0, 1, 2]
        for b in brokers:
            assert load_config(b["config"], environ={}).cluster.cluster_size == 3
        status_env = {**env, "TRIO_ZEEBE_CA_CERTIFICATE_PATH": str(directory / "certs" / "ca.pem")}
        deadline = time.monotonic() + 30
        while True:  # gossip needs a moment to spread every member to every broker
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "trio_zeebe",
                    "status",
                    "--json",
                    "--address",
                    brokers[2]["gateway"],
                ],
                capture_output=True,
                text=True,
                env=status_env,
                timeout=30,
            )
            # 1 (unhealthy) until every partition has a leader; the topology is printed anyway
            assert out.returncode in (0, 1) and "Traceback" not in out.stderr, out.stderr
            topology = json.loads(out.stdout)
            states = {b["node_id"]: b["state"] for b in topology["brokers"]}
            healthy = out.returncode == 0 and topology["problems"] == []
            if (healthy and states == {0: "alive", 1: "alive", 2: "alive"}) or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(0.2)
        assert out.returncode == 0, out.stderr
        assert states == {0: "alive", 1: "alive", 2: "alive"}
        assert {b["gateway"] for b in topology["brokers"]} == {b["gateway"] for b in brokers}
        assert (topology["cluster_size"], topology["partitions_count"]) == (3, 3)
        log = (directory / "broker-0.log").read_text()
        assert "(mutual TLS" in log
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


async def test_gateway_can_require_client_certificates(dev_certs: DevCerts, tmp_path: Path) -> None:
    raw = broker_dict(dev_certs, tmp_path)
    raw["security"]["gateway"] = {"client_auth": True}
    config = config_from_dict(raw)
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(Broker(config).run)
        assert broker.gateway is not None
        address = [f"127.0.0.1:{broker.gateway.port}"]
        ca = str(dev_certs.ca)
        with pytest.raises(ConnectionFailed):  # no client certificate: the handshake fails
            async with Client(address, ca=ca, connect_timeout=2, request_timeout=2) as client:
                await client.topology()
        cert, key = (str(p) for p in dev_certs.client)
        async with Client(address, ca=ca, cert=cert, key=key) as client:
            assert len((await client.topology()).brokers) == 1
        nursery.cancel_scope.cancel()
