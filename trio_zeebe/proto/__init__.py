"""Protocol definitions and their generated protobuf modules (shared by gateway and client).

- ``gateway.proto`` / :mod:`.gateway_pb2`: Zeebe's ``gateway_protocol.Gateway`` (Zeebe 8.4,
  Apache-2.0, see ``LICENSE-gateway-proto``).
- ``trio_zeebe.proto`` / :mod:`.trio_zeebe_pb2`: the project's ``trio_zeebe.v1.TrioZeebe``
  extension service.
- ``health.proto`` / :mod:`.health_pb2`: the standard ``grpc.health.v1.Health``.
- ``status.proto`` / :mod:`.status_pb2`: ``google.rpc.Status`` for rich error details.

The ``*_pb2`` modules are generated (``nox -s proto`` runs :mod:`.regenerate`) and committed;
at run time they need only ``protobuf``. They are built in a private descriptor pool
(:mod:`.pool`), so they coexist with other builds of the same protocols in one process.
Nothing here imports trio or anyio.
"""
