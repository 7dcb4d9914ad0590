"""zbctl 8.4 (Zeebe's own CLI, a grpc-go client) against a real three-broker cluster: status,
deploy, create instance (and --withResult), activate jobs, complete job, fail job, cancel
instance; over h2c (``--insecure``) and over TLS (``--certPath``).

zbctl ships in the npm package ``zbctl``: ``nox -s tests`` installs it when npm is on PATH
(``npm install --prefix .nox/zbctl zbctl@8.4.1``); without it these tests are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from trio_zeebe.testing.processes import Brokers

from .conftest import PARTITIONS, ZBCTL, order_bpmn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(ZBCTL is None, reason="zbctl is not on PATH (npm i zbctl@8.4.1)"),
]


def zbctl(brokers: Brokers, *args: str, node: int = 0) -> subprocess.CompletedProcess[str]:
    assert ZBCTL is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEEBE_")}
    if brokers.tls:
        connect = ["--address", f"localhost:{brokers.gateways[node].rpartition(':')[2]}"]
        connect += ["--certPath", brokers.ca]
    else:
        connect = ["--insecure", "--address", brokers.gateways[node]]
    return subprocess.run(
        [ZBCTL, *args, *connect], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def jobs_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    out = ok(result).strip()
    return json.loads(out)["jobs"] if out else []  # type: ignore[no-any-return]


@pytest.mark.parametrize("security", ["h2c", "tls"])
def test_zbctl_runs_a_process(
    security: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    brokers: Brokers = request.getfixturevalue(f"{security}_cluster")
    process, work = f"zbctl-{security}", f"zbctl-{security}-work"
    # A gossip round on a loaded machine can leave a broker suspect for a moment: like an
    # operator waiting for a healthy cluster, ask again (at most 30 s) until it is whole.
    expected = [f"Broker {n} - {brokers.loaded[n].internal_address}" for n in range(3)]
    deadline = time.monotonic() + 30
    while True:
        status = ok(zbctl(brokers, "status", node=1))
        whole = all(line in status for line in expected)
        healthy = status.count(": Leader, Healthy") + status.count(": Follower, Healthy")
        if (whole and healthy == 3 * PARTITIONS) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "Cluster size: 3" in status and f"Partitions count: {PARTITIONS}" in status
    assert "Replication factor: 3" in status
    for line in expected:
        assert line in status
    assert status.count(": Leader, Healthy") == PARTITIONS
    assert status.count(": Follower, Healthy") == 2 * PARTITIONS

    bpmn = tmp_path / "order.bpmn"
    bpmn.write_bytes(order_bpmn(process, work, work))
    deployed = json.loads(ok(zbctl(brokers, "deploy", str(bpmn))))
    [meta] = deployed["processes"]  # zbctl 8.4 deploys with DeployProcess
    assert (meta["bpmnProcessId"], meta["version"]) == (process, 1)

    created = json.loads(
        ok(zbctl(brokers, "create", "instance", process, "--variables", '{"n": 1}', node=2))
    )
    assert created["bpmnProcessId"] == process and created["version"] == 1
    instance = created["processInstanceKey"]

    [job] = jobs_of(zbctl(brokers, "activate", "jobs", work, "--maxJobsToActivate", "5"))
    assert job["processInstanceKey"] == instance and job["elementId"] == "work"
    assert json.loads(job["variables"]) == {"n": 1} and job["retries"] == 3
    failed = ok(
        zbctl(brokers, "fail", "job", job["key"], "--retries", "2", "--errorMessage", "try again")
    )
    assert f"Failed job with key '{job['key']}' and set remaining retries to '2'" in failed
    [again] = jobs_of(zbctl(brokers, "activate", "jobs", work))
    assert again["key"] == job["key"] and again["retries"] == 2
    done = ok(zbctl(brokers, "complete", "job", again["key"], "--variables", '{"paid": true}'))
    assert f"Completed job with key '{again['key']}'" in done
    [confirm] = jobs_of(zbctl(brokers, "activate", "jobs", work))  # the second task
    assert confirm["processInstanceKey"] == instance and confirm["elementId"] == "confirm"
    ok(zbctl(brokers, "complete", "job", confirm["key"]))

    # --withResult answers once the instance has completed.
    results: list[subprocess.CompletedProcess[str]] = []
    waiter = threading.Thread(
        target=lambda: results.append(
            zbctl(brokers, "create", "instance", process, "--withResult", "--requestTimeout", "30s")
        )
    )
    waiter.start()
    for step in range(2):
        found: list[dict[str, Any]] = []
        for _ in range(10):
            found = jobs_of(zbctl(brokers, "activate", "jobs", work, "--requestTimeout", "5s"))
            if found:
                break
        [task] = found
        ok(zbctl(brokers, "complete", "job", task["key"], "--variables", json.dumps({"s": step})))
    waiter.join(40)
    [result] = results
    assert json.loads(json.loads(ok(result))["variables"]) == {"s": 1}

    # cancel instance: its job is gone with it.
    other = json.loads(ok(zbctl(brokers, "create", "instance", process)))["processInstanceKey"]
    canceled = ok(zbctl(brokers, "cancel", "instance", other))
    assert f"Canceled process instance with key '{other}'" in canceled
    assert jobs_of(zbctl(brokers, "activate", "jobs", work, "--requestTimeout", "1s")) == []
    gone = zbctl(brokers, "cancel", "instance", other)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
