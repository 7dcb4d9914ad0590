"""The checker: a pure function of a recorded history, and the run's one-line summary.

Cluster-wide rules come from the events the runner and the injectors recorded:

* ``broker-exited``: a broker process died without being killed (a crash, a crash loop);
* ``expectation`` with ``ok: false``: a fault's expected behaviour did not happen (a broker
  with a full disk that kept reporting healthy, or was not healthy again after space returned);
* ``converged`` with ``ok: false``: after the faults healed the cluster did not get back to one
  leader per partition with every broker alive and every replica healthy within the bound;
* ``fault-error``: an injector failed (the fault may not have happened as planned).

Each workload part (:mod:`.jobs`; :mod:`.processes`: process instances and messages) adds its
own invariants over the requests and their outcomes, and its own figures to the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import attrs

from .history import Outcome, Recorded, Violation
from .workload import Part

INSPECTION_KINDS = ("inspect_job", "inspect_instance")
_NAMES = {Outcome.OK: "acknowledged", Outcome.REFUSED: "refused", Outcome.UNKNOWN: "unknown"}


@attrs.frozen
class Report:
    faults: dict[str, int]
    skipped: dict[str, int]
    outcomes: dict[str, int]
    violations: list[Violation]
    acknowledged: dict[str, int] = attrs.field(factory=dict)  # by operation kind
    stats: dict[str, int] = attrs.field(factory=dict)  # the parts' figures

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self, seed: object) -> str:
        """ONE line: faults by kind, operations by outcome, acknowledged ones by kind, the
        parts' figures, violations, the seed."""
        faults = ", ".join(f"{k}={n}" for k, n in sorted(self.faults.items())) or "none"
        ops = " ".join(f"{_NAMES[o]}={self.outcomes.get(o.value, 0)}" for o in Outcome)
        if self.acknowledged:
            ops += " (" + " ".join(f"{k}={n}" for k, n in sorted(self.acknowledged.items())) + ")"
        if self.stats:
            ops += "; " + " ".join(f"{k}={n}" for k, n in sorted(self.stats.items()))
        rules = Counter(v.rule for v in self.violations)
        broken = ", ".join(f"{r}={n}" for r, n in sorted(rules.items()))
        line = (
            f"chaos seed={seed}: faults [{faults}]; operations [{ops}]; "
            f"violations {len(self.violations)}" + (f" [{broken}]" if broken else "")
        )
        if self.skipped:
            line += "; skipped [" + ", ".join(f"{k}={n}" for k, n in sorted(self.skipped.items()))
            line += "]"
        return line + ("" if self.ok else f" -> FAILED, replay with --seed {seed}")


def check(recorded: Recorded, parts: Sequence[Part]) -> Report:
    violations: list[Violation] = []
    faults: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    converged = False
    for e in recorded.events:
        f = e.fields
        if e.kind == "fault":
            faults[str(f.get("fault"))] += 1
        elif e.kind == "skipped":
            skipped[str(f.get("fault"))] += 1
        elif e.kind == "broker-exited":
            violations.append(
                Violation(
                    "broker-exited",
                    f"broker {f.get('node')} {f.get('how')} at {e.at}s "
                    f"(not killed by the test); last log line: {f.get('last_log', '')}",
                )
            )
        elif e.kind == "expectation" and not f.get("ok"):
            violations.append(Violation(str(f.get("name")), str(f.get("detail"))))
        elif e.kind == "fault-error":
            violations.append(Violation("fault-error", f"{f.get('fault')}: {f.get('error')}"))
        elif e.kind == "converged":
            converged = bool(f.get("ok"))
            if not converged:
                violations.append(
                    Violation(
                        "no-convergence",
                        f"not converged {f.get('within')}s after the "
                        f"faults healed: {f.get('problem')}",
                    )
                )
    if not any(e.kind == "converged" for e in recorded.events):
        violations.append(Violation("no-convergence", "the run ended before the convergence check"))
    stats: dict[str, int] = {}
    for part in parts:
        violations.extend(part.check(recorded))
        stats.update(part.stats(recorded))
    load = [op for op in recorded.ops if op.kind not in INSPECTION_KINDS]
    outcomes = Counter(op.outcome.value for op in load)
    acknowledged = Counter(op.kind for op in load if op.outcome is Outcome.OK)
    return Report(
        dict(faults), dict(skipped), dict(outcomes), violations, dict(acknowledged), stats
    )
