"""``dev-cluster`` says what it waits for (each broker as it comes up, then each partition as it
gets a leader) on stderr, announces on stdout only once the cluster is ready (``--json``
unchanged), and ``--log-format json`` reaches the brokers' log files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from trio_zeebe.testing.processes import FAST_MEMBERSHIP, FAST_RAFT

from .conftest import repo_root


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_dev_cluster_progress_and_json_broker_logs(tmp_path: Path) -> None:
    directory = tmp_path / "dc"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **FAST_MEMBERSHIP, **FAST_RAFT}
    env.pop("TRIO_ZEEBE_LOG_FORMAT", None)
    command = [sys.executable, "-m", "trio_zeebe", "dev-cluster", "--dir", str(directory)]
    flags = ["--brokers", "2", "--partitions", "2", "--replication-factor", "1", "--json"]
    proc = subprocess.Popen(
        [*command, *flags, "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=repo_root(),
    )
    try:
        assert proc.stdout is not None
        announced = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert [b["node_id"] for b in announced] == [0, 1]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert out == ""  # nothing but the two JSON lines, even with progress going on
    progress = [line for line in err.splitlines() if line.startswith("dev-cluster: ")]
    assert progress[0] == f"dev-cluster: starting 2 brokers (logs: {directory}/broker-N.log)"
    up = [line for line in progress if " is up (pid " in line]
    assert len(up) == 2 and sum("; waiting for broker " in line for line in up) == 1
    waiting = progress.index(
        "dev-cluster: all 2 brokers up; waiting for a leader of each of 2 partitions"
    )
    assert progress.index(up[1]) < waiting
    led = sorted(line for line in progress if " leads (term " in line)
    assert [line.split(":")[1].strip() for line in led] == ["partition 1", "partition 2"]
    assert progress.index("dev-cluster: cluster ready: every partition has a leader") > waiting
    # The brokers log JSON lines, each tagged with its node (and partition where it concerns one).
    for node in (0, 1):
        records = [
            json.loads(line) for line in (directory / f"broker-{node}.log").read_text().splitlines()
        ]
        assert records and all(r["node"] == node for r in records)
        assert any(r.get("partition") for r in records)
