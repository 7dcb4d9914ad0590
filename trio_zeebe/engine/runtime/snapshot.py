"""Snapshots of the engine state: a consistent view taken in O(number of families), serialized
afterwards to canonical msgpack, and restored with every field checked.

Taking a :class:`View` copies only the family dicts (their values are immutable), so the
partition can go on processing while the view is serialized, in chunks if need be. The bytes
are a msgpack array of plain rows in each family's iteration order: equal states give equal
bytes, and :func:`restore` rebuilds the families in the same order (so a restored replica
iterates exactly like the original) and then the derived indexes. Anything that is not such a
snapshot raises ValueError; the caller's state is untouched because a new state is built.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator
from itertools import islice
from typing import Any, NamedTuple

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
VERSION = 3
CHUNK_ROWS = 256  # rows per piece: a piece is a few milliseconds of work


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


def _value_row(item: tuple[Any, Any]) -> list[Any]:
    return list(item[1])


def _pair_row(item: tuple[Any, Any]) -> list[Any]:
    return [item[0], item[1]]


def _join_row(item: tuple[tuple[int, str], tuple[tuple[str, int], ...]]) -> list[Any]:
    k, taken = item
    return [k[0], k[1], [list(t) for t in taken]]


def _deferred_row(item: tuple[int, Deferred]) -> list[Any]:
    k, d = item
    return [k, d.position, list(d.fetch_variables)]


def _received_row(item: tuple[int, Received]) -> list[Any]:
    source, (floor, above) = item
    return [source, floor, list(above)]


_Row = Callable[[tuple[Any, Any]], list[Any]]
# How each family's items become rows, in the snapshot's order (the steps after the outbox).
_ROWS: tuple[_Row, ...] = (
    *(_value_row, _value_row, _pair_row, _join_row, _value_row, _value_row, _deferred_row),
    *(_value_row, _value_row),  # the outbox, the steps
    *(_value_row,) * 6,  # the messaging families
    *(_pair_row, _received_row),
    *(_value_row,) * 3,  # timers and decisions
)


def chunks(view: View) -> Generator[bytes, None, None]:
    """The snapshot bytes in pieces (whose concatenation is :func:`serialize`), so a caller can
    yield to other work between them. Rows are built a chunk at a time, so no piece costs more
    than :data:`CHUNK_ROWS` rows' work however big the state is. The families the view froze
    are thawed once the last piece is out (or the generator is closed)."""
    try:
        header = [MAGIC, VERSION, view.partition_id, view.partition_count, view.counter]
        header += [view.clock, view.position]
        count = len(header) + len(view.families) + 1
        yield _array_header(count) + b"".join(codec.packb(h) for h in header)
        packb = codec.packb
        sources = [(dict.__len__(f), iter(dict.items(f))) for f in view.families]
        steps = (len(view.steps), iter(enumerate(view.steps)))
        sources.insert(8, steps)  # the steps come after the outbox
        for (length, items), row in zip(sources, _ROWS, strict=True):
            yield _array_header(length)
            for _ in range(0, length, CHUNK_ROWS):
                yield b"".join([packb(row(i)) for i in islice(items, CHUNK_ROWS)])
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


def _int(value: Any) -> int:
    if type(value) is not int:
        raise _fail(f"expected an integer, got {type(value).__name__}")
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _fail(f"expected a string, got {type(value).__name__}")
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _fail(f"expected a boolean, got {type(value).__name__}")
    return value


def _bytes(value: Any) -> bytes:
    if type(value) is not bytes:
        raise _fail(f"expected bytes, got {type(value).__name__}")
    return value


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


def _row(value: Any, checks: tuple[Callable[[Any], Any], ...]) -> list[Any]:
    if type(value) is not list or len(value) != len(checks):
        raise _fail(f"expected a row of {len(checks)} fields")
    return [check(field) for check, field in zip(checks, value, strict=True)]


_Check = Callable[[Any], Any]
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
_STEP_KINDS = (*range(StepKind.ACTIVATE, StepKind.JOIN_CHECK + 1), StepKind.INTER_PARTITION)
_TIMER = (_int, _int, _int, _int, _str, _int, _int, _str)
_DRG = (_int, _str, _str, _int, _str, _bytes, _bytes, _int)
_DECISION = (_int, _str, _str, _int, _int, _str, _int)


def restore(data: bytes, parse: Callable[[str, bytes], tuple[Process, ...]]) -> EngineState:
    """A new state from snapshot bytes; raises SnapshotError for anything else.

    The cyclic garbage collector is paused meanwhile: restoring allocates millions of objects
    that all stay alive, and each collection they trigger would walk all of them again (a
    third of the restore time at 100,000 jobs). Reference counting still frees what dies."""
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
    families = obj[7:16]
    if any(type(f) is not list for f in obj[7:]):
        raise _fail("families are lists")
    definitions, instances, variables, joins, jobs, incidents, deferred, outbox, steps = families[
        :9
    ]
    timers, decision_requirements, decisions = obj[24:27]
    models: dict[int, Process] = {}
    parsed: dict[tuple[str, bytes], tuple[Process, ...]] = {}
    for raw in definitions:
        definition = Definition(*_row(raw, _DEFINITION))
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
    for raw in instances:
        instance = Instance(*_row(raw, _INSTANCE))
        if instance.state not in INSTANCE_STATES or instance.key in state.instances:
            raise _fail(f"instance {instance.key}")
        model = models.get(instance.definition_key)
        if model is None or instance.element_id not in model.elements:
            raise _fail(f"instance {instance.key}: unknown element")
        state.instances[instance.key] = instance
    for instance in state.instances.values():
        for ref in (instance.flow_scope_key, instance.parent_element_key):
            if ref >= 0 and ref not in state.instances:
                raise _fail(f"instance {instance.key}: dangling reference {ref}")
    for raw in variables:
        if type(raw) is not list or len(raw) != 2:
            raise _fail("variables row")
        state.variables[_int(raw[0])] = _object(raw[1])
    for raw in joins:
        if type(raw) is not list or len(raw) != 3 or type(raw[2]) is not list:
            raise _fail("join row")
        taken = []
        for pair in raw[2]:
            if type(pair) is not list or len(pair) != 2:
                raise _fail("join counter")
            taken.append((_str(pair[0]), _int(pair[1])))
        state.joins[(_int(raw[0]), _str(raw[1]))] = tuple(taken)
    for raw in jobs:
        job = Job(*_row(raw, _JOB))
        if job.state not in JOB_STATES or job.key in state.jobs:
            raise _fail(f"job {job.key}")
        if job.element_instance_key >= 0 and job.element_instance_key not in state.instances:
            raise _fail(f"job {job.key}: unknown element instance")
        state.jobs[job.key] = job
    for raw in incidents:
        incident = Incident(*_row(raw, _INCIDENT))
        state.incidents[incident.key] = incident
    for raw in deferred:
        row = _row(raw, (_int, _int, _strings))
        state.deferred[row[0]] = Deferred(row[1], row[2])
    for raw in outbox:
        send = PendingSend(*_row(raw, (_int, _int, _bytes)))
        state.outbox[send.send_id] = send
    for raw in steps:
        step = Step(*_row(raw, _STEP))
        if step.kind not in _STEP_KINDS:
            raise _fail("step kind")
        if step.kind == StepKind.ACTIVATE and step.element_id:
            model = models.get(step.definition_key)
            if model is None or step.element_id not in model.elements:
                raise _fail("step element")
        state.steps.append(step)
    graphs = _restore_decisions(state, decision_requirements, decisions)
    for raw in timers:
        timer = Timer(*_row(raw, _TIMER))
        model = models.get(timer.definition_key)
        if model is None or timer.target_element_id not in model.elements:
            raise _fail(f"timer {timer.key}: unknown element")
        if timer.key in state.timers or (
            timer.element_instance_key >= 0 and timer.element_instance_key not in state.instances
        ):
            raise _fail(f"timer {timer.key}")
        state.timers[timer.key] = timer
    mine = [
        k
        for k in (*state.instances, *state.jobs, *state.incidents, *state.timers)
        if k >> KEY_BITS == partition_id
    ]
    if mine and max(mine) & MAX_COUNTER > counter:
        raise _fail("keys beyond the key counter")
    _restore_messaging(state.messaging, obj[16:24])
    state.rebuild_indexes(models, graphs)
    return state


# --- messages and signals -------------------------------------------------------------------

_MESSAGE = (_int, _str, _str, _int, _str, _object)
_SUBSCRIPTION = (_int, _str, _str, _int, _str, _bool, _int)
_CORRELATION = (_int, _str, _int, _str, _bool)
_STARTED = (_int, _str, _str)
_PROCESS_SUBSCRIPTION = (_int, _str, _str, _str, _bool, _str, _bool, _int, _str)
_SIGNAL_SUBSCRIPTION = (_int, _str, _str, _int, _str, _bool)


def _restore_messaging(messaging: MessagingState, families: list[Any]) -> None:
    messages, subscriptions, correlations, started, waiting, signals, sequences, received = families
    for raw in messages:
        message = Message(*_row(raw, _MESSAGE))
        messaging.messages[message.key] = message
    for raw in subscriptions:
        subscription = MessageSubscription(*_row(raw, _SUBSCRIPTION))
        messaging.subscriptions[(subscription.element_instance_key, subscription.message_name)] = (
            subscription
        )
    for raw in correlations:
        correlation = Correlation(*_row(raw, _CORRELATION))
        messaging.correlations[(correlation.message_key, correlation.bpmn_process_id)] = correlation
    for raw in started:
        record = Started(*_row(raw, _STARTED))
        messaging.started[record.process_instance_key] = record
    for raw in waiting:
        process_subscription = ProcessSubscription(*_row(raw, _PROCESS_SUBSCRIPTION))
        if process_subscription.state not in PROCESS_SUBSCRIPTION_STATES:
            raise _fail("process message subscription state")
        messaging.process_subscriptions[
            (process_subscription.element_instance_key, process_subscription.message_name)
        ] = process_subscription
    for raw in signals:
        signal = SignalSubscription(*_row(raw, _SIGNAL_SUBSCRIPTION))
        messaging.signal_subscriptions[(signal.element_instance_key, signal.catch_id)] = signal
    for raw in sequences:
        target, seq = _row(raw, (_int, _int))
        messaging.sequences[target] = seq
    for raw in received:
        source, floor, above = _row(raw, (_int, _int, _ints))
        messaging.received[source] = (floor, above)


def _ints(value: Any) -> tuple[int, ...]:
    if type(value) is not list:
        raise _fail("expected a list of integers")
    return tuple(_int(v) for v in value)


def _restore_decisions(
    state: EngineState, drgs: list[Any], decisions: list[Any]
) -> dict[int, DecisionRequirementsGraph]:
    graphs: dict[int, DecisionRequirementsGraph] = {}
    for raw in drgs:
        drg = DecisionRequirements(*_row(raw, _DRG))
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
    for raw in decisions:
        decision = DecisionDefinition(*_row(raw, _DECISION))
        owner = graphs.get(decision.drg_key)
        if (
            owner is None
            or owner.decision(decision.decision_id) is None
            or decision.key in state.decisions
        ):
            raise _fail(f"decision {decision.key}")
        state.decisions[decision.key] = decision
    return graphs
