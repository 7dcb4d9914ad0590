"""The two errors the FEEL package raises: a syntax error (at compile time, with the position) and
a hard evaluation failure (``assert()``, a resource limit). Everything else a FEEL expression can
get wrong yields ``null`` and a warning, as in FEEL-Scala."""

from __future__ import annotations


class FeelSyntaxError(ValueError):
    """The text is not a valid FEEL expression / unary-tests; ``position`` is 0-based, ``line``
    and ``column`` 1-based."""

    def __init__(self, message: str, position: int = 0, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.line = line
        self.column = column


class FeelEvaluationError(Exception):
    """The evaluation failed as a whole (an assertion, or a limit that protects the broker).

    ``kind`` is the FEEL-Scala failure type (``ASSERT_FAILURE``) or ``LIMIT_EXCEEDED``;
    ``warnings`` are the warnings reported before the failure, formatted as in
    :class:`~trio_zeebe.engine.feel.Evaluation`."""

    def __init__(self, message: str, kind: str = "LIMIT_EXCEEDED", warnings: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.warnings = warnings


class LimitExceeded(Exception):
    """Internal: raised deep inside an evaluation, turned into FeelEvaluationError at the top."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AssertFailure(Exception):
    """Internal: ``assert()`` failed; turned into FeelEvaluationError at the top."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
