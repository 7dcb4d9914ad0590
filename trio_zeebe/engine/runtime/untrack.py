"""Taking the state's rows out of the cyclic garbage collector's view.

CPython's cyclic collector walks every object it tracks on each full (generation-2) pass, about a
microsecond apiece. It stops tracking an *exact* tuple whose items are all untracked the first
time a pass examines it, but never a tuple subclass, so every row of the state (the NamedTuple
values of the families: jobs, element instances, timers, messages...) stays tracked for as long
as it lives, and with a million rows each full pass stalls the partition for most of a second.

The rows need no cycle detection: they are immutable, and their fields are ints, strings, bytes,
tuples of those and JSON-like dicts and lists that never refer back to a row, so no row is ever
part of a reference cycle; reference counting alone frees each row, and what it holds, when it
leaves the state. :func:`untrack_all` tells the collector to stop tracking them
(``PyObject_GC_UnTrack``). That is safe for such objects:

- the objects a row holds stay alive as long as the row holds them: the collector counts only
  references from the objects it tracks when it looks for garbage, so a reference from an
  untracked row is one from outside, and whatever it points to is reachable;
- when the row goes, reference counting frees it (and drops its references) exactly as before;
- untracking an object that is not tracked does nothing, and objects of types the collector
  never tracks (ints, strings) are skipped.

Only objects that cannot be part of a cycle may be untracked (a cycle through an untracked
object is never found, so it would never be freed): callers pass rows only. The state's
``put_*`` methods untrack the rows of the busiest families (jobs, element instances, incidents,
timers) as they are stored, and the snapshot writer and the restore untrack every row they
visit. Untracking only at snapshots is not enough: the collector starts a full pass once the
objects that survived since the last one reach a quarter of those it tracks, so with the
rows untracked it runs full passes far more often, and each tracked row made since the last
snapshot counts towards the next one. (A full pass still visits every entry of the families'
dicts, about a fifth of what a tracked row costs.) Elsewhere than on CPython (no
``ctypes.pythonapi``) this is a no-op, and rows stay tracked as any object.
"""

from __future__ import annotations

import gc
import sys
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["UNTRACKS", "untrack", "untrack_all"]


def _c_untrack() -> Callable[[Any], None] | None:
    """CPython's ``PyObject_GC_UnTrack``, or None where there is none."""
    if sys.implementation.name != "cpython":
        return None
    try:
        import ctypes

        function = ctypes.pythonapi.PyObject_GC_UnTrack
    except (ImportError, AttributeError):
        return None
    function.argtypes = (ctypes.py_object,)
    function.restype = None
    return function


_UNTRACK = _c_untrack()
#: Whether :func:`untrack_all` really untracks here (CPython), or does nothing.
UNTRACKS = _UNTRACK is not None
_is_tracked = gc.is_tracked


def untrack_all(objects: Iterable[Any]) -> None:
    """Stop the cyclic collector tracking each of ``objects`` (see the module docstring: only
    for objects that can never be part of a reference cycle). Those not tracked cost a check
    each (tens of nanoseconds); the others a C call each (about half a microsecond)."""
    if _UNTRACK is not None:
        # The C API may be given only objects the collector tracks (those of other types have
        # no collector header): gc.is_tracked is false for them.
        deque(map(_UNTRACK, filter(_is_tracked, objects)), maxlen=0)


def untrack(obj: Any) -> None:
    """:func:`untrack_all` for one object."""
    if _UNTRACK is not None and _is_tracked(obj):
        _UNTRACK(obj)
