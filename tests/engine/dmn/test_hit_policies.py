"""Every hit policy and aggregation on the Modeler-written tables, with DMN-Scala's results:
single-hit -> one value (a context for several outputs), multi-hit -> a list, no match -> null."""

from __future__ import annotations

from typing import Any

import pytest

from trio_zeebe.engine.dmn import parse_dmn
from trio_zeebe.engine.feel import to_json

from .support import document, evaluate, load, run, table

HIT = load("hit_policies.dmn")
DISH = load("dish.dmn")


def rule_indexes(decision_id: str, **variables: Any) -> list[int]:
    (audit,) = run(HIT, decision_id, **variables).evaluated_decisions
    return [rule.rule_index for rule in audit.matched_rules]


@pytest.mark.parametrize(
    ("season", "guests", "dish"),
    [
        ("Fall", 4, "Spareribs"),
        ("Winter", 8, "Roastbeef"),
        ("Spring", 3, "Dry Aged Gourmet Steak"),
        ("Spring", 6, "Steak"),
        ("Winter", 10, "Stew"),
        ("Summer", 20, "Light Salad and nice Steak"),  # the empty input entry matches anything
        ("Autumn", 4, None),  # no rule matches
    ],
)
def test_unique_returns_the_single_match(season: str, guests: int, dish: str | None) -> None:
    assert evaluate(DISH, "dish", season=season, guestCount=guests) == dish


def test_unique_fails_when_several_rules_match() -> None:
    body = table("d", ["x"], ["o"], [(["< 10"], ["1"]), (["< 20"], ['"two"']), ([">= 20"], ["3"])])
    drg = parse_dmn("t.dmn", document(body))
    result = run(drg, "d", x=5)
    assert result.failed
    assert result.output is None
    assert result.failed_decision_id == "d"
    assert result.failure_message == (
        "Expected to evaluate decision 'd', but multiple values aren't allowed for UNIQUE hit "
        "policy. found: 'List(Map(o -> 1), Map(o -> \"two\"))'"
    )
    (audit,) = result.evaluated_decisions
    assert audit.output is None
    assert [(r.rule_id, r.rule_index) for r in audit.matched_rules] == [("d_r1", 1), ("d_r2", 2)]
    assert to_json(audit.evaluated_inputs[0].value) == 5


@pytest.mark.parametrize(
    ("days", "probation", "vip", "result"),
    [(0, True, False, "refused"), (10, False, False, "applied"), (5, None, False, None)],
)
def test_any_returns_the_output_all_matches_agree_on(
    days: int, probation: bool | None, vip: bool, result: str | None
) -> None:
    assert evaluate(HIT, "leave", vacationDays=days, probation=probation, vip=vip) == result


def test_any_fails_when_the_matches_disagree() -> None:
    result = run(HIT, "leave", vacationDays=0, probation=False, vip=True)
    assert result.failed_decision_id == "leave"
    assert result.failure_message == (
        "Expected to evaluate decision 'leave', but different values aren't allowed for ANY hit "
        'policy. found: \'List(Map(result -> "refused"), Map(result -> "applied"))\''
    )


def test_any_does_not_take_true_for_one() -> None:
    body = table("d", ["x"], ["o"], [(["-"], ["1"]), (["-"], ["true"])], hit_policy="ANY")
    assert run(parse_dmn("t.dmn", document(body)), "d", x=1).failed


@pytest.mark.parametrize(("age", "ad"), [(19, "Cars"), (13, "Videogames"), (5, "Toys")])
def test_first_returns_the_first_match_in_rule_order(age: int, ad: str) -> None:
    assert evaluate(HIT, "advertisement", age=age) == ad


def test_first_reports_only_the_first_matched_rule() -> None:
    assert rule_indexes("advertisement", age=19) == [1]


@pytest.mark.parametrize(
    ("age", "ads"), [(19, ["Cars", "Videogames", "Toys"]), (13, ["Videogames", "Toys"])]
)
def test_rule_order_returns_all_matches_in_rule_order(age: int, ads: list[str]) -> None:
    assert evaluate(HIT, "advertisements", age=age) == ads


@pytest.mark.parametrize(
    ("age", "history", "rating", "matched"),
    [
        (65, "bad", "High", [2, 6]),
        (65, "good", "Medium", [1]),
        (30, "bad", "Medium", [3, 6]),
        (20, "good", "Low", [4]),
        (20, "bad", "Medium", [5, 6]),
    ],
)
def test_priority_returns_the_match_with_the_highest_output_value(
    age: int, history: str, rating: str, matched: list[int]
) -> None:
    assert evaluate(HIT, "riskRating", applicantAge=age, medicalHistory=history) == rating
    # every match is reported, as Zeebe does, although only one makes the result
    assert rule_indexes("riskRating", applicantAge=age, medicalHistory=history) == matched


@pytest.mark.parametrize(
    ("age", "years", "holidays"),
    [(58, 31, [22, 5, 3]), (16, 1, [22, 5]), (46, 19, [22, 2, 2]), (60, 31, [22, 5, 5, 3])],
)
def test_output_order_returns_the_matches_by_output_value_priority(
    age: int, years: int, holidays: list[int]
) -> None:
    assert evaluate(HIT, "holidays", age=age, yearsOfService=years) == holidays


def test_output_order_sorts_against_rule_order_and_keeps_ties_in_rule_order() -> None:
    assert evaluate(HIT, "routingRules", age=17, riskCategory="HIGH", deptReview=True) == [
        {"routing": "DECLINE", "reason": "Applicant too young"},
        {"routing": "REFER", "reason": "High risk application"},
        {"routing": "REFER", "reason": "Applicant under dept review"},
        {"routing": "ACCEPT", "reason": "Acceptable"},
    ]


def test_priority_puts_values_outside_the_output_values_last() -> None:
    body = table(
        "d",
        ["x"],
        ["o"],
        [(["-"], ['"unknown"']), (["-"], ['"low"']), (["-"], ['"high"'])],
        hit_policy="OUTPUT ORDER",
        output_values={"o": '"high","low"'},
    )
    assert evaluate(parse_dmn("t.dmn", document(body)), "d", x=1) == ["high", "low", "unknown"]


def test_collect_returns_all_matches() -> None:
    assert evaluate(HIT, "bonuses", years=3.5) == [100, 200, 300]


def test_collect_with_several_outputs_returns_a_context_per_match() -> None:
    assert evaluate(HIT, "shipping", weight=3) == [
        {"carrier": "Post", "price": 4.99},
        {"carrier": "Parcel service", "price": 9.5},
        {"carrier": "Freight", "price": None},  # an empty output entry is null
    ]
    assert evaluate(HIT, "shipping", weight=50) == [{"carrier": "Freight", "price": None}]


@pytest.mark.parametrize(
    ("decision_id", "variables", "result"),
    [
        ("bonusTotal", {"years": 3.5}, 600),
        ("bonusTotal", {"years": 6}, 1100),
        ("bonusCount", {"years": 4}, 3),
        ("bonusCount", {"years": 1}, 1),
        ("insuranceFee", {"years": 3.5}, 98.83),
        ("insuranceFee", {"years": 0}, 120),
        ("pocketMoney", {"age": 9}, 5),
        ("pocketMoney", {"age": 12}, 10),
    ],
)
def test_collect_aggregations(decision_id: str, variables: dict[str, Any], result: Any) -> None:
    assert evaluate(HIT, decision_id, **variables) == result


def test_sum_keeps_decimal_precision() -> None:
    body = table(
        "d", ["x"], ["o"], [(["-"], ["0.1"]), (["-"], ["0.2"])], hit_policy="COLLECT",
        aggregation="SUM",
    )  # fmt: skip
    drg = parse_dmn("t.dmn", document(body))
    assert str(run(drg, "d", x=1).output) == "0.3"


@pytest.mark.parametrize("decision_id", ["bonuses", "bonusTotal", "bonusCount", "pocketMoney"])
def test_no_match_is_null_for_collect_and_its_aggregations(decision_id: str) -> None:
    # DMN-Scala (Zeebe's engine): no matched rule -> null, also for multi-hit tables and COUNT
    assert evaluate(HIT, decision_id, years=0, age=-1) is None
    (audit,) = run(HIT, decision_id, years=0, age=-1).evaluated_decisions
    assert audit.matched_rules == ()


@pytest.mark.parametrize("hit_policy", ["RULE ORDER", "OUTPUT ORDER", "FIRST", "ANY", "PRIORITY"])
def test_no_match_is_null_for_every_other_hit_policy(hit_policy: str) -> None:
    body = table(
        "d", ["x"], ["o"], [(["1"], ['"a"'])], hit_policy=hit_policy, output_values={"o": '"a"'}
    )
    assert evaluate(parse_dmn("t.dmn", document(body)), "d", x=2) is None


def test_no_match_takes_the_default_output_entries() -> None:
    body = table("d", ["x"], ["a", "b"], [(["1"], ["1", "2"])]).replace(
        '<output id="d_out1" name="a">',
        '<output id="d_out1" name="a"><defaultOutputEntry><text>x * 10</text></defaultOutputEntry>',
    )
    drg = parse_dmn("t.dmn", document(body))
    assert evaluate(drg, "d", x=1) == {"a": 1, "b": 2}
    assert evaluate(drg, "d", x=3) == 30  # only one output has a default


@pytest.mark.parametrize(
    ("aggregation", "outputs", "found"),
    [("SUM", ['"a"', "1"], '"a"'), ("MIN", ["1", ""], "null"), ("MAX", ["[1]"], "[1]")],
)
def test_aggregating_anything_but_numbers_fails(
    aggregation: str, outputs: list[str], found: str
) -> None:
    rules = [(["-"], [text]) for text in outputs]
    body = table("d", ["x"], ["o"], rules, hit_policy="COLLECT", aggregation=aggregation)
    result = run(parse_dmn("t.dmn", document(body)), "d", x=1)
    assert result.failure_message == (
        f"Expected to evaluate decision 'd', but expected number but found '{found}'"
    )


def test_count_counts_matches_whatever_their_outputs() -> None:
    rules = [(["-"], ['"a"']), (["-"], [""]), ([">1"], ["1"])]
    body = table("d", ["x"], ["o"], rules, hit_policy="COLLECT", aggregation="COUNT")
    assert evaluate(parse_dmn("t.dmn", document(body)), "d", x=1) == 2


def test_a_failure_message_stays_short_whatever_the_outputs() -> None:
    rules = [(["-"], [f'"{n}" + string join(for i in 1..300 return "x")']) for n in range(30)]
    body = table("d", ["x"], ["o"], rules)
    message = run(parse_dmn("t.dmn", document(body)), "d", x=1).failure_message
    assert message.startswith(
        "Expected to evaluate decision 'd', but multiple values aren't allowed for UNIQUE hit "
        "policy. found: 'List(Map(o -> \"0xxxx"
    )
    assert message.endswith("...), ... (10 more))'")
    assert message.count("Map(") == 20
    assert len(message) < 20 * 220
