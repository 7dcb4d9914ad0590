"""Logs an operator can use: JSON lines a collector parses (UTC time, level, logger, node,
partition from the record or the task, exception text), text lines with the UTC offset, and
progress lines for long start-up work (done of total, rate, time left, a final line)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import trio
import trio.lowlevel

from trio_zeebe.logs import (
    PartitionLogger,
    ProgressReporter,
    log_context,
    setup_logging,
)
from trio_zeebe.transport.tls import DevCerts

from .test_broker import broker_dict

UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """Logging set up into a buffer; the root logger's level and our handler restored after."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    yield buffer
    handler = setup_logging("INFO", "text", stream=io.StringIO())
    root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_node_and_message(out: io.StringIO) -> None:
    setup_logging("INFO", "json", node=2, stream=out)
    before = datetime.now(UTC)
    logging.getLogger("trio_zeebe.test").warning("disk at %d%%\nsecond line", 93)
    logging.getLogger("trio_zeebe.test").debug("below the level")
    (record,) = lines(out)
    assert out.getvalue().count("\n") == 1  # the newline in the message is escaped
    assert set(record) == {"time", "level", "logger", "node", "message"}
    assert record["level"] == "WARNING" and record["logger"] == "trio_zeebe.test"
    assert record["node"] == 2 and record["message"] == "disk at 93%\nsecond line"
    assert UTC_STAMP.match(record["time"]), record["time"]
    stamp = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC)


def test_json_partition_from_extra_adapter_and_task_context(out: io.StringIO) -> None:
    setup_logging("INFO", "json", node=0, stream=out)
    log = logging.getLogger("trio_zeebe.raft")
    log.info("no partition")
    log.info("with extra", extra={"partition": 3})
    PartitionLogger(log, 4).info("adapter", extra={"detail": "kept"})
    with log_context(partition=5):
        log.info("context")
        log.info("extra wins over context", extra={"partition": 6})
    log.info("context left")
    got = [(r["message"], r.get("partition")) for r in lines(out)]
    assert got == [
        ("no partition", None),
        ("with extra", 3),
        ("adapter", 4),
        ("context", 5),
        ("extra wins over context", 6),
        ("context left", None),
    ]
    assert "partition" not in lines(out)[0]


async def test_partition_context_reaches_the_tasks_a_partition_starts(out: io.StringIO) -> None:
    """Set once where a partition's task tree starts, the tag is on what its children log, and
    only theirs (a simulation runs many nodes in one process: the node tag works alike)."""
    setup_logging("INFO", "json", stream=out)
    log = logging.getLogger("trio_zeebe.processing")

    async def child(name: str) -> None:
        await trio.lowlevel.checkpoint()
        log.info(name)

    async def partition(node: int, pid: int) -> None:
        with log_context(node=node, partition=pid):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(child, f"child of {node}/{pid}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partition, 1, 2)
        nursery.start_soon(partition, 2, 7)
        nursery.start_soon(child, "outside")
    got = {r["message"]: (r.get("node"), r.get("partition")) for r in lines(out)}
    assert got == {"child of 1/2": (1, 2), "child of 2/7": (2, 7), "outside": (None, None)}


def test_json_exception_is_the_formatted_traceback(out: io.StringIO) -> None:
    setup_logging("INFO", "json", node=1, stream=out)

    def fail() -> None:
        raise RuntimeError("segment 7 unreadable")

    try:
        fail()
    except RuntimeError:
        logging.getLogger("trio_zeebe.log").exception("partition %d: cannot open the log", 1)
    (record,) = lines(out)
    assert record["message"] == "partition 1: cannot open the log"
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "in fail" in record["exception"]
    assert record["exception"].endswith("RuntimeError: segment 7 unreadable")


@pytest.fixture
def tz_kolkata() -> Iterator[None]:
    """A local time zone with a half-hour offset and no daylight saving: +05:30."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_text_lines_show_local_time_with_its_offset(out: io.StringIO, tz_kolkata: None) -> None:
    setup_logging("INFO", "text", node=0, stream=out)
    log = logging.getLogger("trio_zeebe.raft")
    log.info("partition 1: elected in term %d", 4)
    log.info("transfer requested", extra={"partition": 2})
    first, second = out.getvalue().splitlines()
    match = re.match(
        r"^(\S+) INFO  node-0 trio_zeebe\.raft: partition 1: elected in term 4$", first
    )
    assert match, first
    stamp = datetime.fromisoformat(match.group(1))
    assert match.group(1).endswith("+05:30") and re.search(r"\.\d{3}\+", match.group(1))
    assert abs(stamp - datetime.now(UTC)) < timedelta(seconds=5)
    # A record about a partition whose message does not say so gets it in front.
    assert second.endswith("trio_zeebe.raft: partition 2: transfer requested")


def test_setup_again_replaces_its_own_handler_only(out: io.StringIO) -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        setup_logging("INFO", "text", stream=io.StringIO())
        setup_logging("WARNING", "json", stream=out)
        logging.getLogger("x").info("filtered")
        logging.getLogger("x").error("kept")
        assert [r["message"] for r in lines(out)] == ["kept"]
        assert other in root.handlers
    finally:
        root.removeHandler(other)


def test_bad_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="'loud' is not a log level"):
        setup_logging("loud")
    with pytest.raises(ValueError, match="'xml' is not a log format \\(use text or json\\)"):
        setup_logging("INFO", "xml")


# --- progress ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_every_interval_with_rate_and_time_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    log = logging.getLogger("trio_zeebe.processing")
    caplog.set_level(logging.INFO, "trio_zeebe.processing")
    progress = ProgressReporter(log, "replaying the log", 1_000_000, partition=3, clock=clock)
    for _ in range(42):  # 1 s per 23,810 records: the 42 s replay
        clock.now += 1.0
        progress.advance(23_810)
    progress.update(1_000_000)
    progress.finish("serving")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 42 // 5 + 1  # one line per 5 s, and the final one
    assert messages[0] == (
        "replaying the log: 119,050 of 1,000,000 records (12%), 23,810 records/s, about 37.0s left"
    )
    assert messages[-1] == (
        "replaying the log: done, 1,000,000 records in 42.0s (23,810 records/s); serving"
    )
    assert all(r.partition == 3 for r in caplog.records)  # type: ignore[attr-defined]


def test_progress_every_n_units_and_bytes(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    log = logging.getLogger("trio_zeebe.raft")
    caplog.set_level(logging.INFO, "trio_zeebe.raft")
    progress = ProgressReporter(
        log, "receiving a snapshot", 8 << 20, unit="bytes", every=2 << 20, clock=clock
    )
    for _ in range(8):
        clock.now += 0.5
        progress.advance(1 << 20)
    progress.finish()
    progress.finish()  # once only
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "receiving a snapshot: 2.0 MiB of 8.0 MiB (25%), 2.0 MiB/s, about 3.0s left",
        "receiving a snapshot: 4.0 MiB of 8.0 MiB (50%), 2.0 MiB/s, about 2.0s left",
        "receiving a snapshot: 6.0 MiB of 8.0 MiB (75%), 2.0 MiB/s, about 1.0s left",
        "receiving a snapshot: 8.0 MiB of 8.0 MiB (100%), 2.0 MiB/s",
        "receiving a snapshot: done, 8.0 MiB in 4.0s (2.0 MiB/s)",
    ]


def test_progress_without_total_and_long_durations(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    log = logging.getLogger("trio_zeebe.raft")
    caplog.set_level(logging.INFO, "trio_zeebe.raft")
    progress = ProgressReporter(log, "restoring", None, unit="chunks", clock=clock)
    clock.now += 6
    progress.update(3)
    slow = ProgressReporter(log, "replaying", 10_000, clock=clock)
    clock.now += 3600
    slow.update(100)
    assert [r.getMessage() for r in caplog.records] == [
        "restoring: 3 chunks, 0.5 chunks/s",
        "replaying: 100 of 10,000 records (1%), 0.028 records/s, about 99h 00m left",
    ]


# --- a real broker process -----------------------------------------------------------------


@pytest.mark.slow
def test_node_logs_json_lines(dev_certs: DevCerts, tmp_path: Path) -> None:
    """``node --log-format json``: every line on stderr is a JSON object from node 0; the
    format also comes from the config (and TRIO_ZEEBE_LOG_FORMAT), the flag winning."""
    raw = broker_dict(dev_certs, tmp_path, partitions_count=2)
    raw["logging"] = {"format": "json"}
    path = tmp_path / "broker.toml"
    path.write_text(tomli_w.dumps(raw))
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_zeebe", "node", "--config", str(path)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    seen: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, f"broker exited: {proc.wait()}"
            seen.append(json.loads(line))
            if {r.get("partition") for r in seen if "caught up" in r["message"]} >= {1, 2}:
                break
        proc.terminate()
        _, rest = proc.communicate(timeout=20)
    finally:
        proc.kill()
    seen += [json.loads(line) for line in (rest or "").splitlines()]
    assert proc.returncode == 0
    assert all(UTC_STAMP.match(r["time"]) and r["node"] == 0 for r in seen), seen
    caught_up = {r["partition"] for r in seen if "leader caught up" in r["message"]}
    assert caught_up == {1, 2}
    assert any(r["message"] == "broker 0 stopped" and "partition" not in r for r in seen)
