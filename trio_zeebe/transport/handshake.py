"""The peer handshake messages and the pure check of a peer's Hello.

After TLS both sides send :class:`Hello`, check the other's and then both send a
:class:`Verdict`; a refusal carries its reason so the other side can log why it was refused.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from trio_zeebe import codec
from trio_zeebe.transport.api import split_address

PROTOCOL_VERSION = 1


@codec.wire("t.hello")
@attrs.frozen
class Hello:
    protocol_version: int
    cluster_name: str
    node_id: int
    address: str  # the sender's advertised internal host:port
    incarnation: int  # random per process start: tells a restarted peer from a duplicate dial


@codec.wire("t.verdict")
@attrs.frozen
class Verdict:
    accepted: bool
    reason: str = ""


def check_hello(ours: Hello, theirs: Hello) -> str | None:
    """Why ``theirs`` is not acceptable to us, or None when it is."""
    if theirs.protocol_version != ours.protocol_version:
        return (
            f"protocol version {theirs.protocol_version} != {ours.protocol_version}"
            f" (node {theirs.node_id})"
        )
    if theirs.cluster_name != ours.cluster_name:
        return f"cluster name {theirs.cluster_name!r} != {ours.cluster_name!r}"
    if theirs.node_id == ours.node_id:
        return f"node id {theirs.node_id} is this node's own id ({ours.address})"
    if theirs.node_id < 0:
        return f"invalid node id {theirs.node_id}"
    try:
        split_address(theirs.address)
    except ValueError as exc:
        return str(exc)
    return None


_NODE_NAME = re.compile(r"node-(\d+)")


def check_certificate(theirs: Hello, cert: dict[str, Any] | None) -> str | None:
    """A certificate that names nodes (``node-<id>``, as ``certs`` issues them) may only be
    used by those nodes: another broker's certificate cannot claim its node id. Certificates
    without node names (host names only) are accepted; the cluster CA vouches for them."""
    if not cert:
        return None
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    nodes = {int(m.group(1)) for n in names if (m := _NODE_NAME.fullmatch(n))}
    if nodes and theirs.node_id not in nodes:
        owned = ", ".join(f"node-{n}" for n in sorted(nodes))
        return f"certificate is for {owned} but the peer claims node id {theirs.node_id}"
    return None
