"""Long start-up work is not silent: a restarted broker says it restores its snapshot and
replays the log after it (entries done of total, then a final line with the records applied),
and a follower says how much of a leader's snapshot it has received."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_zeebe import logs
from trio_zeebe.broker import Broker
from trio_zeebe.client import Client
from trio_zeebe.config import config_from_dict
from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.testing.network import LinkFaults
from trio_zeebe.testing.raft_group import SimRaftGroup, wait_until
from trio_zeebe.transport.tls import DevCerts

from .test_broker import broker_dict

BEFORE_SNAPSHOT, AFTER_SNAPSHOT = 500, 2500


async def serving(broker: Broker) -> None:
    assert broker.partitions is not None
    with trio.fail_after(20):
        while not (  # noqa: ASYNC110 - a real broker on real time
            (p := broker.partitions.processor(1)) is not None and p.serving
        ):
            await trio.sleep(0.02)


async def create_jobs(address: str, ca: str, count: int) -> None:
    async with Client([address], ca=ca, request_timeout=30) as client:

        async def create(first: int) -> None:
            for i in range(first, count, 50):
                await client.create_job("replay", variables={"i": i})

        async with trio.open_nursery() as nursery:
            for first in range(50):  # concurrent: the gateway batches them into entries
                nursery.start_soon(create, first)


@pytest.mark.slow
async def test_restart_restores_the_snapshot_then_replays_with_progress(
    dev_certs: DevCerts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_from_dict(broker_dict(dev_certs, tmp_path, partitions_count=1))
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(Broker(config).run)
        await serving(broker)
        assert broker.gateway is not None and broker.partitions is not None
        address = f"127.0.0.1:{broker.gateway.port}"
        await create_jobs(address, str(dev_certs.ca), BEFORE_SNAPSHOT)
        processor = broker.partitions.processor(1)
        assert processor is not None
        await processor.take_snapshot()
        snapshot_at = processor.applied_index
        await create_jobs(address, str(dev_certs.ca), AFTER_SNAPSHOT)
        last = processor.applied_index
        nursery.cancel_scope.cancel()
    entries = last - snapshot_at
    assert entries > 20  # enough for several progress lines
    # A line every `every` entries (by time alone a fast replay would show only the last).
    monkeypatch.setattr(logs, "PROGRESS_EVERY", entries // 4)
    out = io.StringIO()
    logs.setup_logging("INFO", "json", node=0, stream=out)
    try:
        async with trio.open_nursery() as nursery:
            broker = await nursery.start(Broker(config).run)
            await serving(broker)
            nursery.cancel_scope.cancel()
    finally:
        logging.getLogger().removeHandler(logs.setup_logging(stream=io.StringIO()))
        logging.getLogger().setLevel(logging.WARNING)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    lines = [
        r for r in records if "restoring the snapshot" in r["message"] or "replay" in r["message"]
    ]
    messages = [r["message"] for r in lines]
    assert all(r["partition"] == 1 and r["node"] == 0 for r in lines)  # tagged, as JSON
    assert re.fullmatch(
        rf"partition 1: restoring the snapshot at index {snapshot_at}: [\d.]+ (B|KiB|MiB)",
        messages[0],
    ), messages
    assert re.fullmatch(
        rf"partition 1: restoring the snapshot at index {snapshot_at}: done, .* in [\d.]+s.*",
        messages[1],
    ), messages
    begin = re.fullmatch(
        rf"partition 1: replaying the log: ([\d,]+) entries after index {snapshot_at}", messages[2]
    )
    assert begin, messages
    # What the log held at start-up; a lone voter may have appended its new term's no-op.
    total = int(begin[1].replace(",", ""))
    assert total in (entries, entries + 1)
    progress = messages[3:-1]
    assert len(progress) >= 3, messages
    done = [int(m.split(": ")[2].split(" of ")[0].replace(",", "")) for m in progress]
    assert done == sorted(done) and done[-1] <= total
    assert all(f" of {total:,} entries (" in m and " entries/s" in m for m in progress)
    assert re.fullmatch(
        rf"partition 1: replaying the log: done, {total:,} entries in [\d.]+s \(.*\); "
        rf"{AFTER_SNAPSHOT:,} records applied",
        messages[-1],
    ), messages[-1]


async def test_a_follower_reports_receiving_a_snapshot(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "PROGRESS_EVERY", 1024)  # bytes: a line per few chunks
    caplog.set_level(logging.INFO, "trio_zeebe.raft")
    config = RaftConfig(
        heartbeat_interval=0.1, election_timeout=1.0, retain_entries=5, snapshot_chunk_size=256
    )
    group = SimRaftGroup(
        41,
        3,
        config=config,
        segment_bytes=2048,
        machines=True,
    )
    machines = group.machines
    async with trio.open_nursery() as nursery:
        await nursery.start(group.run)
        leader = await group.wait_for_leader(10)
        lagging = next(n for n in range(3) if n != leader)
        group.crash(lagging, power_loss=False)
        for i in range(300):
            await group.propose(b"record-%03d" % i)
        await wait_until(lambda: len(machines[leader].records) == 300, 10)
        await machines[leader].snapshot()
        group.net.set_faults(
            LinkFaults(drop=0.2), group.addresses[leader], group.addresses[lagging]
        )
        caplog.clear()
        await group.start(lagging)
        await wait_until(lambda: machines[lagging].records == machines[leader].records, 60)
        info = group.drivers[leader].snapshots.latest()
        assert info is not None
        nursery.cancel_scope.cancel()
    what = f"partition 1: receiving the snapshot at index {info.index}"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(what)]
    size = logs.ProgressReporter(logging.getLogger("x"), "", unit="bytes")._amount(info.size)
    assert lines[0] == f"{what}: {size} from node {leader}"
    progress = lines[1:-1]
    assert progress and all(f" of {size} (" in line for line in progress), lines
    assert re.fullmatch(rf"{re.escape(what)}: done, {re.escape(size)} in .*; \d+ chunks", lines[-1])
