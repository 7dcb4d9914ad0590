"""pyzeebe (the Python Zeebe client, on grpcio's asyncio API) against a real three-broker
cluster over h2c: a process deployed by zbctl runs to completion with a pyzeebe worker (polling
and job streaming), and a kill -9 of a partition leader mid-run loses no instance: every
acknowledged one completes after failover."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from trio_zeebe.client import ClientError, Job, Unavailable
from trio_zeebe.testing.processes import Brokers

from .conftest import ZBCTL, client_for, leaders, order_bpmn, wait_ready

pyzeebe = pytest.importorskip("pyzeebe")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
WORKER = Path(__file__).with_name("pyzeebe_worker.py")


@contextmanager
def pyzeebe_worker(
    brokers: Brokers, node: int, task_type: str, *flags: str, tolerate_not_found: bool = False
) -> Iterator[None]:
    """A pyzeebe worker process; it must log no traceback, except (``tolerate_not_found``)
    pyzeebe's JobNotFoundError for a completion the gateway retried after a leader died (the
    first attempt had applied it: Zeebe's NOT_FOUND)."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), brokers.gateways[node], task_type, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        text = out or ""
        if tolerate_not_found:
            text = "\n".join(
                block
                for block in text.split("Error in job executor.")
                if "JobNotFoundError" not in block
            )
        assert "Traceback" not in text, out


def deploy(brokers: Brokers, bpmn: Path) -> None:
    if ZBCTL is not None:  # as a Zeebe user would
        subprocess.run(
            [ZBCTL, "deploy", str(bpmn), "--insecure", "--address", brokers.gateways[0]],
            check=True,
            capture_output=True,
            timeout=60,
        )
    else:

        async def with_client() -> None:
            async with client_for(brokers) as c:
                await c.deploy_resource(str(bpmn))

        anyio.run(with_client, backend="trio")


async def run_instances(
    brokers: Brokers,
    process: str,
    confirm: str,
    count: int,
    during: Any = None,
) -> tuple[list[int], dict[int, dict[str, Any]], int]:
    """Create ``count`` instances (8 in flight) while a confirming worker (ours) records the
    instances that reached the last task; ``during(created)`` runs when half are created.
    Returns (acknowledged instance keys, confirmed key -> variables, unknown outcomes)."""
    acked: list[int] = []
    unknown = 0
    confirmed: dict[int, dict[str, Any]] = {}

    async def record(job: Job) -> None:
        confirmed[job.process_instance_key] = job.variables

    async with client_for(brokers, 1) as c, c.worker(confirm, record, timeout=5.0):
        numbers = iter(range(count))

        async def creator() -> None:
            nonlocal unknown
            for n in numbers:
                while True:
                    try:
                        acked.append(
                            (
                                await c.create_process_instance(process, variables={"n": n})
                            ).process_instance_key
                        )
                        break
                    except Unavailable as exc:
                        if "may or may not" in str(exc) or "outcome unknown" in str(exc):
                            unknown += 1
                            break
                        await anyio.sleep(0.1)
                    except ClientError:  # back-pressure, all partitions failed: try again
                        await anyio.sleep(0.1)

        with anyio.fail_after(150):
            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(creator)
                if during is not None:
                    while len(acked) < count // 2:  # noqa: ASYNC110 - counted by other tasks
                        await anyio.sleep(0.01)
                    await during(acked)
            while not set(acked) <= set(confirmed):  # noqa: ASYNC110 - filled by the worker
                await anyio.sleep(0.05)
    return acked, confirmed, unknown


@pytest.mark.parametrize("stream", [False, True], ids=["polling", "streaming"])
def test_a_pyzeebe_worker_runs_a_zbctl_deployed_process(
    h2c_cluster: Brokers, tmp_path: Path, stream: bool
) -> None:
    tag = "stream" if stream else "poll"
    process, work, confirm = f"pz-{tag}", f"pz-{tag}-work", f"pz-{tag}-confirm"
    bpmn = tmp_path / "pz.bpmn"
    bpmn.write_bytes(order_bpmn(process, work, confirm))
    deploy(h2c_cluster, bpmn)
    flags = ("--stream",) if stream else ()
    with pyzeebe_worker(h2c_cluster, 2, work, *flags):
        acked, confirmed, unknown = anyio.run(
            run_instances, h2c_cluster, process, confirm, 30, backend="trio"
        )
    assert unknown == 0 and len(set(acked)) == 30
    assert {k >> 51 for k in acked} == {1, 2, 3}
    # pyzeebe's handler result became the instance's variables.
    assert all(confirmed[k]["worked"] == confirmed[k]["n"] for k in acked)


def test_kill_9_of_a_partition_leader_mid_run_loses_no_instance(
    h2c_cluster: Brokers, tmp_path: Path
) -> None:
    brokers = h2c_cluster
    process, work, confirm = "pz-kill", "pz-kill-work", "pz-kill-confirm"
    bpmn = tmp_path / "kill.bpmn"
    bpmn.write_bytes(order_bpmn(process, work, confirm))
    deploy(brokers, bpmn)
    killed: list[int] = []

    async def kill_a_leader(created: list[int]) -> None:
        # A partition leader that is not the pyzeebe worker's gateway (0): pyzeebe logs a
        # traceback for a call cut off by its own gateway's death. Node 2 when it leads one.
        current = await leaders(brokers)
        candidates = [n for n in (2, 1) if n in current.values()]
        assert candidates, f"broker 0 leads every partition: {current}"
        victim = candidates[0]
        pid = min(p for p, n in current.items() if n == victim)
        brokers.kill(victim)
        killed.append(victim)
        with anyio.fail_after(30):
            while (await leaders(brokers, 3 - victim)).get(pid) in (None, victim):  # noqa: ASYNC110
                await anyio.sleep(0.05)
        brokers.start(victim)

    # The worker uses gateway 0, the confirming client starts at gateway 1 (and fails over).
    with pyzeebe_worker(brokers, 0, work, tolerate_not_found=True):
        acked, confirmed, unknown = anyio.run(
            run_instances, brokers, process, confirm, 120, kill_a_leader, backend="trio"
        )
    anyio.run(wait_ready, brokers, backend="trio")
    print(f"kill -9 of node {killed}: {len(acked)} instances acknowledged, {unknown} unknown")
    assert killed and len(acked) + unknown == 120 and len(acked) >= 100
    assert len(set(acked)) == len(acked)
    assert set(acked) <= set(confirmed)  # every acknowledged instance reached its end
