"""The CLI explains itself: help on every flag and command, ``--version``, the program name as
the user typed it (``python -m trio_zeebe`` or the ``trio-zeebe`` script), zbctl's spellings
as aliases, commands named in messages that exist, and where the log format comes from."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

import trio_zeebe
from trio_zeebe import logs
from trio_zeebe.cli import DEFAULT_PROG, MODULE_PROG, build_parser, main, program_name
from trio_zeebe.transport.tls import DevCerts

from .conftest import repo_root
from .test_broker import broker_dict


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))


def test_every_flag_and_command_has_help() -> None:
    missing = []
    commands = 0
    for path, parser in walk(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    commands += 1
                    if not choice.help:
                        missing.append(f"{' '.join(path)} {choice.dest}")
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert commands >= 13  # the walk reached the job sub-commands
    assert missing == []


def test_the_job_commands_cover_the_client() -> None:
    (job,) = [p for path, p in walk(build_parser()) if path == ("job",)]
    (actions,) = [a for a in job._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(actions.choices) == {
        "create",
        "activate",
        "complete",
        "fail",
        "throw-error",
        "update-retries",
        "update-timeout",
    }


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"], prog="trio-zeebe")
    assert exited.value.code == 0
    pyproject = tomllib.loads((repo_root() / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == trio_zeebe.__version__
    assert capsys.readouterr().out == f"trio-zeebe {trio_zeebe.__version__}\n"


def test_program_name_from_argv0() -> None:
    assert program_name("/usr/local/bin/trio-zeebe") == "trio-zeebe"
    assert program_name("/venv/Scripts/trio-zeebe.exe") == "trio-zeebe"
    assert program_name("/src/trio_zeebe/__main__.py") == MODULE_PROG
    assert program_name("") == DEFAULT_PROG
    assert program_name("-c") == DEFAULT_PROG


@pytest.mark.slow
def test_usage_names_the_program_as_invoked(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    module = subprocess.run(
        [sys.executable, "-m", "trio_zeebe", "job", "update-retries", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert module.returncode == 0
    assert module.stdout.startswith("usage: python -m trio_zeebe job update-retries ")
    # What pip writes for the [project.scripts] entry point: a script named trio-zeebe.
    script = tmp_path / "trio-zeebe"
    script.write_text(
        "import re, sys\nfrom trio_zeebe.cli import main\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(main())\n"
    )
    console = subprocess.run(
        [sys.executable, str(script), "job", "--bogus"], capture_output=True, text=True, env=env
    )
    assert console.returncode == 2
    assert console.stderr.startswith("usage: trio-zeebe job [-h] ACTION ...")
    assert "python -m" not in console.stderr


@pytest.mark.parametrize(
    ("ours", "zbctl"),
    [
        (
            ["job", "fail", "7", "--retries", "2", "--error-message", "x", "--retry-backoff", "5s"],
            ["job", "fail", "7", "--retries", "2", "--errorMessage", "x", "--retryBackoff", "5s"],
        ),
        (
            ["job", "throw-error", "7", "--error-code", "E", "--error-message", "m"],
            ["job", "throw-error", "7", "--errorCode", "E", "--errorMessage", "m", "-o", "human"],
        ),
        (
            ["job", "activate", "t", "--max-jobs", "3", "--request-timeout", "2s", "--json"],
            ["job", "activate", "t", "--maxJobsToActivate=3", "--requestTimeout=2s", "-o", "json"],
        ),
        (
            ["job", "complete", "7", "--ca", "ca.pem", "--timeout", "3s"],
            ["job", "complete", "7", "--certPath", "ca.pem", "--requestTimeout", "3s"],
        ),
        (
            ["job", "update-timeout", "7", "--timeout", "1m", "--request-timeout", "3s"],
            ["job", "update-timeout", "7", "--timeout", "1m", "--requestTimeout", "3s"],
        ),
    ],
)
def test_zbctl_spellings_are_aliases(ours: list[str], zbctl: list[str]) -> None:
    parser = build_parser()
    assert vars(parser.parse_args(ours)) == vars(parser.parse_args(zbctl))


def test_activate_fetch_variables_repeatable_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trio_zeebe import cli_job

    args = build_parser().parse_args(
        ["job", "activate", "t", "--variables", "a,b", "--fetch-variable", "c"]
    )
    calls: list[dict[str, object]] = []

    class Recorder:
        async def activate_jobs(self, type: str, **kwargs: object) -> list[object]:
            calls.append(kwargs)
            return []

    import anyio

    call = cli_job._call(args)
    anyio.run(call, Recorder())
    assert calls[0]["fetch_variables"] == ("a", "b", "c")
    assert calls[0]["worker"] == cli_job.DEFAULT_WORKER


def test_commands_named_in_messages_exist(capsys: pytest.CaptureFixture[str]) -> None:
    """The refusal hint and the dev cluster's announcement name commands this CLI has."""
    from trio_zeebe import cli_job
    from trio_zeebe.devcluster import _announce

    parser = build_parser("trio-zeebe")
    args = parser.parse_args(["job", "complete", "42"])
    refusal = "FAILED_PRECONDITION: cannot complete job 42: it is FAILED (an incident: update its"
    refusal += " retries)"
    hint = cli_job._hint(args, refusal)
    assert hint == "; run: trio-zeebe job update-retries 42 --retries N"
    command = hint.removeprefix("; run: trio-zeebe ").replace("N", "3").split()
    assert parser.parse_args(command).action == "update-retries"
    assert cli_job._hint(args, "NOT_FOUND: no job 42") == ""

    from trio_zeebe.config import config_from_dict
    from trio_zeebe.devcluster import DevBroker

    config = config_from_dict({"security": {"enabled": False, "gateway": {"enabled": False}}})
    node = DevBroker(0, Path("b.toml"), config, Path("b.log"))

    class Proc:
        pid = 1

    _announce(Path("dc"), [node], [Proc()], False, "trio-zeebe")  # type: ignore[list-item]
    shown = [line.strip() for line in capsys.readouterr().out.splitlines() if "trio-zeebe " in line]
    assert shown == ["trio-zeebe status"]
    assert parser.parse_args(shown[0].split()[1:]).command == "status"


@pytest.mark.parametrize(
    ("flag", "env", "config", "expected"),
    [
        (None, None, None, logs.TextFormatter),
        (None, None, "json", logs.JsonFormatter),
        (None, "text", "json", logs.TextFormatter),
        ("json", "text", "text", logs.JsonFormatter),
        ("text", None, "json", logs.TextFormatter),
    ],
)
def test_log_format_flag_then_environment_then_config(
    monkeypatch: pytest.MonkeyPatch,
    dev_certs: DevCerts,
    tmp_path: Path,
    flag: str | None,
    env: str | None,
    config: str | None,
    expected: type[logging.Formatter],
) -> None:
    raw = broker_dict(dev_certs, tmp_path)
    if config:
        raw["logging"] = {"format": config}
    path = tmp_path / "broker.toml"
    path.write_text(tomli_w.dumps(raw))
    if env:
        monkeypatch.setenv(logs.ENV_LOG_FORMAT, env)
    ran: list[int] = []
    monkeypatch.setattr(
        "trio_zeebe.broker.run_until_signalled", lambda c: ran.append(c.cluster.node_id) or 0
    )
    root = logging.getLogger()
    level = root.level
    try:
        assert main(["node", "--config", str(path), *(["--log-format", flag] if flag else [])]) == 0
        assert ran == [0]
        (handler,) = [h for h in root.handlers if h is logs._installed]
        assert type(handler.formatter) is expected
    finally:
        if logs._installed is not None:
            root.removeHandler(logs._installed)
        root.setLevel(level)


def test_bad_log_format(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["node", "--log-format", "xml"])
    assert exited.value.code == 2
    assert "argument --log-format: 'xml' is not a log format (use text or json)" in (
        capsys.readouterr().err
    )
    monkeypatch.setenv(logs.ENV_LOG_FORMAT, "yaml")
    with pytest.raises(SystemExit) as exited:
        main(["dev-cluster", "--dir", str(tmp_path / "dc")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'yaml' is not a log format" in err and logs.ENV_LOG_FORMAT in err
    assert not (tmp_path / "dc").exists()
    path = tmp_path / "b.toml"
    path.write_text('[logging]\nformat = "xml"\n')
    monkeypatch.delenv(logs.ENV_LOG_FORMAT)
    assert main(["node", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        "config error: logging.format: 'xml' is not a log format (use text or json)\n"
    )
