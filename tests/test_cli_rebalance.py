"""``rebalance`` says what it requested, then each transfer as the leader moves, and gives up
after ``--wait-timeout`` naming what did not move (exit 1); ``--json`` output is unchanged."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import trio

from trio_zeebe import cli_cluster
from trio_zeebe.cli import main
from trio_zeebe.cli_cluster import Move, follow_moves
from trio_zeebe.client import LeaderMove, RebalanceResponse, Unavailable


def topology(leaders: dict[int, tuple[int, int]], size: int = 3) -> dict[str, Any]:
    """partition -> (leader node, term); the others follow at the same term."""
    brokers = []
    for node in range(size):
        parts = [
            {
                "partition_id": pid,
                "role": "leader" if leader == node else "follower",
                "term": term,
                "health": "healthy",
            }
            for pid, (leader, term) in sorted(leaders.items())
        ]
        brokers.append(
            {
                "node_id": node,
                "address": f"n{node}:1",
                "gateway": f"n{node}:2",
                "state": "alive",
                "partitions": parts,
            }
        )
    return {
        "cluster_size": size,
        "partitions_count": len(leaders),
        "replication_factor": size,
        "brokers": brokers,
    }


BEFORE = topology({1: (2, 3), 2: (1, 1), 3: (2, 1)})  # broker 2 leads 1 and 3; primaries 0, 1, 2
HALF = topology({1: (0, 4), 2: (1, 1), 3: (2, 1)})
MOVES = [Move(1, 2, 0), Move(3, 2, 1)]
AFTER = topology({1: (0, 4), 2: (1, 1), 3: (1, 2)})


class Script:
    """Topologies answered in turn (the last one from then on); an exception is raised."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return copy.deepcopy(answer)


async def test_each_transfer_is_reported_as_it_lands(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lines: list[tuple[float, str]] = []
    script = Script(BEFORE, BEFORE, HALF, Unavailable("no route for a moment"), HALF, AFTER)
    start = trio.current_time()
    left = await follow_moves(
        MOVES, script, timeout=30, report=lambda line: lines.append((trio.current_time(), line))
    )
    assert left == []
    assert [line for _, line in lines] == [
        "partition 1: broker 0 leads (term 4)",
        "partition 3: broker 1 leads (term 2)",
    ]
    assert [t - start for t, _ in lines] == [0.5, 1.25]  # polled every 0.25 s
    assert script.calls == 6


async def test_a_stale_claim_does_not_count_and_the_wait_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Broker 0 still reports its old claim on partition 1 (term 1) next to broker 2's at term 3:
    # that is not a move home.
    stale = copy.deepcopy(BEFORE)
    stale["brokers"][0]["partitions"][0].update(role="leader", term=1)
    lines: list[str] = []
    start = trio.current_time()
    left = await follow_moves(MOVES[:1], Script(stale), timeout=10, report=lines.append)
    assert left == MOVES[:1] and lines == []
    assert trio.current_time() - start == pytest.approx(10)


class FakeClient:
    """The client the CLI builds, answering rebalance and topology from a script."""

    script: Script
    moves: tuple[LeaderMove, ...]

    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def rebalance(self) -> RebalanceResponse:
        return RebalanceResponse(self.moves)

    async def topology(self) -> Any:
        answer = await FakeClient.script()

        class Topology:
            @staticmethod
            def to_json() -> dict[str, Any]:
                return answer

        return Topology()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeClient]:
    monkeypatch.setattr("trio_zeebe.client.Client", FakeClient)
    monkeypatch.setattr(cli_cluster, "POLL_INTERVAL", 0.01)
    FakeClient.moves = tuple(LeaderMove(m.partition_id, m.from_node, m.to_node) for m in MOVES)
    return FakeClient


def rebalance(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    code = main(["rebalance", "--insecure", *flags], prog="trio-zeebe")
    out, err = capsys.readouterr()
    return code, out, err


def test_rebalance_text_then_done(
    fake: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script = Script(BEFORE, HALF, AFTER)
    code, out, err = rebalance(capsys)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "requested 2 leadership transfer(s):",
        "  partition 1: leader 2 -> primary 0",
        "  partition 3: leader 2 -> primary 1",
        "partition 1: broker 0 leads (term 4)",
        "partition 3: broker 1 leads (term 2)",
        "rebalanced: every partition is led by its primary",
    ]


def test_rebalance_json_is_unchanged_and_waits(
    fake: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script = Script(BEFORE, AFTER)
    code, out, err = rebalance(capsys, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "moves": [{"partition_id": 1, "from": 2, "to": 0}, {"partition_id": 3, "from": 2, "to": 1}]
    }
    assert fake.script.calls >= 1


def test_rebalance_times_out_naming_what_did_not_move(
    fake: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script = Script(HALF)
    code, out, err = rebalance(capsys, "--wait-timeout", "200ms")
    assert code == 1
    assert out.splitlines()[-1] == "partition 1: broker 0 leads (term 4)"
    assert err == (
        "rebalance: 1 transfer(s) not done within 0.2s: partition 3 is not yet led by broker 1\n"
    )


def test_rebalance_no_wait_and_nothing_to_do(
    fake: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script = Script(BEFORE)
    code, out, _ = rebalance(capsys, "--no-wait")
    assert code == 0 and fake.script.calls == 0
    assert out.splitlines()[-1] == "  partition 3: leader 2 -> primary 1"
    fake.moves = ()
    code, out, _ = rebalance(capsys)
    assert (code, out) == (0, "leaders are already on their primaries\n")
    code, out, err = rebalance(capsys, "--wait-timeout", "never")
    assert (code, out) == (2, "")
    assert err.startswith("rebalance: --wait-timeout: expected a duration")
