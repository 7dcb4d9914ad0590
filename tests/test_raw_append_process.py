"""A real broker process refuses poison raw records on its process engine partition and keeps
serving.

Before the processor owned its framing, ``append(1, [[1, 1e300, ["e.tick", ...]]])`` forged the
leader's clock, and a record with a string stamp made the partition restart forever, even
across a broker restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from trio_zeebe import codec
from trio_zeebe.client import InvalidState, NotFound
from trio_zeebe.testing.processes import FAST_RAFT, Brokers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

POISON = [
    codec.packb([1, 1e300, ["e.tick", {"now": 1.0}]]),
    codec.packb([1, "a string stamp", b"\x92\xa8e.create\x81\xa4type\xa1x"]),
    codec.packb([1, 1.0, ["e.create", {b"type": "x"}]]),
]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Brokers]:
    cluster = Brokers(tmp_path / "dc", brokers=1, partitions=1, env=FAST_RAFT)
    try:
        yield cluster
    finally:
        cluster.stop_all()


async def wait_for_leader(brokers: Brokers, limit: float = 30) -> None:
    with trio.fail_after(limit):
        while True:
            topology = await brokers.topology(0)
            roles = [p.role for b in topology.brokers for p in b.partitions] if topology else []
            if roles == ["leader"]:
                return
            brokers.check_running()
            await trio.sleep(0.05)


async def test_poison_raw_records_are_refused_and_the_partition_keeps_serving(
    broker: Brokers,
) -> None:
    broker.start(0)
    await wait_for_leader(broker)
    async with broker.client(0, timeout=10) as client:
        for record in POISON:
            with pytest.raises(InvalidState, match="partition 1 runs the process engine"):
                await client.append(1, [record])
        key = await client.create_job("poison-check")
        [leased] = await client.activate_jobs("poison-check", worker="w1", timeout=1.0)
        assert leased.key == key
        # The lease ends by the leader's clock; the long poll wakes when it does.
        started = time.monotonic()
        [again] = await client.activate_jobs("poison-check", worker="w2", request_timeout=20)
        assert again.key == key and again.worker == "w2"
        assert time.monotonic() - started < 15
    # A restart replays the log: still serving, the job still there.
    broker.terminate_all()
    broker.start(0)
    await wait_for_leader(broker)
    async with broker.client(0, timeout=10) as client:
        await client.complete_job(key)
        with pytest.raises(NotFound):  # completed: gone
            await client.complete_job(key)
    broker.terminate_all()
    log = broker.log(0)
    assert "Traceback" not in log and "restarting" not in log, log[-3000:]
