"""The broker's clock-offset test hook: a real broker process stamps its records with the wall
clock plus the offset in the file the environment names, and follows changes while it runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from trio_zeebe import wallclock as clock_offset
from trio_zeebe.testing.processes import Brokers


def test_the_offset_file_is_read_forgivingly(tmp_path: Path) -> None:
    path = tmp_path / "offset"
    assert clock_offset.read_offset(path) == 0.0  # absent
    clock_offset.write_offset(path, -42.5)
    assert clock_offset.read_offset(path) == -42.5
    for junk in ("", "soon", "nan", "inf"):
        path.write_text(junk)
        assert clock_offset.read_offset(path) == 0.0


async def test_the_clock_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "offset"
    clock_offset.write_offset(path, 100.0)
    clock = clock_offset.from_environment({clock_offset.ENV_VAR: str(path)})
    assert clock is not None
    assert abs(clock() - (time.time() + 100.0)) < 1.0  # read at once
    clock_offset.write_offset(path, -100.0)
    await clock.refresh()
    assert abs(clock() - (time.time() - 100.0)) < 1.0
    assert clock_offset.from_environment({}) is None


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_broker_process_stamps_jobs_with_its_skewed_clock(tmp_path: Path) -> None:
    brokers = Brokers(tmp_path / "dc", brokers=1)
    offset_file = tmp_path / "offset"
    clock_offset.write_offset(offset_file, 1000.0)
    brokers.start(0, **{clock_offset.ENV_VAR: str(offset_file)})
    try:
        await brokers.wait_all_alive(30)
        async with brokers.client(0, timeout=10) as client:

            async def lease_end(job_type: str) -> float:
                await client.create_job(job_type)
                (job,) = await client.activate_jobs(
                    job_type, worker="w", timeout=10, request_timeout=5
                )
                assert job.deadline is not None
                return job.deadline - time.time() - 10  # the broker's clock offset

            assert abs(await lease_end("a") - 1000.0) < 5.0
            clock_offset.write_offset(offset_file, 2000.0)  # while it runs
            with trio.fail_after(20):
                n = 0
                while abs(await lease_end(f"b{n}") - 2000.0) >= 5.0:
                    n += 1
                    await trio.sleep(0.05)
        assert "TEST HOOK" in brokers.log(0)
    finally:
        brokers.stop_all()
