"""The process view's counting: active element instances and open incidents per element, per
partition and merged over partitions (what the live page draws on each BPMN element)."""

from __future__ import annotations

from trio_zeebe.engine.overview import (
    ElementCounts,
    OverviewBuilder,
    OverviewSource,
    PartitionOverview,
    merge,
    summarize,
)
from trio_zeebe.engine.runtime.values import Definition, Incident, Instance

ORDER_V1, ORDER_V2, SHIP = 101, 102, 201


def definition(key: int, process_id: str, version: int) -> Definition:
    return Definition(key, process_id, version, f"{process_id}.bpmn", b"", b"<xml/>", 1)


DEFINITIONS = [definition(SHIP, "ship", 1), definition(ORDER_V2, "order", 2)]
DEFINITIONS.append(definition(ORDER_V1, "order", 1))


def instance(key: int, element: str, element_type: str, definition_key: int) -> Instance:
    root = key if element_type == "PROCESS" else key // 100 * 100
    return Instance(
        key,
        element,
        element_type,
        -1 if element_type == "PROCESS" else root,
        root,
        definition_key,
        -1,
        -1,
        "ELEMENT_ACTIVATED",
    )


def incident(key: int, element: str, definition_key: int) -> Incident:
    return Incident(key, "JOB_NO_RETRIES", "no luck", "order", definition_key, 0, element, 0, 0, 0)


def partition_one() -> OverviewSource:
    instances = [
        # two instances of order v2: one waits on "pay", one in the sub-process' "pick" task
        instance(100, "order", "PROCESS", ORDER_V2),
        instance(101, "pay", "SERVICE_TASK", ORDER_V2),
        instance(200, "order", "PROCESS", ORDER_V2),
        instance(201, "packing", "SUB_PROCESS", ORDER_V2),
        instance(202, "pick", "SERVICE_TASK", ORDER_V2),
        # one of order v1 on "pay": the same element id in another version counts apart
        instance(300, "order", "PROCESS", ORDER_V1),
        instance(301, "pay", "SERVICE_TASK", ORDER_V1),
    ]
    incidents = [incident(900, "pay", ORDER_V2), incident(901, "pick", ORDER_V2)]
    return OverviewSource(1, 42, DEFINITIONS, instances, incidents)


def partition_two() -> OverviewSource:
    instances = [
        instance(400, "order", "PROCESS", ORDER_V2),
        instance(401, "pay", "SERVICE_TASK", ORDER_V2),
        # a multi-instance body and two of its inner instances on one element
        instance(500, "order", "PROCESS", ORDER_V2),
        instance(501, "pick", "MULTI_INSTANCE_BODY", ORDER_V2),
        instance(502, "pick", "SERVICE_TASK", ORDER_V2),
        instance(503, "pick", "SERVICE_TASK", ORDER_V2),
    ]
    # an incident on an element with no active instance here (e.g. a failed activation)
    incidents = [incident(902, "approve", ORDER_V2)]
    return OverviewSource(2, 7, DEFINITIONS, instances, incidents)


def by_key(overview: PartitionOverview) -> dict[int, tuple[int, int, dict[str, ElementCounts]]]:
    return {p.key: (p.instances, p.incidents, dict(p.elements)) for p in overview.processes}


def test_one_partition_counts_active_instances_and_incidents_per_element() -> None:
    overview = summarize(partition_one())
    assert (overview.partition_id, overview.position) == (1, 42)
    assert by_key(overview) == {
        ORDER_V2: (
            2,
            2,
            {
                "pay": ElementCounts(active=1, incidents=1),
                "packing": ElementCounts(active=1),
                "pick": ElementCounts(active=1, incidents=1),
            },
        ),
        ORDER_V1: (1, 0, {"pay": ElementCounts(active=1)}),
        SHIP: (0, 0, {}),  # deployed, nothing runs on it: listed, with no element
    }
    # by process id, then version; the process element itself is no element of the diagram
    assert [(p.bpmn_process_id, p.version) for p in overview.processes] == [
        ("order", 1),
        ("order", 2),
        ("ship", 1),
    ]
    assert all("order" not in p.elements for p in overview.processes)


def test_counting_in_chunks_gives_the_same_counts() -> None:
    source = partition_two()
    builder = OverviewBuilder(source)
    for i in range(0, len(source.instances), 2):
        builder.add_instances(source.instances[i : i + 2])
    builder.add_incidents(source.incidents[:0])
    builder.add_incidents(source.incidents)
    assert builder.build() == summarize(source)


def test_partitions_add_up_per_definition_and_element() -> None:
    merged = merge([summarize(partition_one()), summarize(partition_two())])
    # each definition once (a deployment reaches every partition with the same key), newest
    # version of a process first
    assert [(p.bpmn_process_id, p.version) for p in merged] == [
        ("order", 2),
        ("order", 1),
        ("ship", 1),
    ]
    order_v2 = merged[0]
    assert (order_v2.instances, order_v2.incidents) == (4, 3)
    assert dict(order_v2.elements) == {
        "pay": ElementCounts(active=2, incidents=1),
        "packing": ElementCounts(active=1),
        # partition 1's task instance, partition 2's body and its two inner instances
        "pick": ElementCounts(active=4, incidents=1),
        "approve": ElementCounts(incidents=1),
    }
    assert (merged[1].instances, dict(merged[1].elements)) == (1, {"pay": ElementCounts(1, 0)})
    assert (merged[2].instances, merged[2].incidents, dict(merged[2].elements)) == (0, 0, {})
    assert order_v2.to_json()["elements"] == {
        "approve": {"active": 0, "incidents": 1},
        "packing": {"active": 1, "incidents": 0},
        "pay": {"active": 2, "incidents": 1},
        "pick": {"active": 4, "incidents": 1},
    }
    assert order_v2.to_json()["key"] == str(ORDER_V2)


def test_merging_nothing_and_one_partition() -> None:
    assert merge([]) == ()
    one = summarize(partition_one())
    assert {p.key: p for p in merge([one])} == {p.key: p for p in one.processes}
