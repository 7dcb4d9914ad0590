"""Modeler files become the right model: every element kind, extension element and lookup."""

from __future__ import annotations

import pytest

from trio_zeebe.engine.bpmn import (
    JOB_USER_TASK_TYPE,
    USER_TASK_FORM_KEY_HEADER,
    BpmnElementType,
    BpmnEventType,
    CalledDecision,
    CalledElement,
    CompensationDefinition,
    ErrorDefinition,
    EscalationDefinition,
    ExecutionListener,
    JobDefinition,
    MessageDefinition,
    MultiInstance,
    Script,
    SequenceFlow,
    SignalDefinition,
    TimerDefinition,
    TimerKind,
    UserTaskDefinition,
    VariableMapping,
    checksum,
    feel_source,
)

from .support import RESOURCES, load, resource

T = BpmnElementType
E = BpmnEventType


def test_every_resource_is_a_modeler_file_and_deploys() -> None:
    names = sorted(path.name for path in RESOURCES.glob("*.bpmn"))
    assert len(names) >= 14
    for name in names:
        data = resource(name)
        # written like the Modeler: diagram, modeler namespace
        assert b"<bpmndi:BPMNDiagram" in data and b"camunda.org/schema/modeler" in data
        assert load(name)


def test_service_tasks_with_headers_mappings_properties_and_listeners() -> None:
    (process,) = load("service_task.bpmn")
    assert (process.id, process.name, process.version_tag) == (
        "order-process",
        "Order process",
        "v1.2",
    )
    assert process.root.element_type is T.PROCESS and process.root.flow_scope_id is None
    assert dict(process.root.properties) == {"owner": "team-a"}
    charge = process.element("charge")
    assert charge.element_type is T.SERVICE_TASK and charge.event_type is E.UNSPECIFIED
    assert (charge.name, charge.flow_scope_id) == ("Charge card", "order-process")
    assert charge.job == JobDefinition("payment-service", "5", {"method": "VISA", "region": "eu"})
    assert list(charge.job.headers) == ["method", "region"]  # XML order
    assert charge.inputs == (
        VariableMapping("=order.total", "amount"),
        VariableMapping("static text", "reason"),
    )
    assert charge.outputs == (VariableMapping("=result.id", "payment.id"),)
    assert dict(charge.properties) == {"sla": "PT1H"}
    assert charge.execution_listeners == (
        ExecutionListener("start", "audit-start", "2"),
        ExecutionListener("end", "=listenerType", "3"),
    )
    ship = process.element("ship")
    assert ship.job == JobDefinition('="ship-" + region', "=retryCount")
    start = process.element("StartEvent_1")
    assert start.event_type is E.NONE and start.outputs == (VariableMapping("=orderId", "id"),)
    assert process.none_start_event == "StartEvent_1"
    assert process.children["order-process"] == ("StartEvent_1", "charge", "ship", "EndEvent_1")
    assert (charge.incoming, charge.outgoing) == (("Flow_0f3k1",), ("Flow_1a2b3",))
    assert process.sequence_flows["Flow_1a2b3"] == SequenceFlow(
        "Flow_1a2b3", "charge", "ship", "order-process", name="paid"
    )
    end = process.element("EndEvent_1")
    assert end.element_type is T.END_EVENT and end.event_type is E.NONE and end.outgoing == ()


def test_gateways_conditions_defaults_and_xml_order() -> None:
    (process,) = load("gateways.bpmn")
    xor = process.element("xor")
    assert xor.element_type is T.EXCLUSIVE_GATEWAY and xor.default_flow == "f_xor_default"
    flows = process.outgoing_flows("xor")
    assert [f.id for f in flows] == ["f_xor_big", "f_xor_small", "f_xor_default"]
    assert [f.condition for f in flows] == ["=amount > 100", "=amount <= 100", None]
    assert [f.is_default for f in flows] == [False, False, True]
    assert process.element("fork").element_type is T.PARALLEL_GATEWAY
    assert process.element("join").incoming == ("f_a_join", "f_b_join")
    assert process.element("a").element_type is T.TASK
    assert process.element("b").element_type is T.MANUAL_TASK
    split = process.element("or_split")
    assert split.element_type is T.INCLUSIVE_GATEWAY and split.default_flow == "f_or_none"
    assert process.element("or_join").incoming == ("f_or_x", "f_or_y", "f_or_none")


def test_event_based_gateway_targets_with_resolved_references() -> None:
    (process,) = load("event_based_gateway.bpmn")
    assert process.element("wait").element_type is T.EVENT_BASED_GATEWAY
    targets = [process.element(f.target_ref) for f in process.outgoing_flows("wait")]
    assert [t.event_type for t in targets] == [E.MESSAGE, E.TIMER, E.SIGNAL]
    paid, timeout, cancelled = targets
    assert paid.element_type is T.INTERMEDIATE_CATCH_EVENT
    assert paid.message == MessageDefinition("Message_paid", "payment-received", "=orderId")
    assert paid.outputs == (VariableMapping("=amount", "paidAmount"),)
    assert timeout.timer == TimerDefinition(TimerKind.DURATION, "P14DT1H30M")
    assert cancelled.signal == SignalDefinition("Signal_cancel", "cancel-all")


def test_boundary_events_per_activity_and_error_catch_lookup() -> None:
    (process,) = load("boundary_events.bpmn")
    assert process.boundary_events["work"] == (
        "work_timeout",
        "work_reminder",
        "work_update",
        "work_failed",
        "work_any_error",
        "work_stop",
    )
    assert process.boundary_events["sub"] == ("sub_late", "sub_deadline")
    timeout = process.element("work_timeout")
    assert (timeout.element_type, timeout.event_type) == (T.BOUNDARY_EVENT, E.TIMER)
    assert (timeout.attached_to_ref, timeout.cancel_activity) == ("work", True)
    reminder = process.element("work_reminder")
    assert reminder.cancel_activity is False
    assert reminder.timer == TimerDefinition(TimerKind.CYCLE, "R3/PT10M")
    assert process.element("work_update").message == MessageDefinition(
        "Message_update", "update", "=key"
    )
    assert process.element("work_failed").error == ErrorDefinition(
        "Error_failed", "FAILED", "Failed"
    )
    assert process.element("work_any_error").error == ErrorDefinition(None, None)
    assert dict(process.error_catch_events["work"]) == {
        "FAILED": "work_failed",
        "": "work_any_error",
    }
    late = process.element("sub_late")
    assert late.escalation == EscalationDefinition("Escalation_late", "LATE", "Late")
    assert dict(process.escalation_catch_events["sub"]) == {"LATE": "sub_late"}
    assert process.element("sub_deadline").timer == TimerDefinition(
        TimerKind.DATE, "2030-01-01T10:00:00Z"
    )
    raise_ = process.element("raise")
    assert raise_.element_type is T.INTERMEDIATE_THROW_EVENT
    assert raise_.event_type is E.ESCALATION and raise_.flow_scope_id == "sub"
    # boundary events live in the activity's scope
    assert timeout.flow_scope_id == "boundaries"


def test_subprocesses_event_subprocesses_and_scope_lookups() -> None:
    (process,) = load("subprocess.bpmn")
    embedded = process.element("embedded")
    assert embedded.element_type is T.SUB_PROCESS and not embedded.triggered_by_event
    assert embedded.inputs == (VariableMapping("=items", "local"),)
    assert process.children["embedded"] == (
        "embedded_start",
        "inner_task",
        "embedded_end",
        "inner_on_error",
    )
    assert process.element("inner_task").flow_scope_id == "embedded"
    assert process.none_start_events == {
        "subprocesses": "start",
        "embedded": "embedded_start",
    }
    assert process.event_subprocesses["subprocesses"] == (
        "on_message",
        "on_any_error",
        "on_timer",
        "on_escalation",
    )
    assert process.event_subprocesses["embedded"] == ("inner_on_error",)
    on_message = process.element("on_message")
    assert on_message.element_type is T.EVENT_SUB_PROCESS and on_message.triggered_by_event
    assert process.start_events["on_message"] == ("message_start",)
    message_start = process.element("message_start")
    assert message_start.is_interrupting is False and message_start.event_type is E.MESSAGE
    assert message_start.message == MessageDefinition("Message_update", "update", "=orderId")
    assert process.element("error_start").is_interrupting is True
    assert process.element("error_end").event_type is E.TERMINATE
    # errors: the scope's event subprocess start events, by code; "" catches all
    assert dict(process.error_catch_events["subprocesses"]) == {"": "error_start"}
    assert dict(process.error_catch_events["embedded"]) == {"INNER": "inner_error_start"}
    assert dict(process.escalation_catch_events["subprocesses"]) == {"X": "escalation_start"}
    # the process itself starts only at its none start event: event subprocess starts are not
    # process start events
    assert process.message_start_events == () and process.timer_start_events == ()


def test_multi_instance_characteristics() -> None:
    (process,) = load("multi_instance.bpmn")
    notify = process.element("notify")
    assert notify.multi_instance == MultiInstance(
        input_collection="=customers",
        is_sequential=False,
        input_element="customer",
        output_collection="results",
        output_element="=result",
        completion_condition="=numberOfCompletedInstances >= 2",
    )
    assert notify.element_type is T.SERVICE_TASK  # the engine wraps it in a MULTI_INSTANCE_BODY
    per_item = process.element("per_item")
    assert per_item.multi_instance == MultiInstance("=items", is_sequential=True)
    assert process.boundary_events["notify"] == ("mi_timeout",)
    assert process.element("mi_timeout").timer == TimerDefinition(TimerKind.DURATION, "=timeout")


def test_messages_start_events_receive_tasks_and_job_based_throws() -> None:
    (process,) = load("messages.bpmn")
    assert process.message_start_events == ("order_placed",)
    assert process.none_start_event == "manual_start"
    assert process.element("order_placed").message == MessageDefinition(
        "Message_order", "order-placed", None
    )
    assert process.element("wait_payment").message == MessageDefinition(
        "Message_payment", '="payment-" + region', "=orderId"
    )
    receive = process.element("wait_shipping")
    assert receive.element_type is T.RECEIVE_TASK and receive.event_type is E.UNSPECIFIED
    assert receive.message == MessageDefinition("Message_shipping", "shipped", "=string(orderId)")
    assert process.element("send_invoice").job == JobDefinition("send-invoice")
    end = process.element("notify_end")
    assert end.event_type is E.MESSAGE and end.job == JobDefinition("publish-done", "1")


def test_timer_and_signal_start_events() -> None:
    (process,) = load("timers.bpmn")
    assert process.timer_start_events == ("every_day", "at_new_year", "workdays")
    assert process.signal_start_events == ("on_signal",)
    assert process.none_start_event is None
    timers = [process.element(i).timer for i in process.timer_start_events]
    assert timers == [
        TimerDefinition(TimerKind.CYCLE, "R/P1D"),
        TimerDefinition(TimerKind.DATE, "2031-01-01T00:00:00[Europe/Berlin]"),
        TimerDefinition(TimerKind.CYCLE, "0 0 9-17 * * MON-FRI"),
    ]
    assert process.element("on_signal").signal == SignalDefinition("Signal_go", "go")
    assert process.element("wait_until").timer == TimerDefinition(TimerKind.DATE, "=dueDate")


def test_call_activities_business_rule_and_script_tasks() -> None:
    (process,) = load("tasks.bpmn")
    call = process.element("call_child")
    assert call.element_type is T.CALL_ACTIVITY
    assert call.called_element == CalledElement("child-process", False, True)
    assert process.element("call_dynamic").called_element == CalledElement("=childId", True, False)
    decide = process.element("decide")
    assert decide.called_decision == CalledDecision("approve-order", "approved")
    assert decide.job is None
    by_worker = process.element("decide_by_worker")
    assert by_worker.called_decision is None and by_worker.job == JobDefinition("rules")
    compute = process.element("compute")
    assert compute.script == Script("=a + b", "sum") and compute.job is None
    assert process.element("script_by_worker").job == JobDefinition(
        "script-runner", "3", {"language": "groovy"}
    )


def test_user_tasks_job_based_and_native() -> None:
    (process,) = load("user_tasks.bpmn")
    review = process.element("review")
    assert review.user_task == UserTaskDefinition(
        is_native=False,
        assignee="=reviewer",
        candidate_groups="sales, support",
        form_key="camunda-forms:bpmn:UserTaskForm_review",
    )
    # a job-based user task is a job of Zeebe's user task type, with the form key as a header
    assert review.job == JobDefinition(
        JOB_USER_TASK_TYPE,
        "1",
        {"priority": "high", USER_TASK_FORM_KEY_HEADER: "camunda-forms:bpmn:UserTaskForm_review"},
    )
    assert process.user_task_forms["UserTaskForm_review"].startswith('{"components"')
    approve = process.element("approve")
    assert approve.job is None
    assert approve.user_task == UserTaskDefinition(
        is_native=True,
        candidate_users="=managers",
        form_id="approval-form",
        due_date="2030-03-02T15:35+02:00",
        follow_up_date="=followUp",
        priority="80",
    )
    plain = process.element("plain")
    assert plain.user_task == UserTaskDefinition()
    assert plain.job == JobDefinition(JOB_USER_TASK_TYPE, "1")


def test_throw_events_links_and_end_events() -> None:
    (process,) = load("throw_events.bpmn")
    throw = process.element("go_to_b")
    assert (throw.event_type, throw.link_name, throw.outgoing) == (E.LINK, "B", ())
    assert dict(process.link_catch_events["throw-events"]) == {"B": "from_a"}
    assert process.element("from_a").incoming == ()
    assert process.element("none_throw").event_type is E.NONE
    broadcast = process.element("broadcast")
    assert broadcast.signal == SignalDefinition("Signal_b", '="broadcast-" + region')
    assert process.element("end_error").error == ErrorDefinition(
        "Error_reject", "=rejectCode", "Rejected"
    )
    assert process.element("end_escalate").escalation == EscalationDefinition(
        "Escalation_e", "ESC", "Escalate"
    )
    assert process.element("end_terminate").event_type is E.TERMINATE
    assert process.element("end_signal").event_type is E.SIGNAL


def test_compensation_parts() -> None:
    (process,) = load("compensation.bpmn")
    assert process.element("undo_all").compensation == CompensationDefinition()
    assert process.element("end").compensation == CompensationDefinition("book")
    on_undo = process.element("on_undo")
    assert on_undo.event_type is E.COMPENSATION
    assert (on_undo.attached_to_ref, on_undo.compensation_handler_ref) == ("book", "cancel_booking")
    assert process.element("cancel_booking").is_for_compensation is True


def test_collaboration_only_the_executable_pool_is_deployed_and_validated() -> None:
    # the customer pool has an unsupported complex gateway and a task without a type: it is
    # not executable, so it is neither validated nor deployed
    (process,) = load("collaboration.bpmn")
    assert process.id == "shop" and process.name == "Shop process"
    assert process.children["shop"] == ("order_received", "handle", "done")


def test_multiple_executable_processes_in_one_file() -> None:
    first, second = load("multiple_processes.bpmn")
    assert (first.id, second.id) == ("first", "second")
    assert second.element("call_first").called_element == CalledElement("first")
    assert "draft_start" not in first.elements and "draft_start" not in second.elements


def test_the_model_is_immutable() -> None:
    (process,) = load("service_task.bpmn")
    charge = process.element("charge")
    with pytest.raises(AttributeError):
        charge.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        process.elements["x"] = charge  # type: ignore[index]
    assert charge.job is not None
    with pytest.raises(TypeError):
        charge.job.headers["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "source"),
    [("=a + b", "a + b"), ("=\nx", "\nx"), ("=", None), (" =a", None), ("static", None)],
)
def test_feel_source_follows_zeebes_rule(value: str, source: str | None) -> None:
    assert feel_source(value) == source


def test_checksum_is_md5_of_the_bytes() -> None:
    assert checksum(b"abc").hex() == "900150983cd24fb0d6963f7d28e17f72"
    assert len(checksum(resource("gateways.bpmn"))) == 16
