"""Regular expressions for ``matches``, ``replace``, ``split`` and ``extract``, made safe for a
broker.

FEEL-Scala hands patterns to ``java.util.regex``; Python's ``re`` accepts the same common syntax.
Both backtrack, so a crafted pattern could take exponential time. Python offers no deterministic
step limit, so patterns are screened before use (all replicas decide alike):

- a repeated group that itself contains a repetition or an alternative (``(a+)+``,
  ``(a|aa)*``, the classic catastrophic shapes) is refused;
- the input length is bounded by the number of unbounded repetitions ``k`` in the pattern, so
  that ``n ** (k + 1)`` stays below a fixed budget (polynomial blow-ups like ``.*.*.*x``).

A refused pattern makes the function fail (null and a warning, like an invalid pattern); an
oversized input fails the evaluation (FeelEvaluationError). Neither can hang the broker.
"""

from __future__ import annotations

import functools
import re

from .errors import LimitExceeded
from .functions import Fail

MAX_PATTERN = 1000
MAX_INPUT = 100_000
_BUDGET = 2 * 10**7
_FLAGS = {"s": re.DOTALL, "m": re.MULTILINE, "i": re.IGNORECASE, "x": re.VERBOSE}


def _screen(pattern: str) -> int:
    """The number of unbounded repetitions; raises Fail for catastrophic shapes."""
    unbounded = 0
    # per open group: does it contain a repetition or an alternative?
    groups: list[bool] = []
    last_group_risky: bool | None = None  # the group that closed right before this char
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        closed = None
        if c == "\\":
            i += 2
            last_group_risky = None
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            last_group_risky = None
            continue
        if c == "(":
            groups.append(False)
        elif c == ")":
            if groups:
                closed = groups.pop()
                if groups and closed:
                    groups[-1] = True
        elif c == "|":
            if groups:
                groups[-1] = True
        elif c in "*+?{":
            repeat, width = _quantifier(pattern, i)
            if repeat is not None:
                if repeat == "many":
                    unbounded += 1
                if repeat != "once" and last_group_risky:
                    raise Fail(
                        "the regular expression repeats a group that contains a repetition or "
                        "an alternative (catastrophic backtracking); rewrite the pattern"
                    )
                if groups and repeat != "once":
                    groups[-1] = True
                i += width
                last_group_risky = None
                continue
        last_group_risky = closed
        i += 1
    return unbounded


def _quantifier(pattern: str, i: int) -> tuple[str | None, int]:
    c = pattern[i]
    width = 1
    if c == "{":
        match = re.match(r"\{(\d{1,6})(,(\d{0,6}))?\}", pattern[i:])
        if not match:
            return None, 1
        width = len(match.group(0))
        low = int(match.group(1))
        if match.group(2) is None:
            kind = "once" if low <= 1 else "bounded"
        elif match.group(3) == "":
            kind = "many"
        else:
            kind = "bounded" if int(match.group(3)) > 1 else "once"
    elif c == "?":
        kind = "once"
    else:
        kind = "many"
    if i + width < len(pattern) and pattern[i + width] in "?+":
        width += 1  # lazy / possessive
    return kind, width


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, flags: str) -> tuple[re.Pattern[str], int]:
    if len(pattern) > MAX_PATTERN:
        raise Fail(f"the regular expression is longer than {MAX_PATTERN} characters")
    bits = 0
    for flag in flags:
        if flag not in _FLAGS:
            raise Fail(f"illegal regular expression flag '{flag}'")
        bits |= _FLAGS[flag]
    unbounded = _screen(pattern)
    try:
        compiled = re.compile(pattern, bits)
    except (re.error, OverflowError, RecursionError, ValueError) as error:
        raise Fail(f"illegal regular expression '{pattern}': {error}") from None
    max_input = MAX_INPUT
    if unbounded:
        max_input = min(MAX_INPUT, int(_BUDGET ** (1 / (unbounded + 1))))
    return compiled, max_input


def compile_pattern(pattern: str, flags: str, subject: str) -> re.Pattern[str]:
    """A compiled pattern safe to apply to ``subject``."""
    compiled, max_input = _compiled(pattern, flags)
    if len(subject) > max_input:
        raise LimitExceeded(
            f"the input of the regular expression is longer than {max_input} characters "
            "(the bound for this pattern)"
        )
    return compiled


def expand(replacement: str) -> list[str | int]:
    """A Java replacement string as literal parts and group numbers (``$1``, ``\\$``)."""
    parts: list[str | int] = []
    literal: list[str] = []
    i, n = 0, len(replacement)
    while i < n:
        c = replacement[i]
        if c == "\\" and i + 1 < n:
            literal.append(replacement[i + 1])
            i += 2
            continue
        if c == "$":
            j = i + 1
            while j < n and replacement[j].isdigit() and j - i <= 2:
                j += 1
            if j == i + 1:
                raise Fail("illegal group reference in the replacement")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(int(replacement[i + 1 : j]))
            i = j
            continue
        literal.append(c)
        i += 1
    if literal:
        parts.append("".join(literal))
    return parts
