"""A random process workload for determinism tests: a few models that use most elements, and
operations (commands, time passing) chosen from what the engine currently holds, so they hit
existing jobs, instances and incidents most of the time."""

from __future__ import annotations

import json
import random

from google.protobuf.message import Message

from trio_zeebe.engine.commands import CommandType, command
from trio_zeebe.engine.engine import Engine
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import MultiInstanceSpec, ProcessBuilder

C = CommandType


def models() -> list[tuple[str, bytes]]:
    order = ProcessBuilder("order").start_event("start")
    order.service_task("check", job_type="check", outputs={"ok": "=ok"})
    order.exclusive_gateway("decide").condition("=ok = true")
    order.sub_process(
        "ship",
        lambda s: (
            s.start_event()
            .parallel_gateway("fork")
            .service_task("pack", job_type="pack")
            .parallel_gateway("join")
            .end_event()
            .move_to("fork")
            .service_task("label", job_type="label")
            .connect_to("join")
        ),
    )
    order.end_event("shipped")
    order.move_to("decide").default_flow().end_event("rejected")
    order.boundary_event("broken", attached_to="ship", error_code="BROKEN").end_event("returned")

    batch = ProcessBuilder("batch").start_event()
    batch.service_task(
        "item",
        job_type="item",
        multi_instance=MultiInstanceSpec(
            "=items", input_element="i", output_collection="out", output_element="=i * 2"
        ),
    )
    batch.inclusive_gateway("inc").condition("=count(out) > 1").task("many").inclusive_gateway("j")
    batch.end_event()
    batch.move_to("inc").default_flow().task("few").connect_to("j")

    child = ProcessBuilder("child").start_event().service_task("c", job_type="child").end_event()
    parent = ProcessBuilder("parent").start_event()
    parent.call_activity("call", process_id="child", inputs={"n": "=1"})
    parent.script_task("calc", expression="=n + 1", result_variable="m").end_event()
    return [
        ("order.bpmn", order.done()),
        ("batch.bpmn", batch.done()),
        ("child.bpmn", child.done()),
        ("parent.bpmn", parent.done()),
    ]


JOB_TYPES = ["check", "pack", "label", "item", "child"]


def deploy() -> bytes:
    request = gw.DeployResourceRequest(
        resources=[gw.Resource(name=n, content=c) for n, c in models()]
    )
    return command(C.DEPLOY_RESOURCE, request)


def _pick(rng: random.Random, keys: list[int]) -> int:
    return rng.choice(keys) if keys and rng.random() < 0.9 else 2251799813685249 + 999_999


def next_operation(rng: random.Random, engine: Engine) -> tuple[str, bytes | float]:
    """("apply", payload) or ("tick", seconds): chosen from the engine's state."""
    jobs = sorted(engine.jobs())
    incidents = sorted(engine.incidents())
    processes = sorted(k for k, i in engine.instances().items() if i.element_type == "PROCESS")
    roll = rng.random()
    request: Message
    if roll < 0.2:
        process_id = rng.choice(["order", "batch", "parent"])
        variables = {"ok": rng.random() < 0.5, "items": list(range(rng.randint(0, 3)))}
        request = gw.CreateProcessInstanceRequest(
            bpmnProcessId=process_id, version=-1, variables=json.dumps(variables)
        )
        kind = C.CREATE_PROCESS_INSTANCE
        if rng.random() < 0.3:
            request = gw.CreateProcessInstanceWithResultRequest(request=request)
            kind = C.CREATE_PROCESS_INSTANCE_WITH_RESULT
        return "apply", command(kind, request)
    if roll < 0.4:
        request = gw.ActivateJobsRequest(
            type=rng.choice(JOB_TYPES),
            worker="w",
            timeout=rng.choice([1000, 60_000]),
            maxJobsToActivate=rng.randint(1, 3),
        )
        return "apply", command(C.ACTIVATE_JOBS, request)
    if roll < 0.6:
        variables = {"ok": rng.random() < 0.5}
        request = gw.CompleteJobRequest(jobKey=_pick(rng, jobs), variables=json.dumps(variables))
        return "apply", command(C.COMPLETE_JOB, request)
    if roll < 0.67:
        request = gw.FailJobRequest(
            jobKey=_pick(rng, jobs),
            retries=rng.randint(0, 2),
            retryBackOff=rng.choice([0, 2000]),
            errorMessage="boom",
        )
        return "apply", command(C.FAIL_JOB, request)
    if roll < 0.72:
        request = gw.ThrowErrorRequest(
            jobKey=_pick(rng, jobs), errorCode=rng.choice(["BROKEN", "OTHER"])
        )
        return "apply", command(C.THROW_ERROR, request)
    if roll < 0.77:
        request = gw.UpdateJobRetriesRequest(jobKey=_pick(rng, jobs), retries=rng.randint(0, 3))
        return "apply", command(C.UPDATE_JOB_RETRIES, request)
    if roll < 0.82:
        request = gw.ResolveIncidentRequest(incidentKey=_pick(rng, incidents))
        return "apply", command(C.RESOLVE_INCIDENT, request)
    if roll < 0.86:
        request = gw.CancelProcessInstanceRequest(processInstanceKey=_pick(rng, processes))
        return "apply", command(C.CANCEL_PROCESS_INSTANCE, request)
    if roll < 0.9:
        request = gw.SetVariablesRequest(
            elementInstanceKey=_pick(rng, processes),
            variables=json.dumps({"ok": True, "x": rng.randint(0, 9)}),
            local=rng.random() < 0.5,
        )
        return "apply", command(C.SET_VARIABLES, request)
    return "tick", rng.choice([0.0, 0.5, 1.5, 3.0])
