"""The behaviour of each BPMN element type (Zeebe's BpmnElementProcessors), by the element
type names instances carry."""

from __future__ import annotations

from ...bpmn import BpmnElementType
from .base import Behaviour, PassThrough, WaitState
from .containers import CallActivity, EventSubProcess, ProcessScope, SubProcess
from .events import BoundaryEvent, CatchEvent, EndEvent, StartEvent, ThrowEvent
from .gateways import EventBasedGateway, ExclusiveGateway, InclusiveGateway, ParallelGateway
from .multi_instance import MultiInstanceBody
from .tasks import TaskBehaviour

__all__ = ["Behaviour", "behaviours"]

_T = BpmnElementType


def behaviours() -> dict[str, Behaviour]:
    tasks = TaskBehaviour()
    table: dict[BpmnElementType, Behaviour] = {
        _T.PROCESS: ProcessScope(),
        _T.SUB_PROCESS: SubProcess(),
        _T.EVENT_SUB_PROCESS: EventSubProcess(),
        _T.CALL_ACTIVITY: CallActivity(),
        _T.MULTI_INSTANCE_BODY: MultiInstanceBody(),
        _T.START_EVENT: StartEvent(),
        _T.END_EVENT: EndEvent(),
        _T.INTERMEDIATE_THROW_EVENT: ThrowEvent(),
        _T.INTERMEDIATE_CATCH_EVENT: CatchEvent(),
        _T.BOUNDARY_EVENT: BoundaryEvent(),
        _T.SERVICE_TASK: tasks,
        _T.SEND_TASK: tasks,
        _T.SCRIPT_TASK: tasks,
        _T.BUSINESS_RULE_TASK: tasks,
        _T.USER_TASK: tasks,
        _T.RECEIVE_TASK: WaitState(),
        _T.MANUAL_TASK: PassThrough(),
        _T.TASK: PassThrough(),
        _T.EXCLUSIVE_GATEWAY: ExclusiveGateway(),
        _T.PARALLEL_GATEWAY: ParallelGateway(),
        _T.INCLUSIVE_GATEWAY: InclusiveGateway(),
        _T.EVENT_BASED_GATEWAY: EventBasedGateway(),
    }
    return {element_type.value: behaviour for element_type, behaviour in table.items()}
