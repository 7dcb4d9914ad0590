"""FEEL (DMN 1.3 Friendly Enough Expression Language, as Camunda's FEEL-Scala implements it for
Zeebe): compile expressions and unary tests once, evaluate them deterministically.

Start with :func:`compile_expression` and :func:`compile_unary_tests`; ``docs/feel.md`` describes
what is supported and how it differs from FEEL-Scala.
"""

from .api import (
    Evaluation,
    Expression,
    UnaryTests,
    compile_expression,
    compile_unary_tests,
    is_expression,
    static_value,
)
from .errors import FeelEvaluationError, FeelSyntaxError
from .values import from_json, to_json, type_name

__all__ = [
    "Evaluation",
    "Expression",
    "FeelEvaluationError",
    "FeelSyntaxError",
    "UnaryTests",
    "compile_expression",
    "compile_unary_tests",
    "from_json",
    "is_expression",
    "static_value",
    "to_json",
    "type_name",
]
