"""The vendored protocol files: faithful to Zeebe's, compilable, and safe to import anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from trio_zeebe.proto import gateway_pb2, health_pb2, regenerate, status_pb2, trio_zeebe_pb2

ORIGINAL = Path(__file__).parent / "data" / "zeebe-grpc-8.4.13-gateway.desc"


def original_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """What zeebe-grpc 8.4.13 embeds (extracted once from the sdist by regenerate.py's code)."""
    return descriptor_pb2.FileDescriptorProto.FromString(ORIGINAL.read_bytes())


def test_reprinted_gateway_proto_compiles_to_zeebes_descriptor() -> None:
    compiled = regenerate.compiled_descriptor("gateway.proto")
    assert regenerate.same_descriptor(compiled, original_descriptor())
    assert compiled.package == "gateway_protocol"
    assert [s.name for s in compiled.service] == ["Gateway"]


def test_printing_the_original_again_gives_the_committed_file() -> None:
    committed = (regenerate.HERE / "gateway.proto").read_text()
    assert regenerate.print_proto(original_descriptor(), regenerate.HEADER) == committed


def test_committed_module_embeds_the_compiled_descriptor() -> None:
    embedded = descriptor_pb2.FileDescriptorProto.FromString(gateway_pb2.DESCRIPTOR.serialized_pb)
    assert regenerate.same_descriptor(embedded, original_descriptor())


def test_printer_round_trips_maps_optionals_oneofs_nested_types_and_streams(
    tmp_path: Path,
) -> None:
    source = """
syntax = "proto3";
package demo.v1;
option java_package = "org.example.demo";
message Outer {
  message Inner { int32 a = 1; }
  enum Mode { MODE_A = 0; MODE_B = 1 [deprecated = true]; }
  map<string, Inner> inners = 1;
  optional string label = 2;
  oneof choice { Inner one = 3; bytes raw = 4; }
  repeated Mode modes = 5 [packed = false];
  reserved 9, 11 to 13;
  reserved "old";
  sint64 s = 6;
  fixed32 f = 7;
  Outer.Inner again = 8;
}
enum Top { TOP_ZERO = 0; }
service Demo {
  rpc Unary (Outer) returns (Outer.Inner);
  rpc Down (Outer) returns (stream Outer) { option deprecated = true; }
  rpc Up (stream Outer) returns (Outer) {}
}
"""
    original = _compile(tmp_path, "demo.proto", source)
    printed = regenerate.print_proto(original)
    again = _compile(tmp_path, "again.proto", printed)
    assert regenerate.same_descriptor(original, again), printed
    assert "map<string, Outer.Inner> inners = 1;" in printed
    assert "optional string label = 2;" in printed
    assert "rpc Down (Outer) returns (stream Outer) {" in printed


def test_printer_refuses_what_it_cannot_print() -> None:
    fdp = descriptor_pb2.FileDescriptorProto(name="x.proto", syntax="proto2")
    with pytest.raises(regenerate.UnsupportedDescriptor, match="proto3"):
        regenerate.print_proto(fdp)


def _compile(directory: Path, name: str, source: str) -> descriptor_pb2.FileDescriptorProto:
    (directory / name).write_text(source)
    out = directory / (name + ".pb")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{directory}",
            f"--descriptor_set_out={out}",
            name,
        ],
        check=True,
    )
    fdp = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in fdp.message_type:  # the Python generator's view: no json_name
        _strip_json_names(message)
    return fdp


def _strip_json_names(message: descriptor_pb2.DescriptorProto) -> None:
    for field in message.field:
        field.ClearField("json_name")
    for nested in message.nested_type:
        _strip_json_names(nested)


def test_descriptor_is_read_from_generated_source_without_running_it() -> None:
    source = (
        "import os\nos.exit(1)\n"
        f"DESCRIPTOR = pool.AddSerializedFile({original_descriptor().SerializeToString()!r})\n"
    )
    assert regenerate.descriptor_from_pb2_source(source) == original_descriptor()


def test_generated_modules_use_the_private_pool_and_coexist_with_other_builds() -> None:
    # Another build of the same protocol (as zeebe_grpc registers it) in the default pool:
    # with our modules in a pool of their own, both load.
    other = original_descriptor()
    other.name = "zeebe_grpc/gateway.proto"
    try:
        descriptor_pool.Default().AddSerializedFile(other.SerializeToString())
    except TypeError as exc:  # already there from an earlier run in this process
        assert "duplicate" in str(exc) or "already" in str(exc)
    theirs = descriptor_pool.Default().FindMessageTypeByName("gateway_protocol.TopologyResponse")
    ours = gateway_pb2.TopologyResponse.DESCRIPTOR
    assert ours.file.pool is not descriptor_pool.Default()
    assert theirs.full_name == ours.full_name


def test_our_messages_are_wire_compatible_with_grpcs_own_builds() -> None:
    from grpc_health.v1 import health_pb2 as grpc_health

    ours = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)
    theirs = grpc_health.HealthCheckResponse.FromString(ours.SerializeToString())
    assert theirs.status == grpc_health.HealthCheckResponse.NOT_SERVING
    status = status_pb2.Status(code=8, message="busy")
    status.details.add().Pack(trio_zeebe_pb2.CreateJobResponse(key=42))
    back = status_pb2.Status.FromString(status.SerializeToString())
    unpacked = trio_zeebe_pb2.CreateJobResponse()
    assert back.details[0].Unpack(unpacked) and unpacked.key == 42
    assert back.details[0].type_url.endswith("/trio_zeebe.v1.CreateJobResponse")


def test_proto_and_grpc_packages_import_neither_trio_nor_anyio() -> None:
    code = (
        "import sys\n"
        "import trio_zeebe.proto.gateway_pb2, trio_zeebe.proto.trio_zeebe_pb2\n"
        "import trio_zeebe.proto.health_pb2, trio_zeebe.proto.status_pb2\n"
        "import trio_zeebe.grpc.status, trio_zeebe.grpc.framing, trio_zeebe.grpc.metadata\n"
        "import trio_zeebe.grpc.h2frames\n"
        "bad = [m for m in ('trio', 'anyio') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "import trio_zeebe.grpc.channel\n"
        "assert 'trio' not in sys.modules, 'the channel imports trio'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=regenerate.ROOT)
