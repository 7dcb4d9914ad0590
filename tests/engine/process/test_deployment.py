"""DeployResource and DeployProcess on partition 1 (reference §2)."""

from __future__ import annotations

from trio_zeebe.engine.commands import CommandType
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import Driver

C = CommandType


def simple(process_id: str = "p", job_type: str = "work") -> bytes:
    b = ProcessBuilder(process_id).start_event()
    return b.service_task("task", job_type=job_type).end_event().done()


def deploy_request(*resources: tuple[str, bytes]) -> gw.DeployResourceRequest:
    return gw.DeployResourceRequest(
        resources=[gw.Resource(name=name, content=content) for name, content in resources]
    )


def test_the_response_lists_every_process_with_its_key_and_version() -> None:
    d = Driver()
    response = d.deploy(("a.bpmn", simple("a")), ("b.xml", simple("b")))
    assert response.key >> 51 == 1 and response.tenantId == "<default>"
    processes = [dep.process for dep in response.deployments]
    assert [(p.bpmnProcessId, p.version, p.resourceName) for p in processes] == [
        ("a", 1, "a.bpmn"),
        ("b", 1, "b.xml"),
    ]
    assert all(p.processDefinitionKey >> 51 == 1 for p in processes)
    assert all(p.tenantId == "<default>" for p in processes)
    assert response.key < processes[0].processDefinitionKey  # the deployment's key comes first


def test_versions_count_per_process_id_and_duplicates_keep_key_and_version() -> None:
    d = Driver()
    first = d.deploy(("a.bpmn", simple(job_type="one"))).deployments[0].process
    same = d.deploy(("a.bpmn", simple(job_type="one"))).deployments[0].process
    assert (same.processDefinitionKey, same.version) == (first.processDefinitionKey, 1)
    changed = d.deploy(("a.bpmn", simple(job_type="two"))).deployments[0].process
    assert changed.version == 2 and changed.processDefinitionKey != first.processDefinitionKey
    renamed = d.deploy(("other.bpmn", simple(job_type="two"))).deployments[0].process
    assert renamed.version == 3  # same content, another resource name: a new version
    back = d.deploy(("a.bpmn", simple(job_type="one"))).deployments[0].process
    assert back.version == 4  # a duplicate only of the *latest* version counts


def test_one_invalid_resource_rejects_the_whole_deployment_with_every_error() -> None:
    d = Driver()
    broken = ProcessBuilder("bad").start_event().service_task("t", job_type="").done()
    rejection = d.reject(
        C.DEPLOY_RESOURCE,
        deploy_request(("ok.bpmn", simple()), ("bad.bpmn", broken), ("x.txt", b"hello")),
    )
    assert rejection.type == "INVALID_ARGUMENT" and rejection.intent == "CREATE"
    assert rejection.value_type == "DEPLOYMENT"
    lines = rejection.reason.split("\n")
    assert lines[0] == "Expected to deploy new resources, but encountered the following errors:"
    assert lines[1].startswith("'bad.bpmn': ")
    assert "'x.txt': unknown resource type" in lines
    assert d.engine.definitions() == {}  # nothing was deployed


def test_an_xml_parse_error_names_the_resource() -> None:
    d = Driver()
    rejection = d.reject(C.DEPLOY_RESOURCE, deploy_request(("a.bpmn", b"<not-closed")))
    assert rejection.reason.startswith(
        "Expected to deploy new resources, but encountered the following errors:\n'a.bpmn': "
    )


def test_no_resources_is_invalid() -> None:
    d = Driver()
    rejection = d.reject(C.DEPLOY_RESOURCE, deploy_request())
    assert rejection.reason == "Expected to deploy at least one resource, but none given"


def test_the_same_process_id_twice_in_one_deployment_is_invalid() -> None:
    d = Driver()
    rejection = d.reject(
        C.DEPLOY_RESOURCE, deploy_request(("p1.bpmn", simple()), ("p2.bpmn", simple(job_type="x")))
    )
    assert rejection.reason == (
        "Expected to deploy new resources, but encountered the following errors:\n"
        "Duplicated process id in resources 'p1.bpmn' and 'p2.bpmn'"
    )


def test_an_expression_that_does_not_parse_is_a_deployment_error() -> None:
    xml = ProcessBuilder("p").start_event().service_task("t", job_type="=1 +").end_event().done()
    d = Driver()
    rejection = d.reject(C.DEPLOY_RESOURCE, deploy_request(("p.bpmn", xml)))
    assert "failed to parse expression '1 +'" in rejection.reason


def test_the_deprecated_deploy_process_works_too() -> None:
    d = Driver()
    response = d.ok(
        C.DEPLOY_PROCESS,
        gw.DeployProcessRequest(
            processes=[gw.ProcessRequestObject(name="a.bpmn", definition=simple())]
        ),
    )
    assert [(p.bpmnProcessId, p.version) for p in response.processes] == [("p", 1)]


def test_deployments_are_taken_by_partition_one_only() -> None:
    d = Driver(partition_id=2, partition_count=2)
    rejection = d.reject(C.DEPLOY_RESOURCE, deploy_request(("a.bpmn", simple())))
    assert rejection.type == "INVALID_STATE"


def test_a_tenant_other_than_the_default_is_refused() -> None:
    d = Driver()
    request = deploy_request(("a.bpmn", simple()))
    request.tenantId = "acme"
    rejection = d.reject(C.DEPLOY_RESOURCE, request)
    assert rejection.type == "INVALID_ARGUMENT"
    assert rejection.reason == (
        "Expected to handle gRPC request DeployResource with tenant identifier 'acme', but "
        "multi-tenancy is disabled"
    )
