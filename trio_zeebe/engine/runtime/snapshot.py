"""Snapshots of the engine state: a consistent view taken in O(number of families), serialized
afterwards to canonical msgpack, and restored with every field checked.

Taking a :class:`View` freezes the families (:class:`~.family.Family`: copy-on-write while the
view is serialized, so the partition goes on processing meanwhile, and thawed at its end). The
bytes are a msgpack array: a header, then per family an array of blocks of at most
:data:`BLOCK_ROWS` rows in the family's iteration order, each block its row count followed by
one column per field (a column of one value stands for that value in every row). Equal states
give equal bytes, and :func:`restore` rebuilds the families in the same order (so a restored
replica iterates exactly like the original) and then the derived indexes. Columns are checked
a whole column at a time (the set of the values' types), value by value only where values nest.
Anything that is not such a snapshot raises SnapshotError (a ValueError); the caller's state is
untouched because a new state is built.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator, Iterator, Mapping
from functools import partial
from itertools import chain, islice
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

__all__ = ["MAGIC", "SnapshotError", "View", "release", "restore", "serialize", "take_view"]

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


def _blocks(family: Any, checks: tuple[_Check, ...]) -> Iterator[list[list[Any]]]:
    """The checked columns of each block of ``family`` (see :func:`_block`): a column of one
    value stands for that value in every row."""
    if type(family) is not list:
        raise _fail("families are lists of blocks")
    width = len(checks)
    columns = [_column(check) for check in checks]
    for block in family:
        if type(block) is not list or len(block) != width + 1:
            raise _fail(f"expected a block of {width} columns")
        rows = block[0]
        if type(rows) is not int or not 1 <= rows <= BLOCK_ROWS:
            raise _fail("block size")
        checked = []
        for check, column in zip(columns, block[1:], strict=True):
            if type(column) is not list:
                raise _fail("expected a column")
            if len(column) == rows:
                checked.append(check(column))
            elif len(column) == 1:
                checked.append(check(column) * rows)
            else:
                raise _fail(f"a column of {len(column)} values in a block of {rows} rows")
        yield checked


def _rows(family: Any, checks: tuple[_Check, ...]) -> Iterator[tuple[Any, ...]]:
    for columns in _blocks(family, checks):
        yield from zip(*columns, strict=True)


T = TypeVar("T", bound=tuple[Any, ...])


def _values(cls: type[T], family: Any, checks: tuple[_Check, ...]) -> Iterator[list[T]]:
    """Each block of ``family`` as values of the NamedTuple ``cls`` (whose fields ``checks``
    describe, in order), which the cyclic collector does not track (untrack.py)."""
    make = partial(tuple.__new__, cls)
    for columns in _blocks(family, checks):
        block = list(map(make, zip(*columns, strict=True)))
        untrack_all(block)
        yield block


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


def restore(data: bytes, parse: Callable[[str, bytes], tuple[Process, ...]]) -> EngineState:
    """A new state from snapshot bytes; raises SnapshotError for anything else.

    The cyclic garbage collector is paused meanwhile: restoring allocates millions of objects
    that all stay alive, and each collection they trigger would walk all of them again (a
    third of the restore time at 100,000 jobs). Reference counting still frees what dies. The
    rows are made untracked (untrack.py), so later full passes of the collector do not walk
    them either."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _restore(data, parse)
    except SnapshotError:
        raise
    except Exception as error:  # any shape error in foreign bytes means "not a snapshot"
        raise _fail(f"{type(error).__name__}: {error}") from None
    finally:
        if collecting:
            gc.enable()


def _restore(data: bytes, parse: Callable[[str, bytes], tuple[Process, ...]]) -> EngineState:
    if type(data) is not bytes:
        raise _fail("not bytes")
    obj = codec.unpackb(data)
    if type(obj) is not list or len(obj) != 27 or obj[0] != MAGIC:
        raise _fail("not an engine snapshot")
    if obj[1] != VERSION:
        raise _fail(f"unsupported version {obj[1]!r}")
    partition_id, partition_count = _int(obj[2]), _int(obj[3])
    counter, clock, position = _int(obj[4]), _int(obj[5]), _int(obj[6])
    state = EngineState(partition_id, partition_count)
    if not 0 <= counter <= MAX_COUNTER:
        raise _fail("key counter out of range")
    state.counter, state.clock, state.position = counter, clock, position
    if any(type(f) is not list for f in obj[7:]):
        raise _fail("families are lists")
    definitions, instances, variables, joins, jobs, incidents, deferred, outbox, steps = obj[7:16]
    timers, decision_requirements, decisions = obj[24:27]
    models: dict[int, Process] = {}
    parsed: dict[tuple[str, bytes], tuple[Process, ...]] = {}
    for definition in chain.from_iterable(_values(Definition, definitions, _DEFINITION)):
        source = (definition.resource_name, definition.resource)
        if source not in parsed:
            try:
                parsed[source] = parse(*source)
            except BpmnDeploymentError as error:
                raise _fail(f"definition {definition.key}: {error}") from None
        model = next((p for p in parsed[source] if p.id == definition.bpmn_process_id), None)
        if model is None or definition.key in state.definitions:
            raise _fail(f"definition {definition.key}")
        state.definitions[definition.key] = definition
        models[definition.key] = model
    _restore_instances(state, instances, models)
    for keys, scopes in _blocks(variables, (_int, _object)):
        state.variables.update(zip(keys, scopes, strict=True))
    for key, element_id, taken in _rows(joins, (_int, _str, _each_join)):
        state.joins[(key, element_id)] = taken
    untrack_all(state.joins.values())
    _restore_jobs(state, jobs)
    for incident in chain.from_iterable(_values(Incident, incidents, _INCIDENT)):
        state.incidents[incident.key] = incident
    for key, at, fetch in _rows(deferred, (_int, _int, _strings)):
        state.deferred[key] = Deferred(at, fetch)
    untrack_all(state.deferred.values())
    for send in chain.from_iterable(_values(PendingSend, outbox, (_int, _int, _bytes))):
        state.outbox[send.send_id] = send
    for step in chain.from_iterable(_values(Step, steps, _STEP)):
        if step.kind not in _STEP_KINDS:
            raise _fail("step kind")
        if step.kind == StepKind.ACTIVATE and step.element_id:
            model = models.get(step.definition_key)
            if model is None or step.element_id not in model.elements:
                raise _fail("step element")
        state.steps.append(step)
    graphs = _restore_decisions(state, decision_requirements, decisions)
    for timer in chain.from_iterable(_values(Timer, timers, _TIMER)):
        model = models.get(timer.definition_key)
        if model is None or timer.target_element_id not in model.elements:
            raise _fail(f"timer {timer.key}: unknown element")
        if timer.key in state.timers or (
            timer.element_instance_key >= 0 and timer.element_instance_key not in state.instances
        ):
            raise _fail(f"timer {timer.key}")
        state.timers[timer.key] = timer
    for family in (state.instances, state.jobs, state.incidents, state.timers):
        top = _highest_key(family, partition_id)
        if top is not None and top & MAX_COUNTER > counter:
            raise _fail("keys beyond the key counter")
    _restore_messaging(state.messaging, obj[16:24])
    state.rebuild_indexes(models, graphs)
    return state


def _join_counter(value: Any) -> tuple[str, int]:
    if type(value) is not list or len(value) != 2:
        raise _fail("join counter")
    return (_str(value[0]), _int(value[1]))


def _each_join(value: Any) -> tuple[tuple[str, int], ...]:
    if type(value) is not list:
        raise _fail("join row")
    return tuple(map(_join_counter, value))


def _add_block(
    family: dict[int, Any], block: list[Any], what: str, state_field: int, states: Any
) -> None:
    """Put one block of keyed rows (the key is field 0) into ``family``; every key must be
    new and every row's state (field ``state_field``) one of ``states``."""
    before = len(family)
    family.update(zip(map(itemgetter(0), block), block, strict=True))
    if len(family) != before + len(block):
        raise _fail(f"{what} keys repeat")
    if not set(map(itemgetter(state_field), block)) <= states:
        raise _fail(f"{what} state")


def _restore_instances(state: EngineState, family: Any, models: Mapping[int, Process]) -> None:
    instances = state.instances
    references: set[int] = set()
    for block in _values(Instance, family, _INSTANCE):
        _add_block(instances, block, "instance", 8, _INSTANCE_STATES)
        for definition_key, element_id in set(map(itemgetter(5, 1), block)):
            model = models.get(definition_key)
            if model is None or element_id not in model.elements:
                raise _fail(f"instance of {definition_key}: unknown element {element_id!r}")
        references.update(map(itemgetter(3), block), map(itemgetter(7), block))
    references.difference_update(instances)
    if any(ref >= 0 for ref in references):
        raise _fail(f"instances: dangling reference {max(references)}")


def _restore_jobs(state: EngineState, family: Any) -> None:
    jobs = state.jobs
    elements: set[int] = set()
    for block in _values(Job, family, _JOB):
        _add_block(jobs, block, "job", 2, _JOB_STATES)
        elements.update(map(itemgetter(11), block))
    # Once for all blocks: removing a dict's keys from a set walks the whole dict.
    elements.difference_update(state.instances)
    if any(key >= 0 for key in elements):
        raise _fail(f"job of element instance {max(elements)}: unknown element instance")


def _highest_key(family: Mapping[int, Any], partition_id: int) -> int | None:
    """The highest key of ``family`` that this partition made (None: none)."""
    if not family:
        return None
    low, high = min(family), max(family)
    if low >> KEY_BITS == high >> KEY_BITS == partition_id:
        return high
    return max((k for k in family if k >> KEY_BITS == partition_id), default=None)


# --- messages and signals -------------------------------------------------------------------

_MESSAGE = (_int, _str, _str, _int, _str, _object)
_SUBSCRIPTION = (_int, _str, _str, _int, _str, _bool, _int)
_CORRELATION = (_int, _str, _int, _str, _bool)
_STARTED = (_int, _str, _str)
_PROCESS_SUBSCRIPTION = (_int, _str, _str, _str, _bool, _str, _bool, _int, _str)
_SIGNAL_SUBSCRIPTION = (_int, _str, _str, _int, _str, _bool)


def _restore_messaging(messaging: MessagingState, families: list[Any]) -> None:
    messages, subscriptions, correlations, started, waiting, signals, sequences, received = families
    for message in chain.from_iterable(_values(Message, messages, _MESSAGE)):
        messaging.messages[message.key] = message
    for subscription in chain.from_iterable(
        _values(MessageSubscription, subscriptions, _SUBSCRIPTION)
    ):
        messaging.subscriptions[(subscription.element_instance_key, subscription.message_name)] = (
            subscription
        )
    for correlation in chain.from_iterable(_values(Correlation, correlations, _CORRELATION)):
        messaging.correlations[(correlation.message_key, correlation.bpmn_process_id)] = correlation
    for record in chain.from_iterable(_values(Started, started, _STARTED)):
        messaging.started[record.process_instance_key] = record
    for process_subscription in chain.from_iterable(
        _values(ProcessSubscription, waiting, _PROCESS_SUBSCRIPTION)
    ):
        if process_subscription.state not in PROCESS_SUBSCRIPTION_STATES:
            raise _fail("process message subscription state")
        messaging.process_subscriptions[
            (process_subscription.element_instance_key, process_subscription.message_name)
        ] = process_subscription
    for signal in chain.from_iterable(_values(SignalSubscription, signals, _SIGNAL_SUBSCRIPTION)):
        messaging.signal_subscriptions[(signal.element_instance_key, signal.catch_id)] = signal
    for target, seq in _rows(sequences, (_int, _int)):
        messaging.sequences[target] = seq
    for source, floor, above in _rows(received, (_int, _int, _ints)):
        messaging.received[source] = (floor, above)
    untrack_all(messaging.received.values())


def _ints(value: Any) -> tuple[int, ...]:
    if type(value) is not list:
        raise _fail("expected a list of integers")
    return tuple(_int(v) for v in value)


def _restore_decisions(
    state: EngineState, drgs: list[Any], decisions: list[Any]
) -> dict[int, DecisionRequirementsGraph]:
    graphs: dict[int, DecisionRequirementsGraph] = {}
    for drg in chain.from_iterable(_values(DecisionRequirements, drgs, _DRG)):
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
    for decision in chain.from_iterable(_values(DecisionDefinition, decisions, _DECISION)):
        owner = graphs.get(decision.drg_key)
        if (
            owner is None
            or owner.decision(decision.decision_id) is None
            or decision.key in state.decisions
        ):
            raise _fail(f"decision {decision.key}")
        state.decisions[decision.key] = decision
    return graphs
