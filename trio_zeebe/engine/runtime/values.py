"""The immutable values the engine's state families hold.

Every value is a NamedTuple: a change replaces the value (``_replace``), never mutates it, so a
snapshot can freeze the families (their storage keeps the values of the moment) and serialize
them later while processing goes on. Dicts inside values (variables, payloads, headers) are never
mutated either once stored. Field order is the snapshot's column order.

A value never refers, itself or through what it holds, to another value or to anything that
refers back to it, so no value is part of a reference cycle: the snapshot writer and the restore
take the values out of the cyclic garbage collector's walks (``untrack.py``), reference counting
frees them. A new value type must keep to that (fields of ints, strings, bytes, tuples of those,
JSON-like dicts and lists).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

# Element instance states: Zeebe's ProcessInstance intents. Completed and terminated instances
# leave the state, so only the first four are ever stored.
ACTIVATING = "ELEMENT_ACTIVATING"
ACTIVATED = "ELEMENT_ACTIVATED"
COMPLETING = "ELEMENT_COMPLETING"
TERMINATING = "ELEMENT_TERMINATING"
COMPLETED = "ELEMENT_COMPLETED"
TERMINATED = "ELEMENT_TERMINATED"
INSTANCE_STATES = (ACTIVATING, ACTIVATED, COMPLETING, TERMINATING)

# Job states: Zeebe's JobState.State names (a completed or canceled job leaves the state).
ACTIVATABLE = "ACTIVATABLE"
FAILED = "FAILED"
ERROR_THROWN = "ERROR_THROWN"
JOB_ACTIVATED = "ACTIVATED"
JOB_STATES = (ACTIVATABLE, JOB_ACTIVATED, FAILED, ERROR_THROWN)


class Definition(NamedTuple):
    """A deployed process definition (one ``bpmn:process`` of a resource)."""

    key: int
    bpmn_process_id: str
    version: int
    resource_name: str
    checksum: bytes
    resource: bytes
    deployment_key: int


class Instance(NamedTuple):
    """One element instance (the process instance itself is the PROCESS element's instance).

    ``flow_scope_key`` is -1 for a process instance; a called process instance has its call
    activity instance in ``parent_element_key``. The counters describe the children (Zeebe's
    numberOf...ElementInstances); ``active_flows`` lists the sequence flows taken inside this
    scope whose target is not activated yet (a join still waiting keeps its tokens there).
    ``interrupted_by`` is the id of an interrupting event subprocess or terminate end event
    that took over the scope. ``trigger`` is an event to activate once this instance is
    terminated or all its children are (catch element id, variables); ``payload`` the
    variables of the event that completes this instance (job variables, error variables, a
    called process' variables), applied by its output behaviour.
    """

    key: int
    element_id: str
    element_type: str
    flow_scope_key: int
    process_instance_key: int
    definition_key: int
    parent_instance_key: int
    parent_element_key: int
    state: str
    active_children: int = 0
    created_children: int = 0
    completed_children: int = 0
    terminated_children: int = 0
    active_flows: tuple[str, ...] = ()
    loop_counter: int = 0
    interrupted_by: str = ""
    job_key: int = -1
    child_key: int = -1
    trigger: tuple[str, Mapping[str, Any]] | None = None
    payload: Mapping[str, Any] | None = None


class Job(NamedTuple):
    """A job. Times are engine milliseconds: ``deadline`` while ACTIVATED, ``recur_at`` while
    FAILED with a back-off; -1 otherwise. ``variables`` belong to standalone jobs only (a
    process job reads its element's scope). ``headers`` keep the model's order."""

    key: int
    type: str
    state: str
    retries: int
    worker: str
    deadline: int
    recur_at: int
    variables: Mapping[str, Any]
    headers: Mapping[str, str]
    error_code: str
    error_message: str
    element_instance_key: int = -1
    process_instance_key: int = -1
    bpmn_process_id: str = ""
    definition_key: int = -1
    version: int = -1
    element_id: str = ""


class Incident(NamedTuple):
    """An incident (Zeebe's IncidentRecord fields); ``job_key`` -1 for element incidents."""

    key: int
    error_type: str
    message: str
    bpmn_process_id: str
    definition_key: int
    process_instance_key: int
    element_id: str
    element_instance_key: int
    job_key: int
    scope_key: int


class Deferred(NamedTuple):
    """A CreateProcessInstanceWithResult waiting for its instance to complete."""

    position: int
    fetch_variables: tuple[str, ...]


class StepKind:
    ACTIVATE = 1  # ACTIVATE_ELEMENT (creates the instance, or re-runs a failed activation)
    COMPLETE = 2  # COMPLETE_ELEMENT
    TERMINATE = 3  # TERMINATE_ELEMENT
    CALLED_TERMINATED = 4  # a called process instance is gone: continue its call activity
    JOIN_CHECK = 5  # see whether a waiting inclusive join may fire now
    # --- messages and signals ---
    # a messaging command for this same partition (no network): its wire tag in element_id,
    # its fields in payload
    INTER_PARTITION = 10


class Step(NamedTuple):
    """A follow-up command on the engine's queue (Zeebe writes these to its log).

    ACTIVATE carries the new instance's description; the other kinds only ``key``.
    ``via_flow`` is the sequence flow that leads to the element ("" if none) -- for a process
    instance, the event start event it begins at ("": its none start event); ``payload`` the
    event variables the new instance starts with.
    """

    kind: int
    key: int
    element_id: str = ""
    flow_scope_key: int = -1
    process_instance_key: int = -1
    definition_key: int = -1
    parent_instance_key: int = -1
    parent_element_key: int = -1
    via_flow: str = ""
    payload: Mapping[str, Any] | None = None


class JobSpec(NamedTuple):
    """What an element's job definition evaluated to: the job's type, retries and headers."""

    type: str
    retries: int
    headers: dict[str, str]
