"""The gRPC server's HTTP/2 connection driven frame by frame (h2 as a raw client, or bytes).

Served over in-memory streams, so timeouts run on trio's MockClock (autojump) and every
frame the server sends can be inspected.
"""

from __future__ import annotations

import struct

import h2.errors
import h2.events
import h2.settings
import pytest
import trio
import trio.testing
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, PingFrame

from trio_zeebe.gateway.grpc_config import GrpcServerConfig
from trio_zeebe.grpc.framing import encode_message

from .support import (
    BLOCK,
    ECHO,
    STREAM,
    TOPOLOGY,
    Probe,
    RawClient,
    build_registry,
    headers_of,
    raw_connection,
)


def frames_of(data: bytes) -> list[Frame]:
    frames = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        frames.append(frame)
        data = data[9 + length :]
    return frames


def goaway_of(data: bytes) -> GoAwayFrame:
    goaways = [f for f in frames_of(data) if isinstance(f, GoAwayFrame)]
    assert goaways, f"no GOAWAY in {frames_of(data)}"
    return goaways[-1]


class Response:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.data = b""
        self.trailers: dict[bytes, bytes] = {}
        self.ended = False
        self.reset: int | None = None

    @property
    def status(self) -> bytes | None:
        return self.trailers.get(b"grpc-status", self.headers.get(b"grpc-status"))

    @property
    def message(self) -> bytes:
        return self.trailers.get(b"grpc-message", self.headers.get(b"grpc-message", b""))


async def responses(client: RawClient, *stream_ids: int, ack: bool = True) -> dict[int, Response]:
    """Read until every stream in ``stream_ids`` has ended (or was reset)."""
    got = {sid: Response() for sid in stream_ids}
    while not all(r.ended or r.reset is not None for r in got.values()):
        events = await client.events()
        if client.closed:
            raise AssertionError("connection closed")
        for event in events:
            r = got.get(getattr(event, "stream_id", -1))
            if r is None:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                r.headers = headers_of(event)
            elif isinstance(event, h2.events.DataReceived):
                r.data += event.data
                if ack:
                    client.h2.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
            elif isinstance(event, h2.events.TrailersReceived):
                r.trailers = headers_of(event)
            elif isinstance(event, h2.events.StreamEnded):
                r.ended = True
            elif isinstance(event, h2.events.StreamReset):
                r.reset = event.error_code
        await client.flush()
    return got


async def test_unary_call_frame_by_frame(probe: Probe) -> None:
    async with raw_connection(build_registry(probe)) as (client, _):
        sid = client.request(ECHO, encode_message(b"hi"))
        await client.flush()
        r = (await responses(client, sid))[sid]
    assert r.headers[b":status"] == b"200"
    assert r.headers[b"content-type"] == b"application/grpc"
    assert r.data == encode_message(b"hi")
    assert r.trailers[b"grpc-status"] == b"0"


async def test_bad_preface_is_answered_with_goaway_protocol_error(probe: Probe) -> None:
    async with raw_connection(build_registry(probe), start=False) as (client, conn):
        await client.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await client.raw_bytes_until_closed()
    assert goaway_of(data).error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    assert conn.closed.is_set()


async def test_oversized_frame_is_a_connection_error(probe: Probe) -> None:
    async with raw_connection(build_registry(probe)) as (client, _):
        await client.events()  # the server's SETTINGS
        # A DATA frame header announcing 20000 bytes (the default maximum is 16384).
        await client.send_raw(struct.pack(">I", 20000)[1:] + b"\x00\x00" + struct.pack(">I", 1))
        await client.send_raw(b"x" * 100)
        data = await client.raw_bytes_until_closed()
    assert goaway_of(data).error_code == h2.errors.ErrorCodes.FRAME_SIZE_ERROR


async def test_flow_control_violation_is_a_connection_error(probe: Probe) -> None:
    config = GrpcServerConfig(stream_window=1000)
    async with raw_connection(build_registry(probe), config) as (client, _):
        await client.events()  # SETTINGS (acknowledged by the client: the window applies)
        sid = client.request(ECHO, None, end=False)
        await client.flush()
        frame = DataFrame(sid, data=b"x" * 2000)  # twice the stream's window, past h2's checks
        await client.send_raw(frame.serialize())
        data = await client.raw_bytes_until_closed()
    assert goaway_of(data).error_code == h2.errors.ErrorCodes.FLOW_CONTROL_ERROR


async def test_ping_flood_gets_enhance_your_calm(probe: Probe, autojump_clock: object) -> None:
    async with raw_connection(build_registry(probe)) as (client, conn):
        await client.events()
        for i in range(2):
            client.h2.ping(b"%08d" % i)
            await client.flush()
            await client.until(h2.events.PingAckReceived)
        assert not conn.closed.is_set()
        await client.send_raw(PingFrame(0, opaque_data=b"third!!!").serialize())
        data = await client.raw_bytes_until_closed()
    goaway = goaway_of(data)
    assert goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    assert goaway.additional_data == b"too_many_pings"


async def test_pings_30s_apart_during_a_call_are_fine(probe: Probe, autojump_clock: object) -> None:
    async with raw_connection(build_registry(probe)) as (client, conn):
        client.request(BLOCK, encode_message(b""))
        await client.flush()
        await probe.entered.wait()
        for i in range(6):
            await trio.sleep(30)
            client.h2.ping(b"%08d" % i)
            await client.flush()
            await client.until(h2.events.PingAckReceived)
        assert not conn.closed.is_set()


async def test_stream_reset_cancels_the_blocked_handler(probe: Probe) -> None:
    async with raw_connection(build_registry(probe)) as (client, conn):
        sid = client.request(BLOCK, encode_message(b""))
        await client.flush()
        with trio.fail_after(5):
            await probe.entered.wait()
        assert probe.calls[0].deadline is None
        client.h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        await client.flush()
        with trio.fail_after(5):
            await probe.cancelled.wait()
            await probe.finished.wait()
        assert conn.active_calls == 0
        # The connection goes on serving.
        sid = client.request(ECHO, encode_message(b"after"))
        await client.flush()
        assert (await responses(client, sid))[sid].data == encode_message(b"after")


async def test_disconnect_cancels_handlers_at_once(probe: Probe) -> None:
    async with raw_connection(build_registry(probe)) as (client, conn):
        client.request(STREAM, encode_message(b"1:block"))
        await client.flush()
        with trio.fail_after(5):
            await probe.entered.wait()
        await client.stream.aclose()
        with trio.fail_after(5):
            await probe.cancelled.wait()
            await conn.closed.wait()


async def test_deadline_cancels_a_handler_and_answers_deadline_exceeded(
    probe: Probe, autojump_clock: object
) -> None:
    async with raw_connection(build_registry(probe)) as (client, _):
        sid = client.request(BLOCK, encode_message(b""), extra=[(b"grpc-timeout", b"2S")])
        await client.flush()
        start = trio.current_time()
        r = (await responses(client, sid))[sid]
    assert r.status == b"4"
    assert probe.cancelled.is_set()
    assert 2.0 <= trio.current_time() - start < 2.5


async def test_frame_left_half_sent_closes_after_the_frame_timeout(
    probe: Probe, autojump_clock: object
) -> None:
    config = GrpcServerConfig(frame_timeout=10, idle_timeout=600)
    async with raw_connection(build_registry(probe), config) as (client, conn):
        await client.events()
        start = trio.current_time()
        await client.send_raw(b"\x00\x00\x10\x00")  # 4 of a frame header's 9 bytes, then silence
        await conn.closed.wait()
        assert 10 <= trio.current_time() - start < 11


async def test_a_frame_trickled_byte_by_byte_still_times_out(
    probe: Probe, autojump_clock: object
) -> None:
    config = GrpcServerConfig(frame_timeout=10)
    async with raw_connection(build_registry(probe), config) as (client, conn):
        await client.events()
        start = trio.current_time()
        await client.send_raw(b"\x00\x00\x64\x06\x00\x00\x00\x00\x00")  # PING of 100 bytes
        with trio.move_on_after(60):
            while not conn.closed.is_set():
                await client.send_raw(b"x")
                await trio.sleep(3)
        assert 10 <= trio.current_time() - start < 14


async def test_no_preface_closes_after_the_handshake_timeout(
    probe: Probe, autojump_clock: object
) -> None:
    config = GrpcServerConfig(handshake_timeout=5)
    async with raw_connection(build_registry(probe), config, start=False) as (_, conn):
        start = trio.current_time()
        await conn.closed.wait()
        assert 5 <= trio.current_time() - start < 6


async def test_idle_connection_gets_goaway_after_the_idle_timeout(
    probe: Probe, autojump_clock: object
) -> None:
    config = GrpcServerConfig(idle_timeout=60)
    async with raw_connection(build_registry(probe), config) as (client, conn):
        sid = client.request(ECHO, encode_message(b"x"))
        await client.flush()
        await responses(client, sid)
        done = trio.current_time()
        data = await client.raw_bytes_until_closed()
        assert 60 <= trio.current_time() - done < 61
    assert goaway_of(data).error_code == h2.errors.ErrorCodes.NO_ERROR
    assert conn.closed.is_set()


async def test_a_long_call_is_not_idle(probe: Probe, autojump_clock: object) -> None:
    config = GrpcServerConfig(idle_timeout=60)
    async with raw_connection(build_registry(probe), config) as (client, conn):
        sid = client.request(BLOCK, encode_message(b""))
        await client.flush()
        await probe.entered.wait()
        await trio.sleep(300)
        assert not conn.closed.is_set()
        probe.release.set()
        assert (await responses(client, sid))[sid].data == encode_message(b"released")


async def test_many_streams_up_to_the_advertised_limit(probe: Probe) -> None:
    config = GrpcServerConfig(max_concurrent_streams=200)
    async with raw_connection(build_registry(probe), config) as (client, conn):
        await client.events()
        assert client.h2.remote_settings.max_concurrent_streams == 200
        sids = [client.request(BLOCK, encode_message(b"")) for _ in range(200)]
        await client.flush()
        await trio.testing.wait_all_tasks_blocked()
        assert len(probe.calls) == 200
        assert conn.active_calls == 200
        probe.release.set()
        got = await responses(client, *sids)
    assert all(r.data == encode_message(b"released") for r in got.values())


async def test_server_waits_for_the_clients_window_without_blocking_other_calls(
    probe: Probe,
) -> None:
    async with raw_connection(build_registry(probe)) as (client, _):
        client.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
        await client.flush()
        await client.until(h2.events.SettingsAcknowledged)
        big = client.request(ECHO, encode_message(b"b" * 5000))
        await client.flush()
        received = b""
        while len(received) < 1000:
            for event in await client.events():
                if isinstance(event, h2.events.DataReceived):
                    received += event.data
        small = client.request(ECHO, encode_message(b"small"))
        await client.flush()
        r = (await responses(client, small, ack=False))[small]
        assert r.data == encode_message(b"small")
        assert len(received) == 1000  # the big answer waits for a WINDOW_UPDATE
        client.h2.acknowledge_received_data(1000, big)
        await client.flush()
        rest = (await responses(client, big))[big]
    assert received + rest.data == encode_message(b"b" * 5000)
    assert rest.trailers[b"grpc-status"] == b"0"


@pytest.mark.parametrize(
    ("method", "content_type", "http"),
    [(b"GET", b"application/grpc", b"405"), (b"POST", b"application/json", b"415")],
)
async def test_http_level_errors(
    probe: Probe, method: bytes, content_type: bytes, http: bytes
) -> None:
    async with raw_connection(build_registry(probe)) as (client, _):
        sid = client.request(ECHO, None, method=method, content_type=content_type)
        await client.flush()
        r = (await responses(client, sid))[sid]
    assert r.headers[b":status"] == http
    assert r.headers[b"grpc-status"] == b"13"
    assert not probe.calls


async def test_unsupported_compression_malformed_requests_and_timeouts(probe: Probe) -> None:
    async with raw_connection(build_registry(probe)) as (client, _):
        gzip = client.request(ECHO, encode_message(b"x"), extra=[(b"grpc-encoding", b"gzip")])
        flagged = client.request(ECHO, b"\x01" + struct.pack(">I", 1) + b"x")
        garbage = client.request(TOPOLOGY, encode_message(b"\x0a\x05ab"))
        bad_timeout = client.request(ECHO, encode_message(b""), extra=[(b"grpc-timeout", b"1x")])
        two = client.request(ECHO, encode_message(b"a") + encode_message(b"b"))
        none = client.request(ECHO, None)
        huge = client.request(ECHO, struct.pack(">BI", 0, 5 * 1024 * 1024), end=False)
        await client.flush()
        got = await responses(client, gzip, flagged, garbage, bad_timeout, two, none, huge)
    assert got[gzip].status == b"12" and b"gzip" in got[gzip].message
    assert got[flagged].status == b"13" and b"compressed flag" in got[flagged].message
    assert got[garbage].status == b"3"
    assert b"gateway_protocol.TopologyRequest" in got[garbage].message
    assert got[bad_timeout].status == b"13" and b"grpc-timeout" in got[bad_timeout].message
    assert got[two].status == b"13" and b"Too many requests" in got[two].message
    assert got[none].status == b"13"
    assert got[huge].status == b"8" and b"4194304" in got[huge].message
    assert got[huge].reset == h2.errors.ErrorCodes.NO_ERROR or got[huge].ended


async def test_new_calls_after_shutdown_began_are_refused(probe: Probe) -> None:
    async with raw_connection(build_registry(probe)) as (client, conn):
        first = client.request(BLOCK, encode_message(b""))
        await client.flush()
        with trio.fail_after(5):
            await probe.entered.wait()
        conn.begin_shutdown()
        while not client.goaways:
            await client.events()
        assert client.goaways[0].last_stream_id == first
        assert client.goaways[0].error_code == h2.errors.ErrorCodes.NO_ERROR
        late = client.request(ECHO, encode_message(b"late"))
        await client.flush()
        assert (await responses(client, late))[late].reset == h2.errors.ErrorCodes.REFUSED_STREAM
        assert not probe.cancelled.is_set()
        probe.release.set()
        assert (await responses(client, first))[first].data == encode_message(b"released")
        with trio.fail_after(5):
            await conn.closed.wait()
