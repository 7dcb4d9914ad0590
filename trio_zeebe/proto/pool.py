"""The descriptor pool every generated module of this package is built in.

Not protobuf's default pool: other builds of the same protocols (``zeebe_grpc``'s
``gateway_protocol``, ``grpcio-health-checking``'s ``grpc.health.v1``,
``googleapis-common-protos``' ``google.rpc.Status``) register the same full names there, and a
pool refuses a second file defining a name it has. With a pool of our own, a process can hold
both (an embedded broker next to a pyzeebe worker, say). On the wire only field numbers count,
so messages from either build parse each other's bytes.
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pool

POOL = descriptor_pool.DescriptorPool()
# status.proto imports google/protobuf/any.proto; a pool resolves imports only among its files.
POOL.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
