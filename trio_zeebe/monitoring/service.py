"""The monitoring port (9600 by default): Zeebe's health and metrics endpoints and the live page.

=================================  ===========================================================
``/actuator/health``               Spring Boot health: ``{"status": "UP", "components": ...}``
``/actuator/health/liveness``      ``{"status": ...}``; also ``readiness``, ``startup``,
                                   ``status`` (200 when UP, 503 when DOWN)
``/startup``, ``/ready``,          Zeebe's legacy probes: 204 when true, 503 otherwise
``/health``
``/actuator/prometheus``,          Prometheus text (OpenMetrics when the scraper asks for it)
``/metrics``
``/``                              the live cluster page (``static/``)
``/api/cluster``                   the page's data as JSON; ``/api/cluster/events`` streams it
                                   (server-sent events, one document per second)
``/api/processes``                 deployed processes with active instances and incidents per
                                   element (:mod:`.processes`)
``/api/processes/xml?key=K``       the BPMN XML of process definition ``K``
=================================  ===========================================================

:class:`MonitoringService` owns the HTTP server, the rate sampler and the answer to peers'
:class:`~.cluster.ReplicasRequest`; it reads the broker only through the callables it is given.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from importlib import resources

import trio

from ..partitions.topology import ClusterView as Topology
from ..transport.api import Network
from .cluster import ClusterView, RateSampler, ReplicasRequest, answer_replicas
from .health import GROUPS, actuator_group, actuator_health, legacy_probe
from .http import (
    Handler,
    HttpLimits,
    HttpServer,
    Request,
    Response,
    Route,
    StreamingResponse,
)
from .metrics import BrokerMetrics
from .processes import ProcessesView, ReplicaOverview
from .sample import BrokerSample

EVENT_INTERVAL = 1.0
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/static/processes.js": ("processes.js", "text/javascript; charset=utf-8"),
    # bpmn-js's viewer, vendored from npm (see vendor/bpmn-js/VERSION and LICENSE)
    "/static/vendor/bpmn-js/bpmn-viewer.production.min.js": (
        "vendor/bpmn-js/bpmn-viewer.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    "/static/vendor/bpmn-js/diagram-js.css": (
        "vendor/bpmn-js/diagram-js.css",
        "text/css; charset=utf-8",
    ),
    "/static/vendor/bpmn-js/bpmn-js.css": ("vendor/bpmn-js/bpmn-js.css", "text/css; charset=utf-8"),
    "/static/vendor/bpmn-js/LICENSE": ("vendor/bpmn-js/LICENSE", "text/plain; charset=utf-8"),
}


class MonitoringService:
    """Everything on the monitoring port of one broker."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        node_id: int,
        cluster_name: str,
        version: str,
        sample: Callable[[], BrokerSample],
        topology: Callable[[], Topology],
        metrics: BrokerMetrics,
        network: Network | None,
        partitions_count: int = 1,
        overviews: Callable[[], Awaitable[Sequence[ReplicaOverview]]] | None = None,
        process_resource: Callable[[int], bytes | None] | None = None,
        limits: HttpLimits | None = None,
        event_interval: float = EVENT_INTERVAL,
    ) -> None:
        self.sample = sample
        self.metrics = metrics
        self.network = network
        self.version = version
        self.event_interval = event_interval
        self.rates = RateSampler(sample)
        self.cluster = ClusterView(
            node_id=node_id,
            cluster_name=cluster_name,
            version=version,
            topology=topology,
            sample=sample,
            rates=self.rates,
            network=network,
        )
        self.processes = ProcessesView(
            node_id=node_id,
            partitions_count=lambda: partitions_count,
            overviews=overviews or _no_overviews,
        )
        self.process_resource = process_resource or (lambda _: None)
        self.http = HttpServer(
            host, port, self._routes(), limits=limits, server_name=f"trio_zeebe/{version}"
        )

    @property
    def port(self) -> int:
        return self.http.port

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        if self.network is not None:
            self.network.on(ReplicasRequest, answer_replicas(self.sample, self.rates, self.version))
        async with trio.open_nursery() as nursery:
            await nursery.start(self.rates.run)
            port: int = await nursery.start(self.http.run)
            task_status.started(port)

    # -- routes ---------------------------------------------------------------------------

    def _routes(self) -> dict[str, Route]:
        routes = {
            "/actuator/health": Route(self._health),
            "/actuator/prometheus": Route(self._prometheus),
            "/metrics": Route(self._prometheus),
            "/startup": Route(self._probe(lambda s: s.started)),
            "/ready": Route(self._probe(lambda s: s.ready)),
            "/health": Route(self._probe(lambda s: s.healthy)),
            "/api/cluster": Route(self._cluster),
            "/api/cluster/events": Route(self._cluster_events),
            "/api/processes": Route(self._processes),
            "/api/processes/xml": Route(self._process_xml),
            "/favicon.ico": Route(self._no_icon),
        }
        for group in GROUPS:
            routes[f"/actuator/health/{group}"] = Route(self._group(group))
        for path, (name, content_type) in STATIC.items():
            routes[path] = Route(self._static(name, content_type))
        return routes

    async def _health(self, _: Request) -> Response:
        return actuator_health(self.sample())

    def _group(self, group: str) -> Handler:
        async def handler(_: Request) -> Response:
            return actuator_group(self.sample(), group)

        return handler

    def _probe(self, check: Callable[[BrokerSample], bool]) -> Handler:
        async def handler(_: Request) -> Response:
            return legacy_probe(check(self.sample()))

        return handler

    async def _prometheus(self, request: Request) -> Response:
        body, content_type = self.metrics.exposition(request.header("accept"))
        return Response(200, body, content_type)

    async def _cluster(self, _: Request) -> Response:
        document = await self.cluster.snapshot()
        return Response(200, json.dumps(document).encode(), "application/json")

    async def _cluster_events(self, _: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield f"retry: {int(self.event_interval * 2000)}\n\n".encode()
            while True:
                document = await self.cluster.snapshot()
                yield b"data: " + json.dumps(document).encode() + b"\n\n"
                await trio.sleep(self.event_interval)

        return StreamingResponse(
            "text/event-stream", events, headers=(("X-Accel-Buffering", "no"),)
        )

    async def _processes(self, _: Request) -> Response:
        document = await self.processes.snapshot()
        return Response(200, json.dumps(document).encode(), "application/json")

    async def _process_xml(self, request: Request) -> Response:
        raw = request.query.get("key", "")
        if not raw.isdigit():
            return _text(400, "give the process definition key: /api/processes/xml?key=KEY")
        resource = self.process_resource(int(raw))
        if resource is None:
            return _text(404, f"no process definition with key {raw} on this broker")
        return Response(200, resource, "application/xml; charset=utf-8")

    def _static(self, name: str, content_type: str) -> Handler:
        body = resources.files("trio_zeebe.monitoring").joinpath("static", name).read_bytes()

        async def handler(_: Request) -> Response:
            return Response(200, body, content_type, (("Cache-Control", "no-cache"),))

        return handler

    async def _no_icon(self, _: Request) -> Response:
        return Response(204)


async def _no_overviews() -> list[ReplicaOverview]:
    return []


def _text(status: int, text: str) -> Response:
    return Response(status, text.encode() + b"\n", "text/plain; charset=utf-8")
