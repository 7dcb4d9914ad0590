"""Snapshots of the engine state: a consistent view taken in O(number of families), serialized
afterwards to canonical msgpack, and restored with every field checked.

Taking a :class:`View` freezes the families (:class:`~.family.Family`: copy-on-write while the
view is serialized, so the partition goes on processing meanwhile, and thawed at its end). The
bytes are a msgpack array: a header, then per family an array of blocks of at most
:data:`BLOCK_ROWS` rows in the family's iteration order, each block its row count followed by
one column per field (a column of one value stands for that value in every row). Equal states
give equal bytes, and :func:`restore` rebuilds the families in the same order (so a restored
replica iterates exactly like the original) and the derived indexes. It decodes the bytes a
block at a time and adds each block (its rows, and the indexes derived from them, read from
its columns) as one piece of bounded work: :func:`restore_pieces` hands these pieces to a
caller that runs other work in between. Columns are checked a whole column at a time (the set
of the values' types), value by value only where values nest. Anything that is not such a
snapshot raises SnapshotError (a ValueError); the caller's state is untouched because a new
state is built.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator, Mapping
from contextlib import closing
from functools import partial
from itertools import chain, islice, repeat
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar

from ... import codec
from ...keys import KEY_BITS, MAX_COUNTER
from ..bpmn import BpmnDeploymentError, Process
from ..dmn import DecisionRequirementsGraph, DmnDeploymentError, parse_dmn
from ..statemachine import PendingSend
from .decision_state import DecisionDefinition, DecisionRequirements
from .family import Family
from .messaging.state import MessagingState, Received
from .messaging.values import (
    PROCESS_SUBSCRIPTION_STATES,
    Correlation,
    Message,
    MessageSubscription,
    ProcessSubscription,
    SignalSubscription,
    Started,
)
from .state import EngineState
from .timer_state import Timer
from .untrack import untrack_all
from .values import (
    INSTANCE_STATES,
    JOB_STATES,
    Deferred,
    Definition,
    Incident,
    Instance,
    Job,
    Step,
    StepKind,
)

__all__ = [
    *("MAGIC", "Pieces", "SnapshotError", "View", "release", "restore", "restore_pieces"),
    *("serialize", "take_view"),
]

MAGIC = "tz.engine"
VERSION = 4
BLOCK_ROWS = 1024  # rows per block (and per piece of the bytes): a few milliseconds of work


class SnapshotError(ValueError):
    """Bytes that are not a valid engine snapshot (for this partition)."""


class View(NamedTuple):
    """Everything a snapshot holds, frozen at one moment: the scalars, the families in the
    snapshot's order (each a frozen :class:`Family`, whose storage is the state as of the
    view, or a plain copy when another view had them frozen already) and the steps."""

    partition_id: int
    partition_count: int
    counter: int
    clock: int
    position: int
    families: tuple[dict[Any, Any], ...]
    steps: list[Step]
    frozen: tuple[Family[Any, Any], ...]  # the families this view froze: thawed when done


def _families(state: EngineState) -> tuple[Family[Any, Any], ...]:
    """Every family but the steps, in the snapshot's order."""
    m = state.messaging
    return (
        *(state.definitions, state.instances, state.variables, state.joins, state.jobs),
        *(state.incidents, state.deferred, state.outbox),
        *(m.messages, m.subscriptions, m.correlations, m.started, m.process_subscriptions),
        *(m.signal_subscriptions, m.sequences, m.received),
        *(state.timers, state.decision_requirements, state.decisions),
    )


def take_view(state: EngineState) -> View:
    """Freeze the families (constant time each): the view reads their storage, processing
    goes on in their overlays. Serializing the view (:func:`chunks`) thaws them at its end;
    a family some other view still has frozen is copied instead (the state as of now)."""
    families: list[dict[Any, Any]] = []
    frozen: list[Family[Any, Any]] = []
    for family in _families(state):
        if family.frozen:
            families.append(family.copy())
        else:
            family.freeze()
            families.append(family)
            frozen.append(family)
    return View(
        state.partition_id,
        state.partition_count,
        state.counter,
        state.clock,
        state.position,
        tuple(families),
        list(state.steps),
        tuple(frozen),
    )


def release(view: View) -> None:
    """Thaw the families ``view`` froze (done by :func:`chunks` at its end; idempotent)."""
    for family in view.frozen:
        family.thaw()


_value = itemgetter(1)


def _value_row(item: tuple[Any, Any]) -> tuple[Any, ...]:
    return item[1]  # type: ignore[no-any-return]


def _join_row(item: tuple[tuple[int, str], tuple[tuple[str, int], ...]]) -> tuple[Any, ...]:
    (key, element_id), taken = item
    return (key, element_id, taken)


def _deferred_row(item: tuple[int, Deferred]) -> tuple[Any, ...]:
    key, deferred = item
    return (key, *deferred)


def _received_row(item: tuple[int, Received]) -> tuple[Any, ...]:
    source, (floor, above) = item
    return (source, floor, above)


_Row = Callable[[tuple[Any, Any]], tuple[Any, ...]]
# How each family's items become rows, in the snapshot's order (the steps after the outbox).
_ROWS: tuple[_Row, ...] = (
    *(_value_row, _value_row, tuple, _join_row, _value_row, _value_row, _deferred_row),
    *(_value_row, _value_row),  # the outbox, the steps
    *(_value_row,) * 6,  # the messaging families
    *(tuple, _received_row),
    *(_value_row,) * 3,  # timers and decisions
)
# Whether each family's values are tuples (rows, or tuples of ints and strings), through which
# no reference cycle can pass: the writer untracks them (untrack.py). The others are the
# variables' scopes (dicts: left to the collector, which does not track one of flat values
# anyway) and the sequences (ints).
_ROW_VALUES = tuple(row is not tuple for row in _ROWS)
_SHARED = frozenset((int, str, bytes, bool, type(None)))


def _block(rows: list[tuple[Any, ...]]) -> list[Any]:
    """One block of a family: its row count, then a column per field -- the values, or just
    one when every row has that very value (of one scalar type: 1, 1.0 and True are equal)."""
    block: list[Any] = [len(rows)]
    for column in zip(*rows, strict=True):
        first = column[0]
        if (
            type(first) in _SHARED
            and column.count(first) == len(column)
            and len(set(map(type, column))) == 1
        ):
            block.append((first,))
        else:
            block.append(column)
    return block


def chunks(view: View) -> Generator[bytes, None, None]:
    """The snapshot bytes in pieces (whose concatenation is :func:`serialize`), so a caller can
    yield to other work between them: one block of at most :data:`BLOCK_ROWS` rows each, so no
    piece costs more than a few milliseconds however big the state is. The families the view
    froze are thawed once the last piece is out (or the generator is closed)."""
    try:
        header = [MAGIC, VERSION, view.partition_id, view.partition_count, view.counter]
        header += [view.clock, view.position]
        count = len(header) + len(view.families) + 1
        yield _array_header(count) + b"".join(codec.packb(h) for h in header)
        packb = codec.packb
        families: list[Any] = list(view.families)
        families.insert(8, view.steps)  # the steps come after the outbox
        for family, row, tuples in zip(families, _ROWS, _ROW_VALUES, strict=True):
            length = len(family) if family is view.steps else dict.__len__(family)
            # The values themselves where they are the rows: no (key, value) pair per row,
            # which the collector would track (and count as long-lived when a collection
            # comes while the block is built).
            if row is _value_row:
                items = iter(family) if family is view.steps else iter(dict.values(family))
            else:
                items = iter(dict.items(family))
            yield _array_header(-(-length // BLOCK_ROWS))
            for _ in range(0, length, BLOCK_ROWS):
                # No collection while a block is built: its temporaries (columns, sets) die by
                # reference counting at its end, and a collection meanwhile would only move
                # them into the older generations, which is what starts full passes.
                collecting = gc.isenabled()
                gc.disable()
                try:
                    block = list(islice(items, BLOCK_ROWS))
                    if row is _value_row:
                        untrack_all(block)  # out of the collector's walks while we pass by
                    else:
                        if tuples:
                            untrack_all(map(_value, block))
                        block = list(map(row, block))
                    piece = packb(_block(block))
                    del block
                finally:
                    if collecting:
                        gc.enable()
                yield piece
    finally:
        release(view)


def serialize(view: View) -> bytes:
    return b"".join(chunks(view))


def _array_header(length: int) -> bytes:
    if length < 16:
        return bytes([0x90 | length])
    if length < 1 << 16:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


# --- restoring ------------------------------------------------------------------------------


def _fail(what: str) -> SnapshotError:
    return SnapshotError(f"bad engine snapshot: {what}")


S = TypeVar("S")


def _exactly(kind: type[S], noun: str) -> Callable[[Any], S]:
    """A check that a decoded value is of type ``kind`` itself (no subclass: bool is no int)."""

    def check(value: Any) -> S:
        if type(value) is not kind:
            raise _fail(f"expected {noun}, got {type(value).__name__}")
        return value

    return check


_int = _exactly(int, "an integer")
_str = _exactly(str, "a string")
_bool = _exactly(bool, "a boolean")
_bytes = _exactly(bytes, "bytes")


def _json(value: Any, depth: int = 0) -> Any:
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if depth > 256:
        raise _fail("value nested too deeply")
    if kind is list:
        return [_json(v, depth + 1) for v in value]
    if kind is dict:
        return {_str(k): _json(v, depth + 1) for k, v in value.items()}
    raise _fail(f"{kind.__name__} is not a JSON value")


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _fail("expected an object")
    return _json(value)  # type: ignore[no-any-return]


def _opt_object(value: Any) -> dict[str, Any] | None:
    return None if value is None else _object(value)


def _strings(value: Any) -> tuple[str, ...]:
    if type(value) is not list:
        raise _fail("expected a list of strings")
    return tuple(_str(v) for v in value)


def _headers(value: Any) -> dict[str, str]:
    if type(value) is not dict:
        raise _fail("expected headers")
    return {_str(k): _str(v) for k, v in value.items()}


def _trigger(value: Any) -> tuple[str, dict[str, Any]] | None:
    if value is None:
        return None
    if type(value) is not list or len(value) != 2:
        raise _fail("expected a trigger")
    return (_str(value[0]), _object(value[1]))


_Check = Callable[[Any], Any]
_Column = Callable[[list[Any]], list[Any]]
_SCALARS = frozenset((str, int, float, bool, type(None)))


def _typed(kind: type, what: str) -> _Column:
    expected = {kind}

    def check(column: list[Any]) -> list[Any]:
        if set(map(type, column)) != expected:
            raise _fail(
                f"expected {what}, got {sorted(t.__name__ for t in set(map(type, column)))}"
            )
        return column

    return check


def _objects(column: list[Any]) -> list[Any]:
    # Flat objects (text keys, scalar values) are checked by type over the whole column;
    # anything else value by value, nested values included.
    if (
        set(map(type, column)) == {dict}
        and set(map(type, chain.from_iterable(column))) <= {str}
        and set(map(type, chain.from_iterable(map(dict.values, column)))) <= _SCALARS
    ):
        return column
    return [_object(value) for value in column]


def _all_headers(column: list[Any]) -> list[Any]:
    if set(map(type, column)) == {dict} and not any(column):
        return column  # all empty: the usual case (tasks without headers, standalone jobs)
    if (
        set(map(type, column)) == {dict}
        and set(map(type, chain.from_iterable(column))) <= {str}
        and set(map(type, chain.from_iterable(map(dict.values, column)))) <= {str}
    ):
        return column
    return [_headers(value) for value in column]


def _all_strings(column: list[Any]) -> list[Any]:
    if set(map(type, column)) == {list} and set(map(type, chain.from_iterable(column))) <= {str}:
        return list(map(tuple, column))
    return [_strings(value) for value in column]


def _each(check: _Check) -> _Column:
    def each(column: list[Any]) -> list[Any]:
        return list(map(check, column))

    return each


# Whole-column checks for the per-field ones (the others run value by value).
_COLUMNS: dict[_Check, _Column] = {}


def _column(check: _Check) -> _Column:
    return _COLUMNS.get(check) or _each(check)


class _Reader:
    """The snapshot's values in order, decoded a block at a time (:class:`codec.Reader`): the
    families are read in the snapshot's order, each to its end before the next."""

    def __init__(self, data: bytes) -> None:
        self._reader = codec.Reader(data)
        self._left = 0  # blocks of the current family not read yet

    def header(self) -> list[Any]:
        if self._reader.array_header() != 27:
            raise _fail("not an engine snapshot")
        return [self._reader.value() for _ in range(7)]

    def family(self) -> int:
        """Start the next family: its number of blocks, to be read with :meth:`block`."""
        if self._left:
            raise AssertionError("a family was not read to its end")
        self._left = self._reader.array_header()
        return self._left

    def block(self) -> Any:
        if not self._left:
            raise AssertionError("no block left in the family")
        self._left -= 1
        return self._reader.value()

    def done(self) -> None:
        if self._left or not self._reader.at_end():
            raise _fail("bytes after the last family")


def _columns(block: Any, checks: tuple[_Check, ...]) -> list[list[Any]]:
    """The checked columns of a block (see :func:`_block`): a column of one value stands for
    that value in every row."""
    width = len(checks)
    if type(block) is not list or len(block) != width + 1:
        raise _fail(f"expected a block of {width} columns")
    rows = block[0]
    if type(rows) is not int or not 1 <= rows <= BLOCK_ROWS:
        raise _fail("block size")
    checked = []
    for check, column in zip(map(_column, checks), block[1:], strict=True):
        if type(column) is not list:
            raise _fail("expected a column")
        if len(column) == rows:
            checked.append(check(column))
        elif len(column) == 1:
            checked.append(check(column) * rows)
        else:
            raise _fail(f"a column of {len(column)} values in a block of {rows} rows")
    return checked


def _rows(block: Any, checks: tuple[_Check, ...]) -> list[tuple[Any, ...]]:
    """A block as plain tuples."""
    return list(zip(*_columns(block, checks), strict=True))


T = TypeVar("T", bound=tuple[Any, ...])


def _values(cls: type[T], block: Any, checks: tuple[_Check, ...]) -> list[T]:
    """A block as values of the NamedTuple ``cls`` (whose fields ``checks`` describe, in
    order), which the cyclic collector does not track (untrack.py)."""
    return _table(cls, block, checks)[1]


def _table(cls: type[T], block: Any, checks: tuple[_Check, ...]) -> tuple[list[list[Any]], list[T]]:
    """:func:`_values` with the block's columns (what is derived from a field reads it there,
    in one pass over a list, rather than row by row)."""
    columns = _columns(block, checks)
    rows = list(map(tuple.__new__, repeat(cls), zip(*columns, strict=True)))
    untrack_all(rows)
    return columns, rows


def _blocks(reader: _Reader, add: Callable[[Any], object]) -> Generator[None, None, None]:
    """The next family, one piece per block: ``add`` does a block's work. Its temporaries (the
    decoded block, the columns) die as it returns, so none is alive between the pieces, where
    other work runs and the cyclic collector may: it would walk them and, as they survived,
    count them towards its next full pass."""
    for _ in range(reader.family()):
        add(reader.block())
        yield


_COLUMNS.update(
    {
        _int: _typed(int, "integers"),
        _str: _typed(str, "strings"),
        _bool: _typed(bool, "booleans"),
        _bytes: _typed(bytes, "bytes"),
        _object: _objects,
        _headers: _all_headers,
        _strings: _all_strings,
    }
)
_DEFINITION: tuple[_Check, ...] = (_int, _str, _int, _str, _bytes, _bytes, _int)
_INSTANCE: tuple[_Check, ...] = (
    *(_int, _str, _str, _int, _int, _int, _int, _int, _str),
    *(_int, _int, _int, _int, _strings, _int, _str, _int, _int),
    *(_trigger, _opt_object),
)
_JOB: tuple[_Check, ...] = (
    *(_int, _str, _str, _int, _str, _int, _int, _object, _headers, _str, _str),
    *(_int, _int, _str, _int, _int, _str),
)
_INCIDENT = (_int, _str, _str, _str, _int, _int, _str, _int, _int, _int)
_STEP = (_int, _int, _str, _int, _int, _int, _int, _int, _str, _opt_object)
_INSTANCE_STATES = frozenset(INSTANCE_STATES)
_JOB_STATES = frozenset(JOB_STATES)
_STEP_KINDS = (*range(StepKind.ACTIVATE, StepKind.JOIN_CHECK + 1), StepKind.INTER_PARTITION)
_TIMER = (_int, _int, _int, _int, _str, _int, _int, _str)
_DRG = (_int, _str, _str, _int, _str, _bytes, _bytes, _int)
_DECISION = (_int, _str, _str, _int, _int, _str, _int)

_Parse = Callable[[str, bytes], tuple[Process, ...]]
#: Restoring, a piece at a time: each ``next`` does a bounded amount of work (one block of
#: rows, or one model parsed), and the last one returns the state.
Pieces = Generator[None, None, EngineState]


def restore(data: bytes, parse: _Parse) -> EngineState:
    """A new state from snapshot bytes, in one go; raises SnapshotError for anything else.

    The cyclic garbage collector is paused meanwhile: restoring allocates millions of objects
    that all stay alive, and each collection they trigger would walk all of them again (a
    third of the restore time at 100,000 jobs). Reference counting still frees what dies. The
    rows are made untracked (untrack.py), so later full passes of the collector do not walk
    them either."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        pieces = restore_pieces(data, parse)
        while True:
            try:
                next(pieces)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
    finally:
        if collecting:
            gc.enable()


def restore_pieces(data: bytes, parse: _Parse) -> Pieces:
    """:func:`restore` a piece at a time (the generator's return value is the state), so the
    caller can let other work run in between: the bytes are decoded a block at a time, and a
    piece costs a few milliseconds however big the state is, but for one whose block makes a
    family's dict grow past a power of two (tens of milliseconds at a million rows) and the
    last one, which rebuilds the indexes that are not built block by block (work in the
    definitions, incidents, timers and messages). The state is new and nobody else's until
    the end, so work done between the pieces cannot see or change it. The cyclic garbage
    collector is paused within each piece (see :func:`restore`), not between them."""
    steps = _restore(data, parse)
    with closing(steps):
        while True:
            collecting = gc.isenabled()
            gc.disable()
            try:
                next(steps)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            except SnapshotError:
                raise
            except Exception as error:  # any shape error in foreign bytes: "not a snapshot"
                raise _fail(f"{type(error).__name__}: {error}") from None
            finally:
                if collecting:
                    gc.enable()
            yield


def _restore(data: bytes, parse: _Parse) -> Pieces:
    if type(data) is not bytes:
        raise _fail("not bytes")
    reader = _Reader(data)
    header = reader.header()
    if header[0] != MAGIC:
        raise _fail("not an engine snapshot")
    if header[1] != VERSION:
        raise _fail(f"unsupported version {header[1]!r}")
    partition_id, partition_count = _int(header[2]), _int(header[3])
    counter, clock, position = _int(header[4]), _int(header[5]), _int(header[6])
    state = EngineState(partition_id, partition_count)
    if not 0 <= counter <= MAX_COUNTER:
        raise _fail("key counter out of range")
    state.counter, state.clock, state.position = counter, clock, position
    models: dict[int, Process] = {}
    yield from _restore_definitions(state, reader, parse, models)
    references: set[int] = set()  # of the element instances: to other element instances
    yield from _blocks(reader, partial(_add_instances, state, models, references))
    references.difference_update(state.instances)
    if any(ref >= 0 for ref in references):
        raise _fail(f"instances: dangling reference {max(references)}")
    yield from _blocks(reader, partial(_add_variables, state))
    yield from _blocks(reader, partial(_add_joins, state))
    elements: set[int] = set()  # of the jobs: element instances
    yield from _blocks(reader, partial(_add_jobs, state, elements))
    # Once for all blocks: removing a dict's keys from a set walks the whole dict.
    elements.difference_update(state.instances)
    if any(key >= 0 for key in elements):
        raise _fail(f"job of element instance {max(elements)}: unknown element instance")
    yield from _blocks(reader, partial(_add_incidents, state))
    yield from _blocks(reader, partial(_add_deferred, state))
    yield from _blocks(reader, partial(_add_outbox, state))
    yield from _blocks(reader, partial(_add_steps, state, models))
    yield from _restore_messaging(state.messaging, reader)
    yield from _blocks(reader, partial(_add_timers, state, models))
    graphs: dict[int, DecisionRequirementsGraph] = {}
    yield from _restore_decisions(state, reader, graphs)
    reader.done()
    state.rebuild_indexes(models, graphs)
    return state


def _restore_definitions(
    state: EngineState, reader: _Reader, parse: _Parse, models: dict[int, Process]
) -> Generator[None, None, None]:
    parsed: dict[tuple[str, bytes], tuple[Process, ...]] = {}
    for _ in range(reader.family()):
        for definition in _values(Definition, reader.block(), _DEFINITION):
            source = (definition.resource_name, definition.resource)
            if source not in parsed:
                try:
                    parsed[source] = parse(*source)
                except BpmnDeploymentError as error:
                    raise _fail(f"definition {definition.key}: {error}") from None
                yield  # a model parsed: a piece of its own
            model = next((p for p in parsed[source] if p.id == definition.bpmn_process_id), None)
            if model is None or definition.key in state.definitions:
                raise _fail(f"definition {definition.key}")
            state.definitions[definition.key] = definition
            models[definition.key] = model
        yield


def _join_counter(value: Any) -> tuple[str, int]:
    if type(value) is not list or len(value) != 2:
        raise _fail("join counter")
    return (_str(value[0]), _int(value[1]))


def _each_join(value: Any) -> tuple[tuple[str, int], ...]:
    if type(value) is not list:
        raise _fail("join row")
    return tuple(map(_join_counter, value))


def _add_keyed(
    family: dict[int, Any],
    columns: list[list[Any]],
    rows: list[Any],
    what: str,
    state_field: int,
    states: Any,
) -> None:
    """Put one block of keyed rows (the key is field 0; ``columns`` are the block's fields)
    into ``family``; every key must be new and every row's state (field ``state_field``) one
    of ``states``."""
    before = len(family)
    family.update(zip(columns[0], rows, strict=True))
    if len(family) != before + len(rows):
        raise _fail(f"{what} keys repeat")
    if not set(columns[state_field]) <= states:
        raise _fail(f"{what} state")


def _check_keys(state: EngineState, keys: list[int]) -> None:
    """That no key (of a block of element instances, jobs, incidents or timers) that this
    partition made is beyond the key counter: new keys would repeat it."""
    partition_id = state.partition_id
    low, high = min(keys), max(keys)
    if not low >> KEY_BITS == high >> KEY_BITS == partition_id:
        high = max((k for k in keys if k >> KEY_BITS == partition_id), default=-1)
    if high >= 0 and high & MAX_COUNTER > state.counter:
        raise _fail("keys beyond the key counter")


def _add_instances(
    state: EngineState, models: Mapping[int, Process], references: set[int], block: Any
) -> None:
    columns, rows = _table(Instance, block, _INSTANCE)
    _add_keyed(state.instances, columns, rows, "instance", 8, _INSTANCE_STATES)
    _check_keys(state, columns[0])
    for definition_key, element_id in set(zip(columns[5], columns[1], strict=True)):
        model = models.get(definition_key)
        if model is None or element_id not in model.elements:
            raise _fail(f"instance of {definition_key}: unknown element {element_id!r}")
    references.update(columns[3], columns[7])
    state.index_instances(rows)


def _add_variables(state: EngineState, block: Any) -> None:
    keys, scopes = _columns(block, (_int, _object))
    state.variables.update(zip(keys, scopes, strict=True))


def _add_joins(state: EngineState, block: Any) -> None:
    keys, element_ids, taken = _columns(block, (_int, _str, _each_join))
    untrack_all(taken)
    state.joins.update(zip(zip(keys, element_ids, strict=True), taken, strict=True))


_JOB_INDEXED = tuple(map(Job._fields.index, ("key", "type", "state", "deadline", "recur_at")))


def _add_jobs(state: EngineState, elements: set[int], block: Any) -> None:
    columns, rows = _table(Job, block, _JOB)
    _add_keyed(state.jobs, columns, rows, "job", 2, _JOB_STATES)
    _check_keys(state, columns[0])
    elements.update(columns[11])
    state.job_index.load(rows, *map(columns.__getitem__, _JOB_INDEXED))


def _add_incidents(state: EngineState, block: Any) -> None:
    columns, incidents = _table(Incident, block, _INCIDENT)
    _check_keys(state, columns[0])
    state.incidents.update(zip(columns[0], incidents, strict=True))


def _add_deferred(state: EngineState, block: Any) -> None:
    keys, ats, fetches = _columns(block, (_int, _int, _strings))
    deferred = list(map(Deferred, ats, fetches))
    untrack_all(deferred)
    state.deferred.update(zip(keys, deferred, strict=True))


def _add_outbox(state: EngineState, block: Any) -> None:
    sends = _values(PendingSend, block, (_int, _int, _bytes))
    state.outbox.update(zip(map(itemgetter(0), sends), sends, strict=True))


def _add_steps(state: EngineState, models: Mapping[int, Process], block: Any) -> None:
    steps = _values(Step, block, _STEP)
    for step in steps:
        if step.kind not in _STEP_KINDS:
            raise _fail("step kind")
        if step.kind == StepKind.ACTIVATE and step.element_id:
            model = models.get(step.definition_key)
            if model is None or step.element_id not in model.elements:
                raise _fail("step element")
    state.steps.extend(steps)


def _add_timers(state: EngineState, models: Mapping[int, Process], block: Any) -> None:
    columns, timers = _table(Timer, block, _TIMER)
    _check_keys(state, columns[0])
    for timer in timers:
        model = models.get(timer.definition_key)
        if model is None or timer.target_element_id not in model.elements:
            raise _fail(f"timer {timer.key}: unknown element")
        if timer.key in state.timers or (
            timer.element_instance_key >= 0 and timer.element_instance_key not in state.instances
        ):
            raise _fail(f"timer {timer.key}")
        state.timers[timer.key] = timer


# --- messages and signals -------------------------------------------------------------------

_MESSAGE = (_int, _str, _str, _int, _str, _object)
_SUBSCRIPTION = (_int, _str, _str, _int, _str, _bool, _int)
_CORRELATION = (_int, _str, _int, _str, _bool)
_STARTED = (_int, _str, _str)
_PROCESS_SUBSCRIPTION = (_int, _str, _str, _str, _bool, _str, _bool, _int, _str)
_SIGNAL_SUBSCRIPTION = (_int, _str, _str, _int, _str, _bool)


def _restore_messaging(messaging: MessagingState, reader: _Reader) -> Generator[None, None, None]:
    for add in (
        _add_messages,
        _add_subscriptions,
        _add_correlations,
        _add_started,
        _add_process_subscriptions,
        _add_signal_subscriptions,
        _add_sequences,
        _add_received,
    ):
        yield from _blocks(reader, partial(add, messaging))


def _add_messages(messaging: MessagingState, block: Any) -> None:
    messages = _values(Message, block, _MESSAGE)
    messaging.messages.update(zip(map(itemgetter(0), messages), messages, strict=True))


def _add_subscriptions(messaging: MessagingState, block: Any) -> None:
    for subscription in _values(MessageSubscription, block, _SUBSCRIPTION):
        key = (subscription.element_instance_key, subscription.message_name)
        messaging.subscriptions[key] = subscription


def _add_correlations(messaging: MessagingState, block: Any) -> None:
    for correlation in _values(Correlation, block, _CORRELATION):
        messaging.correlations[(correlation.message_key, correlation.bpmn_process_id)] = correlation


def _add_started(messaging: MessagingState, block: Any) -> None:
    records = _values(Started, block, _STARTED)
    messaging.started.update(zip(map(itemgetter(0), records), records, strict=True))


def _add_process_subscriptions(messaging: MessagingState, block: Any) -> None:
    for waiting in _values(ProcessSubscription, block, _PROCESS_SUBSCRIPTION):
        if waiting.state not in PROCESS_SUBSCRIPTION_STATES:
            raise _fail("process message subscription state")
        messaging.process_subscriptions[(waiting.element_instance_key, waiting.message_name)] = (
            waiting
        )


def _add_signal_subscriptions(messaging: MessagingState, block: Any) -> None:
    for signal in _values(SignalSubscription, block, _SIGNAL_SUBSCRIPTION):
        messaging.signal_subscriptions[(signal.element_instance_key, signal.catch_id)] = signal


def _add_sequences(messaging: MessagingState, block: Any) -> None:
    messaging.sequences.update(_rows(block, (_int, _int)))


def _add_received(messaging: MessagingState, block: Any) -> None:
    sources, floors, aboves = _columns(block, (_int, _int, _ints))
    received = list(zip(floors, aboves, strict=True))
    untrack_all(received)
    messaging.received.update(zip(sources, received, strict=True))


def _ints(value: Any) -> tuple[int, ...]:
    if type(value) is not list:
        raise _fail("expected a list of integers")
    return tuple(_int(v) for v in value)


def _restore_decisions(
    state: EngineState, reader: _Reader, graphs: dict[int, DecisionRequirementsGraph]
) -> Generator[None, None, None]:
    for _ in range(reader.family()):
        for drg in _values(DecisionRequirements, reader.block(), _DRG):
            if drg.key in state.decision_requirements:
                raise _fail(f"decision requirements {drg.key}")
            try:
                graph = parse_dmn(drg.resource_name, drg.resource)
            except DmnDeploymentError as error:
                raise _fail(f"decision requirements {drg.key}: {error}") from None
            if graph.id != drg.drg_id:
                raise _fail(f"decision requirements {drg.key}: not {drg.drg_id}")
            state.decision_requirements[drg.key] = drg
            graphs[drg.key] = graph
            yield  # a graph parsed: a piece of its own
    yield from _blocks(reader, partial(_add_decisions, state, graphs))


def _add_decisions(
    state: EngineState, graphs: Mapping[int, DecisionRequirementsGraph], block: Any
) -> None:
    for decision in _values(DecisionDefinition, block, _DECISION):
        owner = graphs.get(decision.drg_key)
        if (
            owner is None
            or owner.decision(decision.decision_id) is None
            or decision.key in state.decisions
        ):
            raise _fail(f"decision {decision.key}")
        state.decisions[decision.key] = decision
