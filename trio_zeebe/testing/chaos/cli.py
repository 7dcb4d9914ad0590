"""Command line of the chaos suite.

::

    python -m trio_zeebe.testing.chaos [--minutes N] [--seed S] [--brokers 3|5] [--faults K,..]
    python -m trio_zeebe.testing.chaos check HISTORY     # re-check a saved history

Exit codes: 0 no violation, 1 violations (or the run could not be carried out), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .checker import check
from .history import read_history
from .runner import ChaosOptions, make_parts, run_chaos
from .schedule import FAMILIES, KINDS, kinds_of

EXIT_VIOLATIONS = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trio_zeebe.testing.chaos",
        description="Run real brokers under seeded faults and check that nothing acknowledged "
        "is lost. 'check HISTORY' re-checks a saved history instead.",
    )
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of load (default 10)")
    p.add_argument("--seed", type=int, help="the schedule's seed (default: random, printed)")
    p.add_argument("--brokers", type=int, choices=(3, 5), default=3)
    p.add_argument("--partitions", type=int, help="default: one per broker")
    p.add_argument("--replication-factor", type=int, default=3)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument(
        "--faults",
        default="",
        help=f"comma-separated kinds or families (default all): {', '.join(FAMILIES)}; "
        f"{', '.join(KINDS)}",
    )
    p.add_argument("--no-netns", action="store_true", help="loopback only: no partitions")
    p.add_argument("--no-disk", action="store_true", help="no small file systems: no disk-full")
    p.add_argument("--dir", type=Path, help="run directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the run directory on success too")
    return p


def _replay(args: argparse.Namespace, seed: int | None) -> str:
    parts = ["nox -s chaos --", f"--minutes {args.minutes:g}", f"--seed {seed}"]
    parts.append(f"--brokers {args.brokers}")
    if args.partitions:
        parts.append(f"--partitions {args.partitions}")
    if args.replication_factor != 3:
        parts.append(f"--replication-factor {args.replication_factor}")
    if args.clients != 4:
        parts.append(f"--clients {args.clients}")
    if args.faults:
        parts.append(f"--faults {args.faults}")
    if args.no_netns:
        parts.append("--no-netns")
    if args.no_disk:
        parts.append("--no-disk")
    return " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"]:
        return _check(argv[1:])
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else 0
    problem = _usage_problem(args)
    if problem is not None:
        print(f"chaos: {problem}", file=sys.stderr)
        return EXIT_USAGE
    names = [n.strip() for n in args.faults.split(",") if n.strip()]
    kinds = tuple(kinds_of(names)) if names else tuple(KINDS)
    seed = args.seed
    if seed is None:
        import random

        seed = random.SystemRandom().randrange(10**9)
    options = ChaosOptions(
        seconds=args.minutes * 60,
        seed=seed,
        brokers=args.brokers,
        partitions=args.partitions,
        replication_factor=args.replication_factor,
        clients=args.clients,
        kinds=kinds,
        use_netns=not args.no_netns,
        use_disk=not args.no_disk,
        directory=args.dir,
        keep=args.keep,
        replay=_replay(args, seed),
    )
    result = run_chaos(options, out=lambda line: print(line, flush=True))
    print(result.summary, flush=True)
    return 0 if result.report.ok else EXIT_VIOLATIONS


def _usage_problem(args: argparse.Namespace) -> str | None:
    if not args.minutes > 0:
        return f"--minutes must be greater than 0, got {args.minutes:g}"
    if args.partitions is not None and args.partitions < 1:
        return f"--partitions must be at least 1, got {args.partitions}"
    if not 1 <= args.replication_factor <= args.brokers:
        return f"--replication-factor must be between 1 and --brokers ({args.brokers})"
    if args.clients < 1:
        return f"--clients must be at least 1, got {args.clients}"
    names = [n.strip() for n in args.faults.split(",") if n.strip()]
    try:
        kinds_of(names)
    except ValueError as exc:
        return f"--faults: {exc}"
    return None


def _check(argv: list[str]) -> int:
    if len(argv) != 1:
        print("chaos: usage: check HISTORY", file=sys.stderr)
        return EXIT_USAGE
    path = Path(argv[0])
    try:
        recorded = read_history(path)
    except (OSError, ValueError) as exc:
        print(f"chaos: {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = check(recorded, make_parts())
    for violation in report.violations:
        print(f"chaos: VIOLATION {violation}")
    print(report.summary(recorded.meta.get("seed", "?")))
    return 0 if report.ok else EXIT_VIOLATIONS
