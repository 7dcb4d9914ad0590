"""``dev-cluster`` and ``status`` against real broker processes: a broker that does not come up
fails the start (even when something else answers on its port), a broker that dies later is
reported, and ``status`` shows one leader per partition and exits 1 while a broker is dead."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trio_zeebe.devcluster import listens_on
from trio_zeebe.testing.processes import FAST_MEMBERSHIP, FAST_RAFT

from .conftest import repo_root

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", **FAST_MEMBERSHIP, **FAST_RAFT}


def status(gateway: str, directory: Path) -> tuple[int, dict[str, Any], str]:
    out = subprocess.run(
        [sys.executable, "-m", "trio_zeebe", "status", "--json", "--address", gateway],
        capture_output=True,
        text=True,
        env={**ENV, "TRIO_ZEEBE_CA_CERTIFICATE_PATH": str(directory / "certs" / "ca.pem")},
        timeout=30,
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, json.loads(out.stdout) if out.stdout else {}, out.stderr


def leaders(topology: dict[str, Any]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for b in topology.get("brokers", []):
        for p in b["partitions"]:
            if p["role"] == "leader":
                found.setdefault(p["partition_id"], []).append(b["node_id"])
    return found


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_dev_cluster_and_status_tell_the_truth(tmp_path: Path) -> None:
    directory = tmp_path / "dc"
    command = [sys.executable, "-m", "trio_zeebe", "dev-cluster", "--dir", str(directory)]
    first = subprocess.Popen(
        [*command, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=repo_root(),
    )
    try:
        assert first.stdout is not None
        brokers = [json.loads(first.stdout.readline()) for _ in range(3)]
        gateway = brokers[2]["gateway"]

        # The same directory again: the first cluster's brokers answer on every port, but the
        # new brokers cannot start (their data directories are taken). Not "3 brokers up".
        second = subprocess.run(
            command, capture_output=True, text=True, env=ENV, cwd=repo_root(), timeout=40
        )
        assert second.returncode == 1, (second.stdout, second.stderr)
        assert "brokers up" not in second.stdout
        assert re.search(
            r"^dev-cluster: broker \d exited with code 2 before its gateway answered; "
            r"last log lines \(.*broker-\d\.log\):$",
            second.stderr,
            re.M,
        ), second.stderr
        assert "is in use by another broker (pid " in second.stderr
        assert first.poll() is None  # the first cluster is untouched

        deadline = time.monotonic() + 30
        while True:  # healthy once every partition has a leader everyone knows
            code, topology, _ = status(gateway, directory)
            if code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert code == 0 and topology["problems"] == []
        victim = leaders(topology)[1][0]
        pid = next(b["pid"] for b in brokers if b["node_id"] == victim)
        gateway = next(b["gateway"] for b in brokers if b["node_id"] != victim)
        os.kill(pid, signal.SIGKILL)

        deadline = time.monotonic() + 30
        while True:
            code, topology, err = status(gateway, directory)
            # Never two leaders: the dead broker's last gossip (an older term) is history.
            assert all(len(nodes) <= 1 for nodes in leaders(topology).values()), topology
            if f"broker {victim} is dead" in err or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert code == 1
        assert err.startswith("status: unhealthy: ") and f"broker {victim} is dead" in err
        assert topology["problems"] and len(topology["brokers"]) == 3  # still all printed

        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=30)
        assert first.returncode == 0
        assert f"dev-cluster: broker {victim} (pid {pid}) was killed by SIGKILL" in stderr
    finally:
        first.kill()
        first.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_listens_on_tells_whose_socket_a_port_is() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        assert listens_on(os.getpid(), port) is False  # bound, not listening
        listener.listen()
        assert listens_on(os.getpid(), port) is True
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert listens_on(other.pid, port) is False  # someone else's port
        finally:
            other.kill()
            other.wait()
    assert listens_on(os.getpid(), port) is False
