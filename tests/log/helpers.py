"""Shared helpers for the log tests."""

from __future__ import annotations

from trio_zeebe.log import LogRecord


def recs(first: int, n: int, term: int = 1, size: int = 10) -> list[LogRecord]:
    return [LogRecord(i, term, 1, bytes([i % 251]) * size) for i in range(first, first + n)]
