"""Zeebe's broker health checks, answered as Spring Boot's actuator answers them.

Three facts decide everything (Zeebe's ``BrokerHealthCheckService``):

* started: the broker has started all its services (``brokerStartup``);
* ready: started, and every local partition has been leader or follower at least once; never
  becomes false again (``brokerReady``, for readiness probes and rolling restarts);
* healthy: ready and every local partition healthy; can become false (``brokerStatus``).

Liveness is Spring Boot's ``livenessState``: a broker that answers at all is live (a broken
partition is restarted by its supervisor, and restarting the process would not mend a dead one).

``/actuator/health`` answers ``{"status": "UP", "components": {...}, "groups": [...]}`` (200) or
``"DOWN"`` (503); each group endpoint (``/actuator/health/readiness`` ...) answers only its
``{"status": ...}``. The legacy paths ``/startup``, ``/ready`` and ``/health`` keep Zeebe's older
answers: 204 when true, 503 otherwise, with no body.
"""

from __future__ import annotations

import json
from typing import Any

from .http import Response
from .sample import BrokerSample

UP, DOWN = "UP", "DOWN"
GROUPS = {
    "liveness": "livenessState",
    "readiness": "brokerReady",
    "startup": "brokerStartup",
    "status": "brokerStatus",
}
JSON = "application/json"


def components(sample: BrokerSample) -> dict[str, dict[str, Any]]:
    def status(ok: bool) -> str:
        return UP if ok else DOWN

    return {
        "brokerReady": {"status": status(sample.ready)},
        "brokerStartup": {"status": status(sample.started)},
        "brokerStatus": {
            "status": status(sample.healthy),
            "details": {
                "partitions": {str(p.partition_id): p.health for p in sample.partitions},
            },
        },
        "livenessState": {"status": UP},
    }


def actuator_health(sample: BrokerSample) -> Response:
    parts = components(sample)
    overall = UP if all(c["status"] == UP for c in parts.values()) else DOWN
    body = {"status": overall, "components": parts, "groups": sorted(GROUPS)}
    return _json(overall, body)


def actuator_group(sample: BrokerSample, group: str) -> Response:
    status = components(sample)[GROUPS[group]]["status"]
    return _json(status, {"status": status})


def legacy_probe(ok: bool) -> Response:
    return Response(204) if ok else Response(503)


def _json(status: str, body: dict[str, Any]) -> Response:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Response(200 if status == UP else 503, payload, JSON)
