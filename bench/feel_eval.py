"""Micro-benchmark of FEEL evaluation: evaluations per second for typical Zeebe expressions.

Run: python bench/feel_eval.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import time

from trio_zeebe.engine.feel import compile_expression, compile_unary_tests

VARIABLES = {
    "x": 7,
    "a": True,
    "order": {"total": 120.5, "customer": {"name": "Ann", "tier": "gold"}, "items": [1, 2, 3]},
    "items": [{"price": 10, "qty": 2}, {"price": 5, "qty": 1}, {"price": 7, "qty": 4}],
    "status": "approved",
}

EXPRESSIONS = [
    "x > 5",
    "order.total * 1.1",
    'if a then "x" else "y"',
    'order.customer.tier = "gold" and order.total >= 100',
    "status",
    "sum(for i in items return i.price * i.qty)",
    "items[price > 6].qty",
    'date and time("2024-01-01T10:00:00Z") + duration("PT1H")',
    '{total: order.total, vip: order.customer.tier = "gold"}',
]

UNARY_TESTS = [("< 10", 7), ('"gold","silver"', "gold"), ("[1..5]", 3)]


def rate(fn: object, seconds: float) -> float:
    call = fn  # type: ignore[assignment]
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            call()  # type: ignore[operator]
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per expression")
    args = parser.parse_args()
    for source in EXPRESSIONS:
        expression = compile_expression(source)
        per_second = rate(lambda e=expression: e.evaluate(VARIABLES, now=0.0), args.seconds)
        print(f"{per_second:>12,.0f} evals/s  {1e6 / per_second:6.2f} us  {source}")
    for source, value in UNARY_TESTS:
        tests = compile_unary_tests(source)
        per_second = rate(lambda t=tests, v=value: t.test(v, VARIABLES, now=0.0), args.seconds)
        print(f"{per_second:>12,.0f} tests/s  {1e6 / per_second:6.2f} us  unary tests {source}")


if __name__ == "__main__":
    main()
