"""``status`` tells the truth: one leader per partition (the newest claim), and exit code 1 when
a broker is dead or missing, a partition unhealthy or without a leader, with everything still
printed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from trio_zeebe import cli
from trio_zeebe.cli import format_topology, mark_stale_leaders


def part(pid: int, role: str, term: int, health: str = "healthy") -> dict[str, Any]:
    return {"partition_id": pid, "role": role, "term": term, "health": health}


def broker(node: int, state: str, *partitions: dict[str, Any]) -> dict[str, Any]:
    return {
        "node_id": node,
        "address": f"127.0.0.1:{40000 + node}",
        "gateway": f"127.0.0.1:{41000 + node}",
        "state": state,
        "partitions": list(partitions),
    }


def topology(*brokers: dict[str, Any], size: int = 3, partitions: int = 1) -> dict[str, Any]:
    return {
        "cluster_size": size,
        "partitions_count": partitions,
        "replication_factor": 3,
        "brokers": list(brokers),
    }


# Right after kill -9 of broker 0: it is still "alive" in gossip, and its last report still says
# it leads partition 1 at term 1, while broker 1 was elected at term 2.
AFTER_KILL = topology(
    broker(0, "alive", part(1, "leader", 1)),
    broker(1, "alive", part(1, "leader", 2)),
    broker(2, "alive", part(1, "follower", 2)),
)


def test_a_dead_leaders_stale_claim_is_not_a_second_leader() -> None:
    t = copy.deepcopy(AFTER_KILL)
    assert mark_stale_leaders(t) == []
    text = format_topology(t)
    assert text.count(": Leader (term") == 1
    assert "Partition 1: Leader (term 2), Healthy" in text
    assert "Partition 1: Former leader (term 1; broker 1 leads at term 2), Healthy" in text
    assert [p["role"] for b in t["brokers"] for p in b["partitions"]] == [
        "former_leader",
        "leader",
        "follower",
    ]


def test_equal_terms_resolve_like_the_brokers_leader_table() -> None:
    # Impossible in Raft, so one report is wrong; every broker's table picks the lower id.
    t = topology(broker(0, "alive", part(1, "leader", 3)), broker(1, "alive", part(1, "leader", 3)))
    assert mark_stale_leaders(t) == ["broker 2 is not known to the answering gateway"]
    assert [p["role"] for b in t["brokers"] for p in b["partitions"]] == [
        "leader",
        "former_leader",
    ]


def test_problems_dead_missing_leaderless() -> None:
    t = topology(
        broker(0, "alive", part(1, "leader", 2), part(2, "follower", 2)),
        broker(1, "dead", part(1, "inactive", 1, "dead"), part(2, "inactive", 1, "dead")),
        partitions=2,
    )
    assert mark_stale_leaders(t) == [
        "broker 2 is not known to the answering gateway",
        "broker 1 is dead",
        "partition 2 has no leader",
    ]


def test_status_exits_1_on_problems_and_prints_everything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = {
        "healthy": copy.deepcopy(AFTER_KILL),
        "dead": topology(
            broker(0, "dead"),
            broker(1, "alive", part(1, "leader", 2)),
            broker(2, "alive", part(1, "follower", 2)),
        ),
    }

    def run(answer: str, *flags: str) -> tuple[int, str, str]:
        monkeypatch.setattr("anyio.run", lambda fn: copy.deepcopy(answers[answer]))
        code = cli.main(["status", "--insecure", *flags])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("healthy")
    assert (code, err) == (0, "")
    assert out.count(": Leader (term") == 1
    code, out, err = run("dead")
    assert code == 1
    assert "Broker 0 - 127.0.0.1:40000 (gateway 127.0.0.1:41000) [dead]" in out
    assert "Partition 1: Leader (term 2), Healthy" in out
    assert err == "status: unhealthy: broker 0 is dead\n"
    code, out, err = run("dead", "--json")
    assert code == 1 and json.loads(out)["problems"] == ["broker 0 is dead"]


def test_an_unhealthy_partition_is_a_problem_with_its_reason() -> None:
    low = part(1, "leader", 2, "unhealthy")
    low["problem"] = "not enough disk space available: 0 bytes free in data"
    t = topology(
        broker(0, "alive", low),
        broker(1, "alive", part(1, "follower", 2)),
        broker(2, "alive", part(1, "follower", 2, "unhealthy")),
    )
    assert mark_stale_leaders(t) == [
        "partition 1 on broker 0 is unhealthy: not enough disk space available: 0 bytes free in "
        "data",
        "partition 1 on broker 2 is unhealthy",
    ]
