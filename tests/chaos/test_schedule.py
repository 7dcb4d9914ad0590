"""The seeded fault schedule: a seed names one schedule, which covers every fault family."""

from __future__ import annotations

import itertools

import pytest

from trio_zeebe.testing.chaos.schedule import FAMILIES, KINDS, TAIL, WARMUP, kinds_of, plan

ET = 1.0


def test_a_seed_names_exactly_one_schedule() -> None:
    one = plan(7, seconds=600, kinds=list(KINDS), election_timeout=ET)
    assert one == plan(7, seconds=600, kinds=list(KINDS), election_timeout=ET)
    assert one != plan(8, seconds=600, kinds=list(KINDS), election_timeout=ET)


@pytest.mark.parametrize("seed", range(20))
def test_the_first_faults_cover_every_family_and_all_fit_the_run(seed: int) -> None:
    faults = plan(seed, seconds=90, kinds=list(KINDS), election_timeout=ET)
    families = [KINDS[f.kind][0] for f in faults]
    assert sorted(families[: len(FAMILIES)]) == sorted(FAMILIES)
    assert faults[0].at == WARMUP
    foreground = [f for f in faults if not f.background]
    for before, after in itertools.pairwise(foreground):
        assert after.at >= before.at + before.duration  # one at a time
    clocks = [f for f in faults if f.background]
    assert clocks and all(f.kind.startswith("clock-") for f in clocks)
    for before, after in itertools.pairwise(clocks):
        assert after.at >= before.at + before.duration  # never two clock offsets at once
    assert all(f.at + f.duration <= 90 - TAIL for f in faults)


@pytest.mark.parametrize("seed", range(20))
def test_pauses_outlast_an_election_and_clocks_jump_both_ways(seed: int) -> None:
    for f in plan(seed, seconds=3600, kinds=list(KINDS), election_timeout=ET):
        if f.kind.startswith("pause"):
            assert f.duration > ET
        if f.kind == "clock-forward":
            assert f.magnitude > 0
        if f.kind == "clock-backward":
            assert f.magnitude < 0


def test_kinds_can_be_chosen_by_kind_or_family() -> None:
    assert kinds_of(["kill"]) == ["kill-leader", "kill-follower", "kill-majority", "kill-all"]
    assert kinds_of(["disk-full", "pause"]) == ["pause-leader", "pause-follower", "disk-full"]
    faults = plan(1, seconds=300, kinds=kinds_of(["clock"]), election_timeout=ET)
    assert faults and {f.kind for f in faults} <= {"clock-forward", "clock-backward"}


def test_an_unknown_kind_is_named() -> None:
    with pytest.raises(ValueError, match="kill-everyone"):
        kinds_of(["kill-everyone"])
