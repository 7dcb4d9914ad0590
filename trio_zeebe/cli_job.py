"""``job create|activate|complete|fail|throw-error|update-retries|update-timeout``: every job
command of the client, from the shell.

Each command sends one request through :class:`~trio_zeebe.client.Client` to a gateway (any
broker) and prints the result, as text or with ``--json`` (``-o json``) as one JSON object.
Flags follow zbctl where it has the same command (``fail job KEY --retries --errorMessage
--retryBackoff``, ``throwError job KEY --errorCode --errorMessage``, ``update retries KEY
--retries``, ``activate jobs TYPE --maxJobsToActivate --timeout --worker``): zbctl's camelCase
spellings are accepted as aliases. Durations are ``300ms``, ``30s``, ``5m``; a bare number is
seconds (zbctl's ``update timeout`` takes milliseconds: here write ``300000ms``).

Errors are one line on stderr; exit 1 when the request failed, 2 for bad usage (malformed JSON,
durations, addresses, certificate files, no gateway reachable).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import attrs

from .client import Job
from .config import parse_duration
from .keys import partition_of
from .logs import utc_time

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_WORKER = "trio-zeebe"

KEY_HELP = "the job's key (printed by job create and job activate)"
VARIABLES_HELP = "variables to merge into the job's, a JSON object (default {})"


class UsageError(ValueError):
    pass


def add_job_parser(
    sub: Any,
    add_client_arguments: Callable[..., None],
    client_settings: Callable[[argparse.Namespace], dict[str, object]],
    add_output_arguments: Callable[[argparse.ArgumentParser], None],
) -> None:
    job = sub.add_parser(
        "job", help="create, activate, complete, fail jobs, throw errors, update retries/timeout"
    )
    actions = job.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a job; prints its key")
    create.add_argument("type", help="job type")
    create.add_argument(
        "--retries", type=int, default=3, help="how often the job may fail (default 3)"
    )
    create.add_argument(
        "--variables", default="{}", metavar="JSON", help="the job's variables, a JSON object"
    )
    create.add_argument(
        "--headers", default="{}", metavar="JSON", help="custom headers, a JSON object of strings"
    )

    activate = actions.add_parser("activate", help="activate jobs (long-polls until one exists)")
    activate.add_argument("type", help="job type")
    activate.add_argument(
        "--worker",
        default=DEFAULT_WORKER,
        help=f"worker name the jobs are leased to (default {DEFAULT_WORKER})",
    )
    activate.add_argument(
        "--max-jobs",
        "--maxJobsToActivate",
        dest="max_jobs",
        type=int,
        default=1,
        help="activate at most this many jobs (default 1)",
    )
    activate.add_argument(
        "--timeout",
        default="5m",
        metavar="DURATION",
        help="the jobs' lease, e.g. 30s or 5m (default 5m)",
    )
    activate.add_argument(
        "--request-timeout",
        "--requestTimeout",
        default="10s",
        metavar="DURATION",
        help="how long to wait for a job (long poll; default 10s)",
    )
    activate.add_argument(
        "--fetch-variable",
        "--variables",
        dest="fetch_variable",
        action="append",
        default=[],
        metavar="NAME",
        help="fetch only these variables (repeatable or comma-separated; default all)",
    )

    complete = actions.add_parser("complete", help="complete an activated job")
    complete.add_argument("key", type=int, help=KEY_HELP)
    complete.add_argument("--variables", default="{}", metavar="JSON", help=VARIABLES_HELP)

    fail = actions.add_parser("fail", help="fail a job (retries 0 raises an incident)")
    fail.add_argument("key", type=int, help=KEY_HELP)
    fail.add_argument(
        "--retries", type=int, required=True, metavar="N", help="the job's new retry count"
    )
    fail.add_argument(
        "--error-message",
        "--errorMessage",
        "--message",
        dest="message",
        default="",
        metavar="TEXT",
        help="why it failed",
    )
    fail.add_argument(
        "--retry-backoff",
        "--retryBackoff",
        "--backoff",
        dest="backoff",
        default="0s",
        metavar="DURATION",
        help="wait this long before the job can be activated again, e.g. 30s (default 0s)",
    )
    fail.add_argument("--variables", default="{}", metavar="JSON", help=VARIABLES_HELP)

    throw = actions.add_parser(
        "throw-error", help="report a business error for a job (it is not retried)"
    )
    throw.add_argument("key", type=int, help=KEY_HELP)
    throw.add_argument(
        "--error-code",
        "--errorCode",
        dest="error_code",
        required=True,
        metavar="CODE",
        help="the error code an error event would match",
    )
    throw.add_argument(
        "--error-message",
        "--errorMessage",
        dest="error_message",
        default="",
        metavar="TEXT",
        help="more context for the error",
    )
    throw.add_argument("--variables", default="{}", metavar="JSON", help=VARIABLES_HELP)

    retries = actions.add_parser(
        "update-retries",
        help="set a job's retries (a failed job with retries 0 becomes activatable again)",
    )
    retries.add_argument("key", type=int, help=KEY_HELP)
    retries.add_argument(
        "--retries", type=int, required=True, metavar="N", help="the job's new retry count"
    )

    lease = actions.add_parser(
        "update-timeout", help="change an activated job's lease: it ends this long from now"
    )
    lease.add_argument("key", type=int, help=KEY_HELP)
    lease.add_argument(
        "--timeout",
        dest="lease",
        required=True,
        metavar="DURATION",
        help="the new lease from now, e.g. 30s, 5m or 300000ms",
    )

    for p in (create, activate, complete, fail, throw, retries, lease):
        if p is activate:  # its --timeout is the lease, --request-timeout the long poll
            add_client_arguments(p, timeout_flags=())
        elif p is lease:  # its --timeout is the new lease
            add_client_arguments(p, timeout_flags=("--request-timeout", "--requestTimeout"))
        else:
            add_client_arguments(p)
        add_output_arguments(p)
        p.set_defaults(handler=lambda args: _cmd_job(args, client_settings))


def _cmd_job(
    args: argparse.Namespace,
    client_settings: Callable[[argparse.Namespace], dict[str, object]],
) -> int:
    return run_request(
        f"job {args.action}", args, client_settings, _call, lambda result: _render(args, result)
    )


def run_request(
    name: str,
    args: argparse.Namespace,
    client_settings: Callable[[argparse.Namespace], dict[str, object]],
    make_call: Callable[[argparse.Namespace], Callable[[Any], Any]],
    render: Callable[[Any], str],
) -> int:
    """One client request from the command line: ``make_call`` checks the arguments (a
    UsageError or ValueError is exit 2), the call runs on a Client, ``render`` prints the
    result; a refusal is one line ``NAME: CODE: message`` and exit 1 (2 if no gateway
    answered at all)."""
    import anyio

    from .client import Client, ClientError

    try:
        call = make_call(args)
        settings = client_settings(args)
    except (UsageError, ValueError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def send() -> Any:
        async with Client(**settings) as client:  # type: ignore[arg-type]
            return await call(client)

    try:
        result = anyio.run(send)
    except ClientError as exc:
        text, code = one_line(str(exc)), str(exc.code)
        if not text.startswith(code):  # say the error kind, whichever exception carries it
            text = f"{code}: {text}"
        print(f"{name}: {text}{_hint(args, text)}", file=sys.stderr)
        return client_exit_code(exc)
    print(render(result))
    return EXIT_OK


def client_exit_code(exc: Exception) -> int:
    """2 when no gateway could be talked to at all (the address or TLS setting is wrong, or
    nothing runs there), else 1."""
    from .client import GatewayUnreachable

    return EXIT_USAGE if isinstance(exc, GatewayUnreachable) else EXIT_FAILURE


def _call(args: argparse.Namespace) -> Callable[[Any], Any]:
    """The client call for the command, its arguments checked here (usage errors, exit 2)."""
    action = args.action
    if action == "create":
        if args.retries < 0:
            raise UsageError("--retries must be at least 0")
        variables = json_object(args.variables, "--variables")
        headers = _headers(args.headers)
        return lambda c: c.create_job(
            args.type, retries=args.retries, variables=variables, custom_headers=headers
        )
    if action == "activate":
        if args.max_jobs < 1:
            raise UsageError("--max-jobs must be at least 1")
        lease = duration(args.timeout, "--timeout")
        if lease <= 0:
            raise UsageError("--timeout must be greater than 0")
        poll = duration(args.request_timeout, "--request-timeout")
        names = tuple(n.strip() for arg in args.fetch_variable for n in arg.split(",") if n.strip())
        return lambda c: c.activate_jobs(
            args.type,
            worker=args.worker,
            max_jobs=args.max_jobs,
            timeout=lease,
            fetch_variables=names,
            request_timeout=poll,
        )
    if action == "complete":
        variables = json_object(args.variables, "--variables")
        return lambda c: c.complete_job(args.key, variables)
    if action == "fail":
        if args.retries < 0:
            raise UsageError("--retries must be at least 0")
        backoff = duration(args.backoff, "--retry-backoff")
        variables = json_object(args.variables, "--variables")
        return lambda c: c.fail_job(
            args.key,
            retries=args.retries,
            error_message=args.message,
            retry_backoff=backoff,
            variables=variables,
        )
    if action == "throw-error":
        if not args.error_code.strip():
            raise UsageError("--error-code must not be empty")
        variables = json_object(args.variables, "--variables")
        return lambda c: c.throw_error(args.key, args.error_code, args.error_message, variables)
    if action == "update-retries":
        if args.retries < 1:
            # 0 would leave the job an incident (or make one): a job is retried only with 1+.
            raise UsageError("--retries must be at least 1")
        return lambda c: c.update_job_retries(args.key, args.retries)
    if action == "update-timeout":
        lease = duration(args.lease, "--timeout")
        if lease <= 0:
            raise UsageError("--timeout must be greater than 0")
        return lambda c: c.update_job_timeout(args.key, lease)
    raise UsageError(f"unknown action {action!r}")


def _hint(args: argparse.Namespace, text: str) -> str:
    """The command that fixes a refusal, where the refusal says what to do."""
    key = getattr(args, "key", None)
    if "update its retries" in text and key is not None:
        return f"; run: {args.prog} job update-retries {key} --retries N"
    return ""


def _render(args: argparse.Namespace, result: Any) -> str:
    if isinstance(result, int):  # create: the new job's key
        data: dict[str, Any] = {"key": result, "partition_id": partition_of(result)}
        text = f"created job {result} (partition {data['partition_id']})"
    elif isinstance(result, list):  # activate
        data = {"jobs": [_job_dict(j) for j in result]}
        lines = [f"activated {len(result)} job(s)"]
        for j in result:
            lines.append(
                f"  {j.key} {j.type} retries={j.retries} variables={json.dumps(j.variables)}"
            )
        text = "\n".join(lines)
    elif isinstance(result, Job):
        data = _job_dict(result)
        text = f"job {result.key}: {str(result.state).lower()}, retries {result.retries}"
        if result.deadline is not None:
            until = "leased until" if result.state == "ACTIVATED" else "retried from"
            text += f", {until} {utc_time(result.deadline)}"
        if result.error_code:
            text += f", error {result.error_code}"
    elif result is None:  # a key-addressed command: Zeebe answers it with an empty response
        done = _DONE.get(args.action, args.action)
        data = {"key": args.key, "partition_id": partition_of(args.key), "result": done}
        text = f"job {args.key}: {done}"
    else:
        data = {"result": repr(result)}
        text = repr(result)
    return json.dumps(data) if args.json else text


_DONE = {
    "complete": "completed",
    "fail": "failed",
    "throw-error": "error thrown",
    "update-retries": "retries updated",
    "update-timeout": "timeout updated",
}


def _job_dict(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = attrs.asdict(job)
    data["partition_id"] = partition_of(job.key)
    return data


def json_object(text: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag}: not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag}: expected a JSON object, got {type(value).__name__}")
    return value


def _headers(text: str) -> dict[str, str]:
    headers = json_object(text, "--headers")
    if not all(isinstance(v, str) for v in headers.values()):
        raise UsageError("--headers: every value must be a string")
    return headers


def duration(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def one_line(text: str) -> str:
    return " ".join(text.split())
