"""``python -m trio_zeebe job ...`` against a real broker over TLS (port 0): create, long-poll
activate, complete, fail, with --json; errors are one line with exit 1, bad usage exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import trio

from trio_zeebe.broker import Broker
from trio_zeebe.config import config_from_dict
from trio_zeebe.transport.tls import DevCerts

from ..conftest import repo_root
from ..test_broker import broker_dict


async def cli(address: str, certs: DevCerts, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    command = [sys.executable, "-m", "trio_zeebe", "job", *args]
    command += ["--address", address, "--ca", str(certs.ca)]
    return await trio.run_process(
        command, capture_stdout=True, capture_stderr=True, check=False, env=env
    )


async def test_job_commands_over_tls(dev_certs: DevCerts, tmp_path: Path) -> None:
    raw = broker_dict(dev_certs, tmp_path, partitions_count=2)
    config = config_from_dict(raw)
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(Broker(config).run)
        assert broker.gateway is not None and broker.partitions is not None
        with trio.fail_after(20):
            while not all(  # noqa: ASYNC110 - real broker, real time
                (p := broker.partitions.processor(pid)) is not None and p.serving for pid in (1, 2)
            ):
                await trio.sleep(0.05)
        address = f"127.0.0.1:{broker.gateway.port}"
        polled: list[subprocess.CompletedProcess[bytes]] = []

        async def long_poll() -> None:
            polled.append(
                await cli(
                    address,
                    dev_certs,
                    "activate",
                    "cli",
                    "--worker",
                    "w1",
                    "--max-jobs",
                    "5",
                    "--timeout",
                    "5m",
                    "--request-timeout",
                    "30s",
                    "--json",
                )
            )

        async with trio.open_nursery() as polls:
            polls.start_soon(long_poll)
            await trio.sleep(1.0)  # the poll is waiting: nothing to activate yet
            assert polled == []
            created = await cli(
                address,
                dev_certs,
                "create",
                "cli",
                "--retries",
                "2",
                "--variables",
                '{"n": 1}',
                "--headers",
                '{"h": "v"}',
                "--json",
            )
            assert created.returncode == 0, created.stderr
            key = json.loads(created.stdout)["key"]
        activated = polled[0]
        assert activated.returncode == 0, activated.stderr
        jobs = json.loads(activated.stdout)["jobs"]
        assert [(j["key"], j["worker"], j["variables"], j["custom_headers"]) for j in jobs] == [
            (key, "w1", {"n": 1}, {"h": "v"})
        ]

        done = await cli(
            address, dev_certs, "complete", str(key), "--variables", '{"r": 2}', "--json"
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["result"] == "completed"
        again = await cli(address, dev_certs, "complete", str(key))
        assert again.returncode == 1 and again.stdout == b""
        assert again.stderr.count(b"\n") == 1 and b": NOT_FOUND: " in again.stderr

        second = await cli(address, dev_certs, "create", "cli")
        assert second.returncode == 0 and second.stdout.startswith(b"created job ")
        key2 = int(second.stdout.split()[2])
        failed = await cli(
            address,
            dev_certs,
            "fail",
            str(key2),
            "--retries",
            "0",
            "--message",
            "no luck",
            "--backoff",
            "10s",
            "--json",
        )
        assert failed.returncode == 0, failed.stderr
        assert json.loads(failed.stdout) == {
            "key": key2,
            "partition_id": key2 >> 51,
            "result": "failed",
        }
        processor = broker.partitions.processor(key2 >> 51)
        assert processor is not None
        job = processor.machine.jobs()[key2]  # type: ignore[attr-defined]
        assert (job.state, job.retries, job.error_message) == ("FAILED", 0, "no luck")

        empty = await cli(
            address, dev_certs, "activate", "none", "--worker", "w", "--request-timeout", "0.2s"
        )
        assert empty.returncode == 0 and b"activated 0 job(s)" in empty.stdout
        usage = await cli(address, dev_certs, "create", "cli", "--variables", "not json")
        assert usage.returncode == 2 and b"--variables" in usage.stderr
        nursery.cancel_scope.cancel()
