"""The peer handshake: its messages, the checks of a peer's Hello, and the :class:`Handshaker`.

After TLS both sides send :class:`Hello`, check the other's and then both send a
:class:`Verdict`; a refusal carries its reason so the other side can log why it was refused.
The whole handshake, TLS included, must finish within the handshake timeout.
"""

from __future__ import annotations

import collections
import logging
import re
import ssl
from typing import Any

import attrs
import trio

from trio_zeebe import codec
from trio_zeebe.codec import DecodeError
from trio_zeebe.transport import frames
from trio_zeebe.transport.api import join_address, split_address
from trio_zeebe.transport.tls_stream import TLSStream, describe_failure, is_tls_failure

log = logging.getLogger("trio_zeebe.transport")

_RECEIVE_BYTES = 65536
_CLOSED = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)

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


class Refused(Exception):
    """One side refused the other's Hello (already logged and counted)."""


@attrs.frozen
class Established:
    """A stream whose handshake succeeded, and what the handshake learnt and read ahead."""

    stream: trio.abc.Stream
    hello: Hello  # the peer's
    decoder: frames.FrameDecoder
    backlog: list[bytes]  # frames the peer sent right after its Verdict


class Handshaker:
    """Turns a fresh TCP socket into a verified peer stream: TLS (when configured), Hellos,
    verdicts; for both the dialling and the listening side."""

    def __init__(
        self,
        hello: Hello,
        ssl_server: ssl.SSLContext | None,
        ssl_client: ssl.SSLContext | None,
        *,
        max_frame_bytes: int,
        connect_timeout: float,
        handshake_timeout: float,
        stats: collections.Counter[str],
    ) -> None:
        self.hello = hello
        self.mode = "plain TCP" if ssl_server is None else "mutual TLS"
        self._ssl_server, self._ssl_client = ssl_server, ssl_client
        self._max = max_frame_bytes
        self._connect_timeout, self._handshake_timeout = connect_timeout, handshake_timeout
        self._stats = stats

    async def dial(self, address: str) -> Established:
        """Connect to ``address`` and handshake. Raises what a stream raises, TooSlowError,
        DecodeError, ValueError (a malformed address) or :class:`Refused`."""
        host, port = split_address(address)
        with trio.fail_after(self._connect_timeout + self._handshake_timeout):
            raw = await trio.open_tcp_stream(host, port)
            stream: trio.abc.Stream = raw
            try:
                if self._ssl_client is not None:
                    stream = TLSStream(raw, self._ssl_client, server_hostname=host)
                    await stream.do_handshake()
                return await self._exchange(stream, address, dialler=True)
            except BaseException:
                await trio.aclose_forcefully(raw)
                raise

    async def accept(self, raw: trio.SocketStream) -> Established | None:
        """Handshake on an accepted socket; None (logged, counted, closed) when that fails."""
        self._stats["connections_accepted"] += 1
        try:
            where = join_address(*raw.socket.getpeername()[:2])
        except (OSError, ValueError):
            where = "?"
        stream: trio.abc.Stream = raw
        try:
            with trio.fail_after(self._handshake_timeout):
                if self._ssl_server is not None:
                    stream = TLSStream(raw, self._ssl_server, server_side=True)
                    await stream.do_handshake()
                return await self._exchange(stream, where, dialler=False)
        except (*_CLOSED, trio.TooSlowError, DecodeError, Refused) as exc:
            if not isinstance(exc, Refused):
                if is_tls_failure(exc):
                    self._stats["tls_failures"] += 1
                if isinstance(exc, trio.TooSlowError):
                    # TCP (and TLS) done but no Hello in time: a stuck or hostile client.
                    self._stats["handshake_timeouts"] += 1
                    exc = trio.TooSlowError(f"no handshake within {self._handshake_timeout:g}s")
                self._stats["handshake_failures"] += 1
                log.warning("handshake with %s failed: %s", where, describe_failure(exc))
            await trio.aclose_forcefully(raw)
            return None

    async def _exchange(self, stream: trio.abc.Stream, where: str, dialler: bool) -> Established:
        decoder = frames.FrameDecoder(self._max)
        backlog: list[bytes] = []
        await stream.send_all(frames.frame(codec.encode(self.hello)))
        theirs = codec.decode(await _read_frame(stream, decoder, backlog))
        if not isinstance(theirs, Hello):
            raise DecodeError(f"expected a Hello, got {type(theirs).__name__}")
        cert = stream.getpeercert() if isinstance(stream, TLSStream) else None
        reason = check_hello(self.hello, theirs) or check_certificate(theirs, cert)
        await stream.send_all(frames.frame(codec.encode(Verdict(reason is None, reason or ""))))
        # Always read their verdict too, so the dialler can say *why* it was refused.
        try:
            verdict = codec.decode(await _read_frame(stream, decoder, backlog))
        except (*_CLOSED, DecodeError):
            if reason is None:
                raise
            verdict = Verdict(True)
        if not isinstance(verdict, Verdict):
            raise DecodeError(f"expected a Verdict, got {type(verdict).__name__}")
        if reason is not None:
            self._stats["handshakes_refused"] += 1
        if not verdict.accepted:
            self._stats["handshakes_refused_by_peer"] += 1
        if (reason is not None and not dialler) or (reason is not None and verdict.accepted):
            log.warning("refusing connection %s %s: %s", "to" if dialler else "from", where, reason)
            raise Refused(reason)
        if not verdict.accepted:
            log.warning("refused by %s: %s", where, verdict.reason)
            raise Refused(verdict.reason)
        return Established(stream, theirs, decoder, backlog)


async def _read_frame(
    stream: trio.abc.Stream, decoder: frames.FrameDecoder, out: list[bytes]
) -> bytes:
    while not out:
        data = await stream.receive_some(_RECEIVE_BYTES)
        if not data:
            raise trio.BrokenResourceError("connection closed during handshake")
        decoder.feed(data)
        out.extend(decoder.frames())
    return out.pop(0)
