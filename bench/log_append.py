"""Benchmark (not a test): SegmentedLog append + group-commit flush on the real disk.

Measures entries/s for batches of 1, 16 and 256 entries of 200 bytes, each batch followed by
one flush (one fsync), in a fresh directory under /tmp.  Usage: python bench/log_append.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time

import trio

from trio_zeebe.disk import RealDisk
from trio_zeebe.log import LogRecord, SegmentedLog


async def run(batch: int, seconds: float) -> tuple[float, float]:
    directory = tempfile.mkdtemp(prefix="tz-log-bench-", dir="/tmp")
    try:
        log = SegmentedLog.open(RealDisk(), directory, segment_bytes=64 * 1024 * 1024)
        payload = b"x" * 200
        index, flushes = 1, 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            log.append([LogRecord(i, 1, 1, payload) for i in range(index, index + batch)])
            index += batch
            await log.flush()
            flushes += 1
        elapsed = time.perf_counter() - t0
        log.close()
        return (index - 1) / elapsed, flushes / elapsed
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    for batch in (1, 16, 256):
        rate, fsyncs = await run(batch, seconds)
        print(f"batch {batch:4d}: {rate:10.0f} entries/s  ({fsyncs:7.0f} flushes/s)")
    # Encoding cost alone (append without flush), for reference.
    directory = tempfile.mkdtemp(prefix="tz-log-bench-", dir="/tmp")
    log = SegmentedLog.open(RealDisk(), directory)
    n = 200_000
    recs = [LogRecord(i, 1, 1, b"x" * 200) for i in range(1, n + 1)]
    t0 = time.perf_counter()
    for i in range(0, n, 256):
        log.append(recs[i : i + 256])
    print(f"append only (256/batch, no fsync): {n / (time.perf_counter() - t0):10.0f} entries/s")
    log.close()
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    trio.run(main)
