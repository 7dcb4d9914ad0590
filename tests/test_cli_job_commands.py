"""``job throw-error``, ``update-retries`` and ``update-timeout`` (and the zbctl spellings of
the others) against a real broker over TLS: what each prints, with and without ``--json``, how
a refusal reads (one line, exit 1, the command that fixes it), and bad usage (exit 2)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio

from trio_zeebe.broker import Broker
from trio_zeebe.cli import main
from trio_zeebe.config import config_from_dict
from trio_zeebe.transport.tls import DevCerts

from .test_broker import broker_dict

Cli = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
async def cli(
    dev_certs: DevCerts, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Cli]:
    """Runs ``trio-zeebe job ARGS`` (in a thread: the CLI runs its own event loop) against a
    one-broker cluster; returns (exit code, stdout, stderr)."""
    config = config_from_dict(broker_dict(dev_certs, tmp_path, partitions_count=2))
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(Broker(config).run)
        assert broker.gateway is not None and broker.partitions is not None
        with trio.fail_after(20):
            while not all(  # noqa: ASYNC110 - real broker, real time
                (p := broker.partitions.processor(pid)) is not None and p.serving for pid in (1, 2)
            ):
                await trio.sleep(0.05)
        flags = ["--address", f"127.0.0.1:{broker.gateway.port}", "--ca", str(dev_certs.ca)]

        async def run(*args: str) -> tuple[int, str, str]:
            capsys.readouterr()
            argv = ["job", *args, *flags]
            code = await trio.to_thread.run_sync(lambda: main(argv, prog="trio-zeebe"))
            out, err = capsys.readouterr()
            return code, out, err

        yield run
        nursery.cancel_scope.cancel()


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.rstrip("\n")


async def test_update_timeout_fail_update_retries(cli: Cli) -> None:
    code, out, _ = await cli("create", "pay", "--retries", "1", "--json")
    assert code == 0
    key = json.loads(out)["key"]
    code, out, err = await cli(
        "activate", "pay", "--maxJobsToActivate", "1", "--requestTimeout", "5s", "-o", "json"
    )
    assert code == 0, err
    assert [j["key"] for j in json.loads(out)["jobs"]] == [key]

    # Zeebe's key-addressed commands answer with empty responses: the CLI says what was done.
    code, out, err = await cli("update-timeout", str(key), "--timeout", "90s", "--json")
    assert code == 0, err
    assert json.loads(out) == {"key": key, "partition_id": key >> 51, "result": "timeout updated"}
    code, out, _ = await cli("update-timeout", str(key), "--timeout", "300000ms")
    assert (code, out) == (0, f"job {key}: timeout updated\n")

    code, out, err = await cli("fail", str(key), "--retries", "1", "--errorMessage", "no card")
    assert code == 0, err
    assert out == f"job {key}: failed\n"
    code, out, _ = await cli("activate", "pay", "--worker", "w2", "--request-timeout", "5s")
    assert code == 0 and out.startswith("activated 1 job(s)\n") and f"  {key} pay retries=1" in out
    code, out, err = await cli("fail", str(key), "--retries", "0", "--errorMessage", "no card")
    assert code == 0, err
    # No retries left: completing is refused with Zeebe's code and text.
    code, out, err = await cli("complete", str(key))
    assert (code, out) == (1, "")
    assert one_line(err) == (
        f"job complete: FAILED_PRECONDITION: Command 'COMPLETE' rejected with code "
        f"'INVALID_STATE': Expected to complete job with key '{key}', but it is in state 'FAILED'"
    )
    code, out, err = await cli("update-retries", str(key), "--retries", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["result"] == "retries updated"


async def test_throw_error(cli: Cli) -> None:
    code, out, _ = await cli("create", "charge")
    key = int(out.split()[2])
    code, out, err = await cli(
        "throw-error",
        str(key),
        "--errorCode",
        "NO_FUNDS",
        "--errorMessage",
        "card declined",
        "--variables",
        '{"declined": true}',
        "--json",
    )
    assert code == 0, err
    assert json.loads(out) == {"key": key, "partition_id": key >> 51, "result": "error thrown"}
    # Thrown once: the job is never activated again, and a second throw is refused.
    code, out, _ = await cli("activate", "charge", "--request-timeout", "0.2s")
    assert (code, out) == (0, "activated 0 job(s)\n")
    code, out, err = await cli("throw-error", str(key), "--error-code", "AGAIN")
    assert (code, out) == (1, "")
    assert one_line(err).startswith("job throw-error: FAILED_PRECONDITION: ")
    code, out, err = await cli("create", "charge")
    other = int(out.split()[2])
    code, out, err = await cli("throw-error", str(other), "--error-code", "E1")
    assert code == 0 and out == f"job {other}: error thrown\n"


async def test_unknown_jobs_and_bad_usage(cli: Cli) -> None:
    missing = str((1 << 51) + 999_999)
    for args in (
        ("update-retries", missing, "--retries", "3"),
        ("update-timeout", missing, "--timeout", "1m"),
        ("throw-error", missing, "--error-code", "E"),
    ):
        code, out, err = await cli(*args)
        assert (code, out) == (1, ""), err
        assert one_line(err).startswith(f"job {args[0]}: NOT_FOUND: ")
    for args, expected in (
        (("update-retries", "1", "--retries", "0"), "job update-retries: --retries must be at "),
        (("update-timeout", "1", "--timeout", "soon"), "job update-timeout: --timeout: expected"),
        (("update-timeout", "1", "--timeout", "0s"), "job update-timeout: --timeout must be gr"),
        (("throw-error", "1", "--error-code", " "), "job throw-error: --error-code must not be"),
        (("throw-error", "1", "--error-code", "E", "--variables", "[]"), "job throw-error: --va"),
        (
            ("update-timeout", "1", "--timeout", "1m", "--request-timeout", "0"),
            "job update-timeout: --request-timeout: must be a number of seconds above 0",
        ),
    ):
        code, out, err = await cli(*args)
        assert (code, out) == (2, ""), err
        assert one_line(err).startswith(expected)


def test_missing_required_flags_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, flag in (
        (["job", "throw-error", "1"], "--error-code/--errorCode"),
        (["job", "update-retries", "1"], "--retries"),
        (["job", "update-timeout", "1"], "--timeout"),
        (["job", "update-retries", "abc", "--retries", "1"], "key"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv, prog="trio-zeebe")
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"usage: trio-zeebe job {argv[1]} ") and flag in err, err
