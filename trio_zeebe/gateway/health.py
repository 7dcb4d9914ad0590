"""``grpc.health.v1.Health``: the standard gRPC health service, with a status per service name.

The gateway sets ``gateway_protocol.Gateway`` and ``""`` (the server as a whole) to SERVING
once the broker is ready and NOT_SERVING before and while shutting down, as Zeebe's gateway
does; pyzeebe, grpc_health_probe and Kubernetes probes read it. ``Check`` of a name never set
is NOT_FOUND; ``Watch`` of one answers SERVICE_UNKNOWN and keeps watching, as gRPC's own
health servers do. Watch sends the latest status on every change (intermediate ones may be
skipped, which the protocol allows), so a slow watcher never holds more than one.
"""

from __future__ import annotations

import trio

from ..grpc.status import GrpcError, StatusCode
from ..proto import health_pb2
from .grpc_call import ServerCall
from .grpc_services import Send, Service

SERVICE_NAME = "grpc.health.v1.Health"
ServingStatus = health_pb2.HealthCheckResponse.ServingStatus
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class HealthService:
    """Holds the statuses and serves them; register :meth:`service` with the server."""

    def __init__(self) -> None:
        self._statuses: dict[str, ServingStatus] = {}
        self._changed = trio.Event()
        self._terminal = False

    def set(self, service: str, status: ServingStatus) -> None:
        """Set one service's status (watchers hear of it); ignored after :meth:`enter_shutdown`."""
        if self._terminal or self._statuses.get(service) == status:
            return
        self._statuses[service] = status
        self._notify()

    def status(self, service: str) -> ServingStatus | None:
        return self._statuses.get(service)

    def enter_shutdown(self) -> None:
        """Every service NOT_SERVING, for good: a server going down says so to its watchers."""
        for name in self._statuses:
            self._statuses[name] = NOT_SERVING
        self._terminal = True
        self._notify()

    def service(self) -> Service:
        service = Service(SERVICE_NAME)
        service.unary("Check", health_pb2.HealthCheckRequest, self._check)
        service.server_stream("Watch", health_pb2.HealthCheckRequest, self._watch)
        return service

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _check(
        self, request: health_pb2.HealthCheckRequest, call: ServerCall
    ) -> health_pb2.HealthCheckResponse:
        status = self._statuses.get(request.service)
        if status is None:
            raise GrpcError(StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def _watch(
        self,
        request: health_pb2.HealthCheckRequest,
        call: ServerCall,
        send: Send[health_pb2.HealthCheckResponse],
    ) -> None:
        last: ServingStatus | None = None
        while True:
            changed = self._changed
            status = self._statuses.get(request.service, SERVICE_UNKNOWN)
            if status != last:
                await send(health_pb2.HealthCheckResponse(status=status))
                last = status
            if changed is self._changed:
                await changed.wait()
