"""The chaos command line: usage mistakes are one line and exit code 2; ``check`` re-checks a
saved history and exits 1 on a violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from trio_zeebe.testing.chaos.cli import main
from trio_zeebe.testing.chaos.history import History, Op, Outcome


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--minutes", "0"], "--minutes"),
        (["--faults", "kill,meteor"], "meteor"),
        (["--brokers", "3", "--replication-factor", "4"], "--replication-factor"),
        (["--clients", "0"], "--clients"),
        (["check"], "usage: check HISTORY"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and "\n" not in err


def test_an_unreadable_history_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


async def test_check_rechecks_a_saved_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.jsonl"
    history = History(path)
    history.meta(seed=99)
    history.op(Op("c0-1", "c0", "create_job", 1.0, 1.1, Outcome.OK, {"op": "c0-1"}, 7))
    history.event("converged", ok=True, within=60, problem=None)
    history.flush()
    assert main(["check", str(path)]) == 1  # job 7 was never inspected
    out = capsys.readouterr().out
    assert "VIOLATION unverified" in out and "seed=99" in out
