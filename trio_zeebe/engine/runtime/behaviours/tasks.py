"""Tasks: job-based tasks (service, send, script and business rule tasks with a task
definition, job-based user tasks, message throw/end events), script tasks evaluated by the
engine (``zeebe:script``), business rule tasks calling a decision, native user tasks.

A job-based task activates by evaluating its job definition, opening its boundary events'
subscriptions and creating the job; the job's completion (with its variables as the payload)
completes it; terminating it cancels the job.
"""

from __future__ import annotations

from ...bpmn import Element
from ..decisions import CALLED_DECISION_ERROR
from ..expressions import evaluate_json
from ..machine import Machine
from ..mappings import apply_inputs
from ..values import Instance
from .base import Behaviour, PassThrough, WaitState

__all__ = ["CALLED_DECISION_ERROR", "DecisionTask", "JobTask", "ScriptTask", "TaskBehaviour"]


class JobTask(Behaviour):
    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_inputs(element, instance, m.variables, m.now)
        spec = m.jobs.evaluate(instance, element)
        m.subscriptions.subscribe(m, instance, element)
        instance = m.jobs.create(instance, spec)
        m.activated(instance)


class ScriptTask(Behaviour):
    """``zeebe:script``: the FEEL result goes to the result variable (as the task's payload, so
    output mappings see it and without them it propagates)."""

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        script = element.script
        assert script is not None
        apply_inputs(element, instance, m.variables, m.now)
        value = evaluate_json(script.expression, m.variables.view(instance.key), m.now)
        m.subscriptions.subscribe(m, instance, element)
        instance = m.activated(instance)._replace(payload={script.result_variable: value})
        m.state.put_instance(instance)
        m.complete_element(instance)


class DecisionTask(Behaviour):
    """``zeebe:calledDecision``: the decision is evaluated on activation (after the input
    mappings); its result under the result variable is the task's payload, as a script
    task's (see :meth:`~..decisions.Decisions.call`; a failure is an incident)."""

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_inputs(element, instance, m.variables, m.now)
        result = m.decisions.call(instance, element)
        m.subscriptions.subscribe(m, instance, element)
        instance = m.activated(instance)._replace(payload=dict(result))
        m.state.put_instance(instance)
        m.complete_element(instance)


class TaskBehaviour(Behaviour):
    """Chooses, per element, how a task (or a job-based event) runs."""

    def __init__(self) -> None:
        self._job = JobTask()
        self._script = ScriptTask()
        self._decision = DecisionTask()
        self._wait = WaitState()
        self._pass = PassThrough()

    def _for(self, element: Element) -> Behaviour:
        if element.job is not None:
            return self._job
        if element.script is not None:
            return self._script
        if element.called_decision is not None:
            return self._decision
        if element.user_task is not None:
            return self._wait  # a native user task: completed through the user task API later
        return self._pass

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        self._for(element).activate(m, instance, element)

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        self._for(element).complete(m, instance, element)

    def terminate(self, m: Machine, instance: Instance, element: Element) -> None:
        self._for(element).terminate(m, instance, element)
