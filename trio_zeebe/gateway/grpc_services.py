"""The gRPC server's service registry: which handler serves which ``/Service/Method`` path.

Handlers are registered per method, typed (the request parsed into its generated message
class, the response a message serialized here) or raw (request bytes in, response bytes out:
the gateway passes protobuf bytes straight between client and engine without decoding them).
Every registration is normalized to a raw :class:`RpcMethod`, so the connection code sees one
shape. Only unary and server-streaming methods exist (Zeebe's API has no other kind).

Handler signatures (``call`` is the :class:`~.grpc_call.ServerCall`):

- unary: ``async def handler(request, call) -> response``
- server streaming: ``async def handler(request, call, send) -> None``, calling
  ``await send(message)`` per response message; or an async iterator of messages
  (:meth:`Service.server_stream_iter`).

A handler fails a call by raising :class:`~trio_zeebe.grpc.status.GrpcError`; any other
exception becomes INTERNAL (and is logged).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

import attrs
from google.protobuf.message import DecodeError, Message

from ..grpc.status import GrpcError, StatusCode
from .grpc_call import ServerCall

RequestT = TypeVar("RequestT", bound=Message)
T = TypeVar("T")

Send = Callable[[T], Awaitable[None]]
RawUnaryHandler = Callable[[bytes, ServerCall], Awaitable[bytes]]
RawStreamHandler = Callable[[bytes, ServerCall, Send[bytes]], Awaitable[None]]


class RpcKind(enum.Enum):
    UNARY = "unary"
    SERVER_STREAM = "server_stream"


@attrs.frozen
class RpcMethod:
    """A registered method in raw form: what the connection calls."""

    path: str
    kind: RpcKind
    unary: RawUnaryHandler | None = None
    stream: RawStreamHandler | None = None


def parse_request(request_type: type[RequestT], data: bytes, path: str) -> RequestT:
    try:
        return request_type.FromString(data)
    except DecodeError as exc:
        raise GrpcError(
            StatusCode.INVALID_ARGUMENT,
            f"Failed to parse the request of {path} as {request_type.DESCRIPTOR.full_name}: {exc}",
        ) from exc


class Service:
    """The methods of one service, by full service name (e.g. ``gateway_protocol.Gateway``)."""

    def __init__(self, name: str) -> None:
        if not name or name.startswith("/") or "/" in name:
            raise ValueError(f"service name {name!r}: expected e.g. 'package.Service'")
        self.name = name
        self.methods: dict[str, RpcMethod] = {}

    def _add(self, method: str, kind: RpcKind, **handler: object) -> str:
        if not method or "/" in method:
            raise ValueError(f"method name {method!r} of {self.name}")
        path = f"/{self.name}/{method}"
        if path in self.methods:
            raise ValueError(f"{path} is registered twice")
        self.methods[path] = RpcMethod(path, kind, **handler)  # type: ignore[arg-type]
        return path

    def unary_raw(self, method: str, handler: RawUnaryHandler) -> None:
        self._add(method, RpcKind.UNARY, unary=handler)

    def server_stream_raw(self, method: str, handler: RawStreamHandler) -> None:
        self._add(method, RpcKind.SERVER_STREAM, stream=handler)

    def unary(
        self,
        method: str,
        request_type: type[RequestT],
        handler: Callable[[RequestT, ServerCall], Awaitable[Message]],
    ) -> None:
        path = f"/{self.name}/{method}"

        async def raw(data: bytes, call: ServerCall) -> bytes:
            response = await handler(parse_request(request_type, data, path), call)
            return response.SerializeToString()

        self._add(method, RpcKind.UNARY, unary=raw)

    def server_stream(
        self,
        method: str,
        request_type: type[RequestT],
        handler: Callable[[RequestT, ServerCall, Send[Message]], Awaitable[None]],
    ) -> None:
        path = f"/{self.name}/{method}"

        async def raw(data: bytes, call: ServerCall, send: Send[bytes]) -> None:
            async def send_message(message: Message) -> None:
                await send(message.SerializeToString())

            await handler(parse_request(request_type, data, path), call, send_message)

        self._add(method, RpcKind.SERVER_STREAM, stream=raw)

    def server_stream_iter(
        self,
        method: str,
        request_type: type[RequestT],
        handler: Callable[[RequestT, ServerCall], AsyncIterator[Message]],
    ) -> None:
        async def drive(request: RequestT, call: ServerCall, send: Send[Message]) -> None:
            async for message in handler(request, call):
                await send(message)

        self.server_stream(method, request_type, drive)


class ServiceRegistry:
    """All services of one server; looked up by request path."""

    def __init__(self) -> None:
        self._services: dict[str, Service] = {}

    def add(self, service: Service) -> None:
        if service.name in self._services:
            raise ValueError(f"service {service.name} is registered twice")
        self._services[service.name] = service

    def lookup(self, path: str) -> RpcMethod | None:
        service = self._services.get(path[1:].partition("/")[0])
        return None if service is None else service.methods.get(path)

    @property
    def services(self) -> Mapping[str, Service]:
        return self._services
