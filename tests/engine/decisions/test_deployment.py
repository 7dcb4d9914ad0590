"""Deploying DMN resources (reference §1.3, §2): with BPMN in one all-or-nothing deployment,
keys and versions per DRG and per decision, duplicates, Zeebe's errors, the response's
``decision`` and ``decisionRequirements`` metadata, and distribution to the other partitions."""

from __future__ import annotations

from trio_zeebe import codec
from trio_zeebe.engine.commands import CommandType
from trio_zeebe.engine.runtime.deployment import Acknowledge
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from ..dmn.support import document, literal, resource, table
from ..process.driver import Driver

C = CommandType
PROCESS = ProcessBuilder("p").start_event().end_event().done()


def greeting(text: str = '"Hello " + name', *, graph_id: str = "greetings") -> bytes:
    return document(literal("greet", text), graph_id=graph_id)


def kinds(response: gw.DeployResourceResponse) -> list[str]:
    return [d.WhichOneof("Metadata") for d in response.deployments]


def test_bpmn_and_dmn_deploy_together_and_the_answer_lists_them_as_zeebe_does() -> None:
    d = Driver()
    response = d.deploy(("order.bpmn", PROCESS), ("order.dmn", resource("order_drg.dmn")))
    assert kinds(response) == ["process", "decision", "decision", "decision", "decision",
                               "decisionRequirements"]  # fmt: skip
    drg = response.deployments[-1].decisionRequirements
    assert (drg.dmnDecisionRequirementsId, drg.dmnDecisionRequirementsName) == (
        "orderDecisions",
        "Order decisions",
    )
    assert (drg.version, drg.resourceName, drg.tenantId) == (1, "order.dmn", "<default>")
    decisions = [x.decision for x in response.deployments[1:5]]
    assert [x.dmnDecisionId for x in decisions] == [
        "customerCategory",
        "adjustments",
        "shippingCost",
        "price",
    ]
    assert decisions[0].dmnDecisionName == "Customer category"
    assert {x.version for x in decisions} == {1}
    assert {x.decisionRequirementsKey for x in decisions} == {drg.decisionRequirementsKey}
    assert {x.dmnDecisionRequirementsId for x in decisions} == {"orderDecisions"}
    keys = [
        response.key,
        response.deployments[0].process.processDefinitionKey,
        drg.decisionRequirementsKey,
        *(x.decisionKey for x in decisions),
    ]
    # every key is new and made on partition 1, in resource order after the deployment's
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(k >> 51 == 1 for k in keys)
    assert len(d.engine.decisions()) == 4 and len(d.engine.decision_requirements()) == 1


def test_redeploying_the_same_dmn_is_a_duplicate_with_the_same_keys_and_versions() -> None:
    d = Driver()
    first = d.deploy(("greet.dmn", greeting()))
    records = len(d.of("DECISION"))
    again = d.deploy(("greet.dmn", greeting()))
    assert again.key != first.key
    assert list(again.deployments) == list(first.deployments)
    assert len(d.of("DECISION")) == records and len(d.engine.decisions()) == 1


def test_a_changed_drg_gets_new_versions_and_a_new_decision_starts_at_one() -> None:
    d = Driver()
    d.deploy(("greet.dmn", greeting()))
    changed = document(
        literal("greet", '"Hi " + name') + literal("bye", '"Bye"'), graph_id="greetings"
    )
    response = d.deploy(("greet.dmn", changed))
    drg = response.deployments[-1].decisionRequirements
    versions = {x.decision.dmnDecisionId: x.decision.version for x in response.deployments[:-1]}
    assert drg.version == 2 and versions == {"greet": 2, "bye": 1}
    # the same content under another resource name is a new version too
    renamed = d.deploy(("renamed.dmn", changed))
    assert renamed.deployments[-1].decisionRequirements.version == 3
    # a decision's versions count across DRGs: moving it to another graph bumps it
    moved = d.deploy(("other.dmn", document(literal("greet", '"Yo"'), graph_id="other")))
    assert moved.deployments[0].decision.version == 4
    assert moved.deployments[1].decisionRequirements.version == 1


def test_a_deployment_with_an_invalid_dmn_deploys_nothing() -> None:
    d = Driver()
    request = gw.DeployResourceRequest(
        resources=[
            gw.Resource(name="ok.bpmn", content=PROCESS),
            gw.Resource(name="bad.dmn", content=b"<definitions"),
            gw.Resource(name="ok.dmn", content=greeting()),
        ]
    )
    rejection = d.reject(C.DEPLOY_RESOURCE, request)
    assert rejection.type == "INVALID_ARGUMENT"
    lines = rejection.reason.split("\n")
    assert lines[0] == "Expected to deploy new resources, but encountered the following errors:"
    assert len(lines) == 2 and lines[1].startswith("'bad.dmn': ")
    assert d.engine.definitions() == {} and d.engine.decisions() == {}


def test_dmn_resources_of_one_deployment_must_not_share_drg_or_decision_ids() -> None:
    d = Driver()
    request = gw.DeployResourceRequest(
        resources=[
            gw.Resource(name="a.dmn", content=greeting(graph_id="one")),
            gw.Resource(name="b.dmn", content=greeting(graph_id="one")),
            gw.Resource(name="c.dmn", content=greeting(graph_id="two")),
        ]
    )
    rejection = d.reject(C.DEPLOY_RESOURCE, request)
    assert rejection.reason.split("\n")[1:] == [
        "'b.dmn': Expected the decision requirements ids to be unique within a deployment but "
        "found a duplicated id 'one' in the resources 'a.dmn' and 'b.dmn'.",
        "'c.dmn': Expected the decision ids to be unique within a deployment but found a "
        "duplicated id 'greet' in the resources 'a.dmn' and 'c.dmn'.",
    ]


def test_a_dmn_error_names_the_element() -> None:
    d = Driver()
    broken = document(table("t", ["x"], ["y"], [([">>"], ["1"])]))
    rejection = d.reject(
        C.DEPLOY_RESOURCE,
        gw.DeployResourceRequest(resources=[gw.Resource(name="t.dmn", content=broken)]),
    )
    assert rejection.reason.split("\n")[1].startswith(
        "'t.dmn': decision 't' > rule 't_r1' > input entry 't_r1_ie1': FEEL unary-tests: failed "
        "to parse expression '>>'"
    )


def test_drgs_are_distributed_to_every_partition_and_stored_once() -> None:
    one = Driver(1, 3)
    response = one.deploy(("order.dmn", resource("order_drg.dmn")), ("p.bpmn", PROCESS))
    sends = one.engine.outbox()
    assert sorted(s.target for s in sends) == [2, 3]
    for partition in (2, 3):
        other = Driver(partition, 3)
        (send,) = [s for s in sends if s.target == partition]
        for _ in range(2):  # a re-sent distribution changes nothing
            other.position += 1
            other.engine.receive(send.payload, other.position, other.now)
        assert len(other.of("DECISION_REQUIREMENTS", "CREATED")) == 1
        assert other.engine.decisions() == one.engine.decisions()
        assert other.engine.decision_requirements() == one.engine.decision_requirements()
        assert len(other.engine.take_messages()) == 2  # acknowledged each time
        # decisions evaluate there with the keys partition 1 gave them
        answer = other.ok(
            C.EVALUATE_DECISION,
            gw.EvaluateDecisionRequest(decisionId="customerCategory", variables='{"orders":1}'),
        )
        drg_key = response.deployments[-1].decisionRequirements.decisionRequirementsKey
        assert answer.decisionRequirementsKey == drg_key


def test_a_duplicate_dmn_deployment_sends_nothing() -> None:
    one = Driver(1, 2)
    one.deploy(("greet.dmn", greeting()))
    (send,) = one.engine.outbox()
    one.position += 1
    one.engine.receive(codec.encode(Acknowledge(send.send_id, 2)), one.position, one.now)
    assert one.engine.outbox() == []
    one.deploy(("greet.dmn", greeting()))
    assert one.engine.outbox() == []


def test_deploy_process_still_answers_processes_only() -> None:
    d = Driver()
    response = d.ok(
        C.DEPLOY_PROCESS,
        gw.DeployProcessRequest(
            processes=[
                gw.ProcessRequestObject(name="p.bpmn", definition=PROCESS),
                gw.ProcessRequestObject(name="g.dmn", definition=greeting()),
            ]
        ),
    )
    assert [p.bpmnProcessId for p in response.processes] == ["p"]
    assert len(d.engine.decisions()) == 1
