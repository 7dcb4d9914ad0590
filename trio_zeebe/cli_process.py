"""Process commands with zbctl's names and flags: ``deploy``, ``create instance``, ``cancel
instance``, ``publish message``, ``evaluate decision``, ``set variables``, ``resolve
incident``.

Each command sends one request through :class:`~trio_zeebe.client.Client` to a gateway and
prints the gateway's answer as zbctl does: ``deploy``, ``create``, ``publish`` and ``evaluate``
print the response message as JSON (protobuf's JSON mapping: camelCase fields, 64-bit keys as
strings, empty fields included); ``cancel``, ``set`` and ``resolve`` print one line, or the
response message with ``-o json``. zbctl's camelCase flags (``--correlationKey``,
``--withResult``, ``--resourceNames``, ``--messageId``) are accepted beside the dashed ones.

Errors are one line on stderr: exit 2 for bad arguments (a ``--variables`` that is not a JSON
object names the flag; a file that cannot be read names the file), exit 1 with the gRPC status
and message when the gateway refused the request.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToJson
from google.protobuf.message import Message

from .cli_job import UsageError, duration, json_object, run_request
from .proto import gateway_pb2 as gw

DEFAULT_TENANT = "<default>"  # the one tenant the broker has (Zeebe's name for it)
DEFAULT_TTL = "5s"  # zbctl's default time to live of a published message

VARIABLES_HELP = "variables as a JSON object, or the path of a file holding one (default {})"


def add_process_parsers(
    sub: Any,
    add_client_arguments: Callable[..., None],
    client_settings: Callable[[argparse.Namespace], dict[str, object]],
    add_output_arguments: Callable[[argparse.ArgumentParser], None],
) -> None:
    def command(p: argparse.ArgumentParser, name: str, output: bool = False) -> None:
        add_client_arguments(p)
        if output:
            add_output_arguments(p)
        p.set_defaults(
            handler=lambda args: run_request(
                name, args, client_settings, _CALLS[name], lambda r: _render(name, args, r)
            )
        )

    deploy = sub.add_parser(
        "deploy",
        help="deploy BPMN processes and DMN decisions; prints the deployment as JSON",
        description="Deploy resources (zbctl deploy [resource] FILE...): prints the "
        "processes, decisions and decision graphs with their keys and versions.",
    )
    deploy.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="BPMN (.bpmn) and DMN (.dmn) files, deployed together in one deployment "
        "(a leading word 'resource', zbctl's spelling, is skipped)",
    )
    deploy.add_argument(
        "--resource-names",
        "--resourceNames",
        dest="resource_names",
        default="",
        metavar="NAMES",
        help="comma-separated resource names, matched to the files by position "
        "(default: each file's name)",
    )
    command(deploy, "deploy")

    create = _noun(sub, "create", "instance", "start a process instance; prints it as JSON")
    create.add_argument(
        "process",
        metavar="PROCESS",
        help="the BPMN process id (latest version, or --version), or a process "
        "definition key (digits)",
    )
    create.add_argument(
        "--version",
        type=int,
        default=-1,
        metavar="N",
        help="the process definition's version (default -1: the latest)",
    )
    create.add_argument("--variables", default="{}", metavar="JSON", help=VARIABLES_HELP)
    create.add_argument(
        "--with-result",
        "--withResult",
        dest="with_result",
        nargs="?",
        const="",
        default=None,
        metavar="NAMES",
        help="wait until the instance completes (at most --requestTimeout) and print its "
        "variables; optionally only these comma-separated ones",
    )
    command(create, "create instance")

    cancel = _noun(sub, "cancel", "instance", "cancel a running process instance")
    cancel.add_argument("key", type=int, help="the process instance's key")
    command(cancel, "cancel instance", output=True)

    publish = _noun(sub, "publish", "message", "publish a message; prints its key as JSON")
    publish.add_argument("name", help="the message's name")
    publish.add_argument(
        "--correlation-key",
        "--correlationKey",
        dest="correlation_key",
        default="",
        metavar="KEY",
        help="the correlation key a subscription must have to get the message",
    )
    publish.add_argument("--variables", default="{}", metavar="JSON", help=VARIABLES_HELP)
    publish.add_argument(
        "--ttl",
        default=DEFAULT_TTL,
        metavar="DURATION",
        help=f"how long the message waits for a subscription, e.g. 300ms, 50s, 1m "
        f"(default {DEFAULT_TTL}; 0: only subscriptions open now)",
    )
    publish.add_argument(
        "--message-id",
        "--messageId",
        dest="message_id",
        default="",
        metavar="ID",
        help="a unique id: a second message with it is refused while the first is buffered",
    )
    command(publish, "publish message")

    evaluate = _noun(
        sub, "evaluate", "decision", "evaluate a DMN decision; prints the evaluation as JSON"
    )
    evaluate.add_argument(
        "decision",
        metavar="DECISION",
        help="the decision id (its latest version), or a decision key (digits)",
    )
    evaluate.add_argument("--variables", default="{}", metavar="JSON", help=VARIABLES_HELP)
    command(evaluate, "evaluate decision")

    variables = _noun(sub, "set", "variables", "set variables on an element instance's scope")
    variables.add_argument(
        "key", type=int, help="the element instance's key (a process instance key: its root)"
    )
    variables.add_argument(
        "--variables", required=True, metavar="JSON", help="the variables, a JSON object"
    )
    variables.add_argument(
        "--local",
        action="store_true",
        help="set them on this scope only (default: each goes to the nearest scope that "
        "has it, else the root)",
    )
    command(variables, "set variables", output=True)

    incident = _noun(sub, "resolve", "incident", "mark an incident resolved (retry its element)")
    incident.add_argument("key", type=int, help="the incident's key")
    command(incident, "resolve incident", output=True)


def _noun(sub: Any, verb: str, noun: str, help_text: str) -> argparse.ArgumentParser:
    """``VERB NOUN``, zbctl's two-word commands (``create instance``)."""
    parser = sub.add_parser(verb, help=f"{noun}: {help_text}")
    nouns = parser.add_subparsers(dest="noun", metavar="RESOURCE", required=True)
    result: argparse.ArgumentParser = nouns.add_parser(noun, help=help_text)
    return result


# --- the calls, arguments checked (UsageError: exit 2) ------------------------------------


def _deploy(args: argparse.Namespace) -> Callable[[Any], Any]:
    files: Sequence[str] = args.files
    if files and files[0] == "resource" and not Path(files[0]).exists():
        files = files[1:]
    if not files:
        raise UsageError("give at least one BPMN or DMN file")
    names = [n.strip() for n in args.resource_names.split(",")] if args.resource_names else []
    if len(names) > len(files):
        raise UsageError(f"--resource-names: {len(names)} names for {len(files)} files")
    resources = []
    for i, file in enumerate(files):
        try:
            content = Path(file).read_bytes()
        except OSError as exc:
            raise UsageError(f"{file}: {exc.strerror or exc}") from None
        name = names[i] if i < len(names) and names[i] else Path(file).name
        resources.append((name, content))
    return lambda c: c.deploy_resources(*resources)


def _create(args: argparse.Namespace) -> Callable[[Any], Any]:
    process_id, key = _id_or_key(args.process, "PROCESS")
    variables = variables_arg(args.variables, "--variables")
    if args.with_result is None:
        return lambda c: c.create_process_instance(
            process_id, key=key, version=args.version, variables=variables
        )
    names = [n.strip() for n in args.with_result.split(",") if n.strip()]
    return lambda c: c.create_process_instance_with_result(
        process_id,
        key=key,
        version=args.version,
        variables=variables,
        fetch_variables=names,
        request_timeout=c.request_timeout,
    )


def _cancel(args: argparse.Namespace) -> Callable[[Any], Any]:
    return lambda c: c.cancel_process_instance(args.key)


def _publish(args: argparse.Namespace) -> Callable[[Any], Any]:
    if not args.name.strip():
        raise UsageError("the message name must not be empty")
    variables = variables_arg(args.variables, "--variables")
    ttl = duration(args.ttl, "--ttl")
    if ttl < 0:
        raise UsageError("--ttl must not be negative")
    return lambda c: c.publish_message(
        args.name,
        args.correlation_key,
        variables=variables,
        time_to_live=ttl,
        message_id=args.message_id,
    )


def _evaluate(args: argparse.Namespace) -> Callable[[Any], Any]:
    decision_id, key = _id_or_key(args.decision, "DECISION")
    variables = variables_arg(args.variables, "--variables")
    return lambda c: c.evaluate_decision(decision_id, key=key, variables=variables)


def _set_variables(args: argparse.Namespace) -> Callable[[Any], Any]:
    variables = variables_arg(args.variables, "--variables")
    return lambda c: c.set_variables(args.key, variables, local=args.local)


def _resolve(args: argparse.Namespace) -> Callable[[Any], Any]:
    return lambda c: c.resolve_incident(args.key)


_CALLS: dict[str, Callable[[argparse.Namespace], Callable[[Any], Any]]] = {
    "deploy": _deploy,
    "create instance": _create,
    "cancel instance": _cancel,
    "publish message": _publish,
    "evaluate decision": _evaluate,
    "set variables": _set_variables,
    "resolve incident": _resolve,
}


def _id_or_key(text: str, what: str) -> tuple[str | None, int | None]:
    """zbctl's rule: digits are a key, anything else an id."""
    text = text.strip()
    if not text:
        raise UsageError(f"{what} must not be empty")
    if text.isdigit():
        return None, int(text)
    return text, None


def variables_arg(text: str, flag: str) -> dict[str, Any]:
    """A JSON object given inline, or (as zbctl's publish allows) the path of a file with one."""
    stripped = text.strip()
    if stripped and not stripped.startswith("{"):
        path = Path(stripped)
        if path.is_file():
            try:
                content = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"{flag}: cannot read {path}: {exc}") from None
            return json_object(content, f"{flag} {path}")
    return json_object(text, flag)


# --- output -----------------------------------------------------------------------------


def message_json(message: Message) -> str:
    """zbctl's JSON of a response message: protobuf's JSON mapping, empty fields included."""
    return MessageToJson(message, indent=2, always_print_fields_with_no_presence=True)


def _render(name: str, args: argparse.Namespace, result: Any) -> str:
    if name == "publish message":
        return message_json(gw.PublishMessageResponse(key=result, tenantId=DEFAULT_TENANT))
    if name == "cancel instance":
        if getattr(args, "json", False):
            return message_json(gw.CancelProcessInstanceResponse())
        return f"Canceled process instance with key '{args.key}'"
    if name == "set variables":
        if getattr(args, "json", False):
            return message_json(gw.SetVariablesResponse(key=result))
        return f"Set the variables of element instance '{args.key}' (update {result})"
    if name == "resolve incident":
        if getattr(args, "json", False):
            return message_json(gw.ResolveIncidentResponse())
        return f"Resolved an incident with key '{args.key}'"
    message: Message = result.to_message()  # deploy, create, evaluate
    return message_json(message)


__all__ = ["add_process_parsers", "message_json", "variables_arg"]
