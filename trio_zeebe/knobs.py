"""Config knobs: how a component's config class declares a setting, once.

Every component that can be tuned owns a frozen attrs config class (``RaftConfig``,
``SwimConfig``, ``TransportConfig``, ...) and declares each knob there with :func:`duration`,
:func:`size` or :func:`number`: the default, the check and, for durations and sizes, the unit
the broker's TOML file writes it in. :mod:`trio_zeebe.config` uses these classes as sections of
its tree, so what is written here is the only default and the only validation of the knob.

A failed check raises :class:`KnobError`, which names the knob; the config loader prefixes the
section's key path (``cluster.raft.election_timeout: must be greater than 0, got 0``). A check
across knobs of one class (in ``__attrs_post_init__``) raises it too, naming the knob to fix.

Pure: attrs only (the sans-IO cores import it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

UNIT = "unit"
"""Field metadata key: how the TOML file writes the value (absent: as the Python type)."""
DURATION = "duration"
"""Seconds; written as "250ms", "2.5s", "10m" (a bare number means seconds)."""
SIZE = "size"
"""Bytes; written as "32KB", "4MiB", "1GB" (a bare number means bytes)."""

Check = Callable[[Any, "attrs.Attribute[Any]", Any], None]


class KnobError(ValueError):
    """A knob's value is not acceptable; ``key`` is the knob's field name in its class."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def positive(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value > 0:
        raise KnobError(attribute.name, f"must be greater than 0, got {value!r}")


def non_negative(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value < 0:
        raise KnobError(attribute.name, f"must not be negative, got {value!r}")


def port(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not 0 <= value <= 65535:
        raise KnobError(attribute.name, f"port {value} is out of range 0..65535")


def duration(default: float, *, check: Check = positive) -> Any:
    """A time span in seconds (TOML: a duration string)."""
    return attrs.field(default=default, validator=check, metadata={UNIT: DURATION})


def size(default: int, *, check: Check = positive) -> Any:
    """An amount of bytes (TOML: a size string)."""
    return attrs.field(default=default, validator=check, metadata={UNIT: SIZE})


def number(default: int, *, check: Check = positive) -> Any:
    """A count (TOML: an integer)."""
    return attrs.field(default=default, validator=check)
