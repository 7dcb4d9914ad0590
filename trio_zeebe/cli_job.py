"""``python -m trio_zeebe job create|activate|complete|fail``: job commands from the shell.

Each command sends one request to a gateway (any broker) and prints the result, as text or with
``--json`` as one JSON object. Errors are one line on stderr; exit 1 when the request failed,
2 for bad usage (malformed JSON, durations, addresses, certificate files, no gateway reachable).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from .codec import converter
from .config import parse_duration
from .engine.records import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    FailJob,
    Job,
    JobKey,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
PARTITION_SHIFT = 51
ACTIVATE_GRACE = 5.0  # the client waits this much longer than the long poll itself


class UsageError(ValueError):
    pass


def add_job_parser(
    sub: Any,
    add_client_arguments: Callable[..., None],
    client_settings: Callable[[argparse.Namespace], dict[str, object]],
) -> None:
    job = sub.add_parser("job", help="create, activate, complete or fail jobs")
    actions = job.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a job; prints its key")
    create.add_argument("type", help="job type")
    create.add_argument("--retries", type=int, default=3)
    create.add_argument("--variables", default="{}", help="JSON object")
    create.add_argument("--headers", default="{}", help="custom headers, JSON object of strings")

    activate = actions.add_parser("activate", help="activate jobs (long-polls until one exists)")
    activate.add_argument("type", help="job type")
    activate.add_argument("--worker", required=True, help="worker name the jobs are leased to")
    activate.add_argument("--max-jobs", type=int, default=1)
    activate.add_argument("--timeout", default="5m", help="job lease, e.g. 30s or 5m")
    activate.add_argument(
        "--request-timeout", default="10s", help="how long to wait for a job (long poll)"
    )
    activate.add_argument(
        "--fetch-variable", action="append", default=[], help="only these variables (repeatable)"
    )

    complete = actions.add_parser("complete", help="complete a job")
    complete.add_argument("key", type=int)
    complete.add_argument("--variables", default="{}", help="JSON object")

    fail = actions.add_parser("fail", help="fail a job (retries 0 raises an incident)")
    fail.add_argument("key", type=int)
    fail.add_argument("--retries", type=int, required=True, help="the job's new retry count")
    fail.add_argument("--message", default="", help="error message")
    fail.add_argument("--backoff", default="0s", help="wait before the job is activatable again")
    fail.add_argument("--variables", default="{}", help="JSON object")

    for p in (create, activate, complete, fail):
        # ``activate`` has its own --timeout (the lease): its client timeout follows the poll.
        add_client_arguments(p, request_timeout=p is not activate)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=lambda args: _cmd_job(args, client_settings))


def _cmd_job(
    args: argparse.Namespace,
    client_settings: Callable[[argparse.Namespace], dict[str, object]],
) -> int:
    import anyio

    from .client import Client, ClientError

    name = f"job {args.action}"
    try:
        request, client_timeout = _request(args)
        settings = client_settings(args)
        if client_timeout is not None:
            settings["request_timeout"] = client_timeout
        client = Client(**settings)  # type: ignore[arg-type]
    except (UsageError, ValueError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def send() -> Any:
        async with client:
            return await client.request(request)

    try:
        result = anyio.run(send)
    except ClientError as exc:
        text, code = _one_line(str(exc)), str(exc.code)
        if not text.startswith(code):  # say the error kind, whichever exception carries it
            text = f"{code}: {text}"
        print(f"{name}: {text}", file=sys.stderr)
        return client_exit_code(exc)
    print(_render(args, result))
    return EXIT_OK


def client_exit_code(exc: Exception) -> int:
    """2 when no gateway could be talked to at all (the address or TLS setting is wrong, or
    nothing runs there), else 1."""
    from .client_errors import GatewayUnreachable

    return EXIT_USAGE if isinstance(exc, GatewayUnreachable) else EXIT_FAILURE


def _request(args: argparse.Namespace) -> tuple[Any, float | None]:
    """The engine record (or activation request) to send, and the client timeout if special."""
    from .gateway.messages import ActivateJobsRequest

    if args.action == "create":
        return (
            CreateJob(
                args.type,
                args.retries,
                _json_object(args.variables, "--variables"),
                _headers(args.headers),
            ),
            None,
        )
    if args.action == "activate":
        if args.max_jobs < 1:
            raise UsageError("--max-jobs must be at least 1")
        lease = _duration(args.timeout, "--timeout")
        if lease <= 0:
            raise UsageError("--timeout must be greater than 0")
        poll = _duration(args.request_timeout, "--request-timeout")
        command = ActivateJobs(
            args.type, args.worker, args.max_jobs, lease, tuple(args.fetch_variable)
        )
        return ActivateJobsRequest(command, poll), poll + ACTIVATE_GRACE
    if args.action == "complete":
        return CompleteJob(args.key, _json_object(args.variables, "--variables")), None
    if args.action == "fail":
        return (
            FailJob(
                args.key,
                args.retries,
                args.message,
                _duration(args.backoff, "--backoff"),
                _json_object(args.variables, "--variables"),
            ),
            None,
        )
    raise UsageError(f"unknown action {args.action!r}")


def _render(args: argparse.Namespace, result: Any) -> str:
    if isinstance(result, JobKey):
        data: dict[str, Any] = {"key": result.key, "partition_id": result.key >> PARTITION_SHIFT}
        text = f"created job {result.key} (partition {data['partition_id']})"
    elif isinstance(result, ActivatedJobs):
        jobs = [_job_dict(j) for j in result.jobs]
        data = {"jobs": jobs}
        lines = [f"activated {len(jobs)} job(s)"]
        for j in result.jobs:
            lines.append(
                f"  {j.key} {j.type} retries={j.retries} variables={json.dumps(j.variables)}"
            )
        text = "\n".join(lines)
    elif isinstance(result, Job):
        data = _job_dict(result)
        text = f"job {result.key}: {result.state.lower()}, retries {result.retries}"
    else:
        data = {"result": repr(result)}
        text = repr(result)
    return json.dumps(data) if args.json else text


def _job_dict(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(job)
    data["partition_id"] = job.key >> PARTITION_SHIFT
    return data


def _json_object(text: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag}: not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag}: expected a JSON object, got {type(value).__name__}")
    return value


def _headers(text: str) -> dict[str, str]:
    headers = _json_object(text, "--headers")
    if not all(isinstance(v, str) for v in headers.values()):
        raise UsageError("--headers: every value must be a string")
    return headers


def _duration(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())
