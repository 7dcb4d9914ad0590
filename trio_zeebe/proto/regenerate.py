"""Regenerates the vendored protocol files (``nox -s proto``, or run this module with -m).

1. Zeebe's ``gateway.proto`` is not shipped as source in any Python package, but the published
   Python build of Zeebe 8.4's gateway protocol, ``zeebe-grpc==8.4.13`` on PyPI, embeds its
   serialized ``FileDescriptorProto``. The pinned sdist is downloaded, the descriptor bytes are
   read out of ``zeebe_grpc/gateway_pb2.py`` *without executing it* (``ast``), and printed back
   as ``.proto`` source into ``gateway.proto`` (:func:`print_proto`).
2. ``python -m grpc_tools.protoc`` compiles every ``.proto`` here into ``*_pb2.py`` and
   ``*_pb2.pyi`` (needs grpcio-tools; the generated modules are committed, so using the package
   does not).
3. The generated modules are pointed at the project's own descriptor pool
   (:mod:`trio_zeebe.proto.pool`) instead of protobuf's default one, so they coexist with other
   builds of the same protocols in one process (``zeebe_grpc``, ``grpcio-health-checking``,
   ``googleapis-common-protos``).
4. The reprinted ``gateway.proto`` is checked: its compiled descriptor must equal the original.

This module only runs as a script; nothing imports it at run time.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from google.protobuf import descriptor_pb2, unknown_fields
from google.protobuf.message import Message

ZEEBE_GRPC = "zeebe-grpc==8.4.13"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROTOS = ("gateway.proto", "health.proto", "status.proto", "trio_zeebe.proto")

HEADER = """\
// Zeebe's gateway protocol (package gateway_protocol, service Gateway), version 8.4.
//
// Origin: the descriptor embedded in zeebe_grpc/gateway_pb2.py of the PyPI package
// zeebe-grpc 8.4.13 (the published Python build of Zeebe 8.4's gateway.proto), printed back
// as .proto source by trio_zeebe/proto/regenerate.py. The published descriptor carries no
// comments; Zeebe's documentation of every RPC is in its gateway.proto and the Zeebe API docs.
//
// Copyright Camunda Services GmbH and contributors. Licensed under the Apache License,
// Version 2.0 (see LICENSE-gateway-proto beside this file). Do not edit: regenerate.
"""

FDP = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    FDP.TYPE_DOUBLE: "double",
    FDP.TYPE_FLOAT: "float",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_UINT64: "uint64",
    FDP.TYPE_INT32: "int32",
    FDP.TYPE_FIXED64: "fixed64",
    FDP.TYPE_FIXED32: "fixed32",
    FDP.TYPE_BOOL: "bool",
    FDP.TYPE_STRING: "string",
    FDP.TYPE_BYTES: "bytes",
    FDP.TYPE_UINT32: "uint32",
    FDP.TYPE_SFIXED32: "sfixed32",
    FDP.TYPE_SFIXED64: "sfixed64",
    FDP.TYPE_SINT32: "sint32",
    FDP.TYPE_SINT64: "sint64",
}


class UnsupportedDescriptor(Exception):
    """The descriptor uses a feature this printer does not print (it never guesses)."""


# ---- descriptor -> .proto text ---------------------------------------------------------


def print_proto(fdp: descriptor_pb2.FileDescriptorProto, header: str = "") -> str:
    """The ``.proto`` source whose compiled descriptor equals ``fdp`` (comments aside)."""
    if fdp.syntax not in ("proto3",):
        raise UnsupportedDescriptor(f"syntax {fdp.syntax!r}: only proto3 is printed")
    if fdp.extension:
        raise UnsupportedDescriptor("file-level extensions")
    out: list[str] = [header] if header else []
    out.append(f'syntax = "{fdp.syntax}";\n')
    if fdp.package:
        out.append(f"package {fdp.package};\n")
    for dep in fdp.dependency:
        out.append(f'import "{dep}";')
    if fdp.dependency:
        out.append("")
    opts = _options(fdp.options) if fdp.HasField("options") else []
    out.extend(f"option {o};" for o in opts)
    if opts:
        out.append("")
    names = _Names(fdp)
    for msg in fdp.message_type:
        out.extend(_message(msg, names, f".{fdp.package}" if fdp.package else "", 0))
        out.append("")
    for enum in fdp.enum_type:
        out.extend(_enum(enum, 0))
        out.append("")
    for svc in fdp.service:
        out.extend(_service(svc, names))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


class _Names:
    """Prints type references package-relative where that cannot resolve to another type."""

    def __init__(self, fdp: descriptor_pb2.FileDescriptorProto) -> None:
        self.prefix = f".{fdp.package}." if fdp.package else "."
        self.nested: set[str] = set()

        def walk(msg: descriptor_pb2.DescriptorProto) -> None:
            for sub in msg.nested_type:
                self.nested.add(sub.name)
                walk(sub)
            for enum in msg.enum_type:
                self.nested.add(enum.name)

        for msg in fdp.message_type:
            walk(msg)

    def ref(self, type_name: str) -> str:
        if type_name.startswith(self.prefix):
            relative = type_name[len(self.prefix) :]
            # a nested type of the same name as the first component would shadow it
            if relative.split(".")[0] not in self.nested:
                return relative
        return type_name


def _message(
    msg: descriptor_pb2.DescriptorProto, names: _Names, scope: str, depth: int
) -> list[str]:
    pad = "  " * depth
    if msg.extension or msg.extension_range:
        raise UnsupportedDescriptor(f"extensions in message {msg.name}")
    lines = [f"{pad}message {msg.name} {{"]
    inner = pad + "  "
    if msg.HasField("options"):
        opts = _options(msg.options, skip=("map_entry",))
        lines.extend(f"{inner}option {o};" for o in opts)
    maps = {
        f"{scope}.{msg.name}.{sub.name}": sub for sub in msg.nested_type if sub.options.map_entry
    }
    for sub in msg.nested_type:
        if not sub.options.map_entry:
            lines.extend(_message(sub, names, f"{scope}.{msg.name}", depth + 1))
    for enum in msg.enum_type:
        lines.extend(_enum(enum, depth + 1))
    printed_oneofs: set[int] = set()
    for field in msg.field:
        real_oneof = field.HasField("oneof_index") and not field.proto3_optional
        if not real_oneof:
            lines.append(f"{inner}{_field(field, names, maps)}")
            continue
        index = field.oneof_index
        if index in printed_oneofs:
            continue
        printed_oneofs.add(index)
        oneof = msg.oneof_decl[index]
        lines.append(f"{inner}oneof {oneof.name} {{")
        if oneof.HasField("options"):
            lines.extend(f"{inner}  option {o};" for o in _options(oneof.options))
        for member in msg.field:
            if member.HasField("oneof_index") and member.oneof_index == index:
                lines.append(f"{inner}  {_field(member, names, maps)}")
        lines.append(f"{inner}}}")
    for reserved in msg.reserved_range:
        end = reserved.end - 1  # the descriptor's end is exclusive
        to = f" to {end}" if end > reserved.start else ""
        lines.append(f"{inner}reserved {reserved.start}{to};")
    if msg.reserved_name:
        lines.append(f"{inner}reserved " + ", ".join(_quote(n) for n in msg.reserved_name) + ";")
    lines.append(f"{pad}}}")
    return lines


def _field(
    field: descriptor_pb2.FieldDescriptorProto,
    names: _Names,
    maps: dict[str, descriptor_pb2.DescriptorProto],
) -> str:
    if field.type == FDP.TYPE_GROUP:
        raise UnsupportedDescriptor(f"group field {field.name}")
    if field.label == FDP.LABEL_REQUIRED:
        raise UnsupportedDescriptor(f"required field {field.name}")
    if field.HasField("default_value"):
        raise UnsupportedDescriptor(f"default value on field {field.name}")
    entry = maps.get(field.type_name) if field.label == FDP.LABEL_REPEATED else None
    if entry is not None:
        key, value = entry.field[0], entry.field[1]
        kind = f"map<{_type(key, names)}, {_type(value, names)}>"
    else:
        label = ""
        if field.label == FDP.LABEL_REPEATED:
            label = "repeated "
        elif field.proto3_optional:
            label = "optional "
        kind = label + _type(field, names)
    opts = _options(field.options) if field.HasField("options") else []
    if field.HasField("json_name"):
        opts.append(f"json_name = {_quote(field.json_name)}")
    suffix = f" [{', '.join(opts)}]" if opts else ""
    return f"{kind} {field.name} = {field.number}{suffix};"


def _type(field: descriptor_pb2.FieldDescriptorProto, names: _Names) -> str:
    if field.type in (FDP.TYPE_MESSAGE, FDP.TYPE_ENUM):
        return names.ref(field.type_name)
    return _SCALARS[field.type]


def _enum(enum: descriptor_pb2.EnumDescriptorProto, depth: int) -> list[str]:
    pad = "  " * depth
    lines = [f"{pad}enum {enum.name} {{"]
    if enum.HasField("options"):
        lines.extend(f"{pad}  option {o};" for o in _options(enum.options))
    for value in enum.value:
        opts = _options(value.options) if value.HasField("options") else []
        suffix = f" [{', '.join(opts)}]" if opts else ""
        lines.append(f"{pad}  {value.name} = {value.number}{suffix};")
    if enum.reserved_range or enum.reserved_name:
        raise UnsupportedDescriptor(f"reserved values in enum {enum.name}")
    lines.append(f"{pad}}}")
    return lines


def _service(svc: descriptor_pb2.ServiceDescriptorProto, names: _Names) -> list[str]:
    lines = [f"service {svc.name} {{"]
    if svc.HasField("options"):
        lines.extend(f"  option {o};" for o in _options(svc.options))
    for rpc in svc.method:
        req = ("stream " if rpc.client_streaming else "") + names.ref(rpc.input_type)
        resp = ("stream " if rpc.server_streaming else "") + names.ref(rpc.output_type)
        head = f"  rpc {rpc.name} ({req}) returns ({resp})"
        if rpc.HasField("options"):
            # An options message that is present but empty comes from a `{ }` body.
            lines.append(head + " {")
            lines.extend(f"    option {o};" for o in _options(rpc.options))
            lines.append("  }")
        else:
            lines.append(head + ";")
    lines.append("}")
    return lines


def _options(options: Message, skip: Iterable[str] = ()) -> list[str]:
    """``name = value`` for each set field of an options message (standard options only)."""
    if len(unknown_fields.UnknownFieldSet(options)):
        raise UnsupportedDescriptor(f"custom (unknown) options in {type(options).__name__}")
    printed: list[str] = []
    for fd, value in options.ListFields():
        if fd.name in skip:
            continue
        if fd.is_extension or fd.is_repeated:
            raise UnsupportedDescriptor(f"option {fd.full_name}")
        if fd.type == FDP.TYPE_BOOL:
            text = "true" if value else "false"
        elif fd.type == FDP.TYPE_STRING:
            text = _quote(value)
        elif fd.type == FDP.TYPE_ENUM:
            assert fd.enum_type is not None
            text = fd.enum_type.values_by_number[value].name
        elif fd.type in _SCALARS:
            text = str(value)
        else:
            raise UnsupportedDescriptor(f"option {fd.full_name} of a message type")
        printed.append(f"{fd.name} = {text}")
    return printed


def _quote(text: str) -> str:
    escaped = []
    for ch in text:
        if ch in ('"', "\\"):
            escaped.append("\\" + ch)
        elif 0x20 <= ord(ch) < 0x7F:
            escaped.append(ch)
        else:
            escaped.extend(f"\\x{b:02x}" for b in ch.encode())
    return '"' + "".join(escaped) + '"'


# ---- obtaining the original descriptor -------------------------------------------------


def descriptor_from_pb2_source(source: str) -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto a generated ``_pb2.py`` registers, read without running it."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, bytes)
        ):
            return descriptor_pb2.FileDescriptorProto.FromString(node.args[0].value)
    raise ValueError("no AddSerializedFile(b'...') call in the generated module")


def download_zeebe_descriptor(workdir: Path) -> descriptor_pb2.FileDescriptorProto:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(workdir),
            ZEEBE_GRPC,
        ],
        check=True,
    )
    (sdist,) = workdir.glob("zeebe_grpc-*.tar.gz")
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.name.endswith("zeebe_grpc/gateway_pb2.py"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                return descriptor_from_pb2_source(extracted.read().decode())
    raise ValueError(f"{sdist.name} has no zeebe_grpc/gateway_pb2.py")


# ---- compiling ------------------------------------------------------------------------


def compile_protos(out_dir: Path, protos: Iterable[str], *, pyi: bool = True) -> None:
    """protoc with the repository root as include path, so modules are ``trio_zeebe.proto.*``."""
    args = [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--python_out={out_dir}"]
    if pyi:
        args.append(f"--pyi_out={out_dir}")
    args.extend(f"trio_zeebe/proto/{name}" for name in protos)
    subprocess.run(args, check=True, cwd=ROOT)


def compiled_descriptor(proto: str) -> descriptor_pb2.FileDescriptorProto:
    """What protoc's Python generator embeds for one of the package's protos.

    Compared with what the Python generator embedded in zeebe-grpc: a descriptor set would
    also carry ``json_name``, which the Python generator leaves out.
    """
    with tempfile.TemporaryDirectory() as tmp:
        compile_protos(Path(tmp), [proto], pyi=False)
        module = Path(tmp) / "trio_zeebe" / "proto" / proto.replace(".proto", "_pb2.py")
        return descriptor_from_pb2_source(module.read_text())


def same_descriptor(
    a: descriptor_pb2.FileDescriptorProto, b: descriptor_pb2.FileDescriptorProto
) -> bool:
    """Equal apart from the file name (which is where the file lives, not what it says)."""
    a, b = _copy(a), _copy(b)
    a.ClearField("name")
    b.ClearField("name")
    a.ClearField("source_code_info")
    b.ClearField("source_code_info")
    return a == b


def _copy(fdp: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    clone = descriptor_pb2.FileDescriptorProto()
    clone.CopyFrom(fdp)
    return clone


_POOL_IMPORT = "from google.protobuf import descriptor_pool as _descriptor_pool\n"
_DEFAULT_POOL = "_descriptor_pool.Default()"


def use_private_pool(path: Path) -> None:
    """Point a generated module at :data:`trio_zeebe.proto.pool.POOL`."""
    text = path.read_text()
    if text.count(_POOL_IMPORT) != 1 or text.count(_DEFAULT_POOL) != 1:
        raise ValueError(f"{path.name}: unexpected generated code (descriptor pool use changed)")
    text = text.replace(_POOL_IMPORT, "from trio_zeebe.proto.pool import POOL as _POOL\n")
    text = text.replace(_DEFAULT_POOL, "_POOL")
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-download",
        action="store_true",
        help="keep gateway.proto as it is and only recompile",
    )
    args = parser.parse_args(argv)
    gateway = HERE / "gateway.proto"
    original = None
    if not args.skip_download:
        with tempfile.TemporaryDirectory() as tmp:
            original = download_zeebe_descriptor(Path(tmp))
        gateway.write_text(print_proto(original, HEADER))
    compile_protos(ROOT, PROTOS)
    for name in PROTOS:
        use_private_pool(HERE / name.replace(".proto", "_pb2.py"))
    if original is not None and not same_descriptor(compiled_descriptor("gateway.proto"), original):
        print("gateway.proto does not compile back to the original descriptor", file=sys.stderr)
        return 1
    print(f"regenerated {', '.join(PROTOS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
