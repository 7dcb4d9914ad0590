"""A real 3-broker cluster: its monitoring under load, and the live page in a headless Chromium.

The browser test skips where no Chromium is installed (``nox -s browser`` installs Debian's).
``MONITORING_SCREENSHOT=docs/monitoring-page.png`` keeps the page's screenshot there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from trio_zeebe.testing.processes import FAST_RAFT, Brokers

from .browser import find_chromium, open_browser
from .http_client import get

pytestmark = pytest.mark.slow

CHROMIUM = find_chromium()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    brokers = Brokers(
        tmp_path_factory.mktemp("cluster"),
        brokers=3,
        partitions=3,
        replication_factor=3,
        env=FAST_RAFT,
    )
    try:
        for node in range(3):
            brokers.start(node)
        trio.run(wait_for_leaders, brokers)
        yield brokers
    finally:
        brokers.terminate_all()


def monitoring_port(brokers: Brokers, node: int) -> int:
    return brokers.loaded[node].network.monitoring_port


async def cluster_document(brokers: Brokers, node: int) -> dict[str, Any] | None:
    try:
        answer = await get(monitoring_port(brokers, node), "/api/cluster")
    except OSError:
        return None
    return json.loads(answer.body) if answer.status == 200 else None


async def wait_for_leaders(brokers: Brokers) -> None:
    """Until every broker's page data shows 3 alive brokers and a leader for every partition."""
    with trio.fail_after(60):
        while True:
            documents = [await cluster_document(brokers, node) for node in range(3)]
            if all(d is not None and settled(d) for d in documents):
                return
            brokers.check_running()
            await trio.sleep(0.1)


def settled(document: dict[str, Any]) -> bool:
    brokers = document["brokers"]
    return (
        len(brokers) == 3
        and all(b["state"] == "alive" and b["reachable"] for b in brokers)
        and all(p["leader"] is not None for p in document["partitions"])
    )


async def leaders_by_topology(brokers: Brokers) -> dict[int, int]:
    topology = await brokers.topology(0)
    assert topology is not None
    return {
        p.partition_id: b.node_id
        for b in topology.brokers
        for p in b.partitions
        if p.role == "leader"
    }


async def run_jobs(brokers: Brokers, count: int, concurrency: int = 1) -> None:
    async with brokers.client(0, timeout=10) as client:

        async def worker(first: int) -> None:
            for i in range(first, count, concurrency):
                await client.create_job("monitored", variables={"i": i})

        async with trio.open_nursery() as nursery:
            for first in range(concurrency):
                nursery.start_soon(worker, first)


async def test_every_broker_reports_the_whole_cluster_and_observes_the_work(
    cluster: Brokers,
) -> None:
    await run_jobs(cluster, 30)
    leaders = await leaders_by_topology(cluster)
    for node in range(3):
        document = await cluster_document(cluster, node)
        assert document is not None and document["served_by"] == node
        assert {p["partition_id"]: p["leader"] for p in document["partitions"]} == leaders
    histograms: dict[str, float] = {}
    for node in range(3):
        answer = await get(monitoring_port(cluster, node), "/actuator/prometheus")
        for family in text_string_to_metric_families(answer.text):
            if family.type == "histogram":
                count = sum(s.value for s in family.samples if s.name.endswith("_count"))
                histograms[family.name] = histograms.get(family.name, 0) + count
    # Every record was proposed, committed, fsynced and applied somewhere; the gateway timed it.
    assert histograms["zeebe_gateway_request_latency_seconds"] >= 30
    assert histograms["zeebe_log_appender_commit_latency_seconds"] >= 1
    assert histograms["zeebe_stream_processor_latency_seconds"] >= 30
    assert histograms["atomix_journal_flush_time_seconds"] >= 1


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (nox -s browser installs it)")
async def test_the_live_page_shows_every_broker_and_every_partition_leader(
    cluster: Brokers, tmp_path: Path
) -> None:
    assert CHROMIUM is not None
    url = f"http://127.0.0.1:{monitoring_port(cluster, 1)}/"
    async with open_browser(CHROMIUM) as browser, trio.open_nursery() as workload:
        page = await browser.new_page()
        await page.goto(url)
        first = await page.wait_for(
            "document.body && Number(document.body.dataset.updates)", limit=30
        )
        # Live: the page goes on updating by itself.
        await page.wait_for(f"Number(document.body.dataset.updates) > {first}", limit=10)
        brokers = await page.evaluate(
            "[...document.querySelectorAll('[data-broker]')]"
            ".map(e => [Number(e.dataset.broker), e.dataset.state])"
        )
        assert brokers == [[0, "alive"], [1, "alive"], [2, "alive"]]
        leaders = await leaders_by_topology(cluster)
        shown = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('tr[data-partition]')]"
            ".map(e => [e.dataset.partition, e.dataset.leader]))"
        )
        assert {int(p): int(n) for p, n in shown.items() if n != ""} == leaders
        assert len(shown) == 3
        # Work shows up as processing rates (jobs are created round-robin over partitions).
        workload.start_soon(run_jobs, cluster, 5000, 8)
        await page.wait_for(
            "[...document.querySelectorAll('.processing-rate')]"
            ".every(e => parseFloat(e.textContent) > 1)",
            limit=30,
        )
        assert await page.evaluate("document.getElementById('live').dataset.state") == "live"
        assert await page.evaluate("document.getElementById('processes') !== null")
        keep = os.environ.get("MONITORING_SCREENSHOT")
        if keep:  # for the picture: let the 5 s rate window hold nothing but the workload
            await trio.sleep(6)
        shot = trio.Path(tmp_path / "monitoring-page.png")
        await page.screenshot(Path(shot))
        png = await shot.read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        if keep:
            await trio.Path(keep).write_bytes(png)
        assert browser.console == []  # no script errors
        workload.cancel_scope.cancel()


WAIT_BPMN = Path(__file__).parent.parent / "resources" / "wait_for_work.bpmn"


async def deploy_and_wait(brokers: Brokers, instances: int) -> int:
    """Deploys wait-for-work, starts ``instances`` instances (each waits on the service task
    ``work``) and fails one job with no retries left: an incident on ``work``. Its key."""
    async with brokers.client(0, timeout=10) as client:
        deployment = await client.deploy_resource(WAIT_BPMN)
        (process,) = [p for p in deployment.processes if p.bpmn_process_id == "wait-for-work"]
        for i in range(instances):
            await client.create_process_instance("wait-for-work", variables={"i": i})
        with trio.fail_after(20):
            jobs = []
            while not jobs:
                jobs = await client.activate_jobs("work", worker="page-test", max_jobs=1)
        await client.fail_job(jobs[0].key, retries=0, error_message="no luck")
    return process.process_definition_key


async def processes_document(brokers: Brokers, node: int) -> dict[str, Any]:
    answer = await get(monitoring_port(brokers, node), "/api/processes")
    assert answer.status == 200
    document: dict[str, Any] = json.loads(answer.body)
    return document


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (nox -s browser installs it)")
async def test_the_live_page_draws_the_processes_with_their_instances(
    cluster: Brokers, tmp_path: Path
) -> None:
    assert CHROMIUM is not None
    key = await deploy_and_wait(cluster, 3)
    # Every broker has a replica of every partition here: each counts the whole cluster.
    with trio.fail_after(10):
        while True:
            document = await processes_document(cluster, 2)
            mine = [p for p in document["processes"] if p["key"] == str(key)]
            if mine and mine[0]["elements"].get("work") == {"active": 3, "incidents": 1}:
                break
            await trio.sleep(0.2)
    assert document["missing_partitions"] == []
    assert sorted(p["partition_id"] for p in document["counted_partitions"]) == [1, 2, 3]
    assert mine[0]["instances"] == 3 and mine[0]["incidents"] == 1
    xml = await get(monitoring_port(cluster, 2), f"/api/processes/xml?key={key}")
    assert xml.status == 200 and xml.body == WAIT_BPMN.read_bytes()

    url = f"http://127.0.0.1:{monitoring_port(cluster, 2)}/"
    async with open_browser(CHROMIUM) as browser:
        page = await browser.new_page()
        await page.goto(url)
        card = f"document.querySelector('.process[data-key=\"{key}\"]')"
        drawn = f"{card} && {card}.dataset.diagram !== 'loading' && {card}.dataset.diagram"
        assert await page.wait_for(drawn, limit=30) == "shown"
        # bpmn-js drew the diagram: the task is an SVG shape, the counts sit on it
        await page.wait_for(
            f"{card}.querySelector('[data-element-id=\"work\"] rect') !== null", limit=10
        )
        counts = await page.wait_for(
            f"(() => {{ const a = {card}.querySelector('.count.active[data-element=\"work\"]');"
            f" const i = {card}.querySelector('.count.incidents[data-element=\"work\"]');"
            " return a && i && [a.textContent, i.textContent]; })()",
            limit=10,
        )
        assert counts == ["3", "1"]
        assert await page.evaluate(f"{card}.dataset.instances") == "3"
        # A process whose resource has no diagram for it says so instead of drawing another
        other = "document.querySelector('.process[data-process=\"straight-through\"]')"
        drawn = f"{other} && {other}.dataset.diagram !== 'loading' && {other}.dataset.diagram"
        assert await page.wait_for(drawn, limit=10) == "none"
        # Live: a new instance shows up on the diagram without reloading the page
        async with cluster.client(0, timeout=10) as client:
            await client.create_process_instance("wait-for-work")
        await page.wait_for(
            f"{card}.querySelector('.count.active[data-element=\"work\"]').textContent === '4'",
            limit=10,
        )
        await page.evaluate(f"{card}.scrollIntoView()")
        shot = trio.Path(tmp_path / "monitoring-process.png")
        await page.screenshot(Path(shot), height=900)
        png = await shot.read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        keep = os.environ.get("MONITORING_PROCESS_SCREENSHOT")
        if keep:
            await trio.Path(keep).write_bytes(png)
        assert browser.console == []  # no script errors
