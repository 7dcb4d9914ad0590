"""The process commands (``deploy``, ``create instance``, ``cancel instance``, ``publish
message``, ``evaluate decision``, ``set variables``, ``resolve incident``) against a real
broker over TLS: each prints the gateway's answer as zbctl does (the response message as
JSON), a refusal is one line with the gRPC status and exit 1; bad arguments are exit 2 before
anything is sent."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio

from trio_zeebe.broker import Broker
from trio_zeebe.cli import main
from trio_zeebe.config import config_from_dict
from trio_zeebe.engine.engine import Engine
from trio_zeebe.transport.tls import DevCerts

from ..conftest import repo_root
from ..test_broker import broker_dict

WAIT_BPMN = repo_root() / "tests" / "resources" / "wait_for_work.bpmn"
DISH_DMN = repo_root() / "tests" / "engine" / "dmn" / "resources" / "dish.dmn"

Cli = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
async def broker_cli(
    dev_certs: DevCerts, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[tuple[Broker, list[str], Cli]]:
    """A one-broker cluster (2 partitions), its client flags, and ``run(*ARGS)``: the CLI in a
    thread (it runs its own event loop) -> (exit code, stdout, stderr)."""
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
            argv = [*args, *flags]
            code = await trio.to_thread.run_sync(lambda: main(argv, prog="trio-zeebe"))
            out, err = capsys.readouterr()
            return code, out, err

        yield broker, flags, run
        nursery.cancel_scope.cancel()


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.rstrip("\n")


def engines(broker: Broker) -> list[Engine]:
    assert broker.partitions is not None
    found = []
    for pid in (1, 2):
        processor = broker.partitions.processor(pid)
        assert processor is not None and isinstance(processor.machine, Engine)
        found.append(processor.machine)
    return found


async def test_process_commands_happy_paths(
    broker_cli: tuple[Broker, list[str], Cli],
) -> None:
    broker, flags, cli = broker_cli
    # deploy through the real entry point (a process of its own, as an operator runs it)
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    deployed = await trio.run_process(
        [sys.executable, "-m", "trio_zeebe", "deploy", str(WAIT_BPMN), str(DISH_DMN), *flags],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=env,
    )
    assert deployed.returncode == 0, deployed.stderr
    deployment = json.loads(deployed.stdout)
    kinds = [next(iter(d)) for d in deployment["deployments"]]
    assert kinds == ["process", "process", "decision", "decisionRequirements"]
    process = deployment["deployments"][0]["process"]
    assert (process["bpmnProcessId"], process["version"], process["resourceName"]) == (
        "wait-for-work",
        1,
        "wait_for_work.bpmn",
    )
    assert isinstance(process["processDefinitionKey"], str)  # int64 as zbctl prints it
    assert deployment["deployments"][2]["decision"]["dmnDecisionId"] == "dish"

    code, out, err = await cli("create", "instance", "wait-for-work", "--variables", '{"n": 1}')
    assert code == 0, err
    created = json.loads(out)
    assert created["bpmnProcessId"] == "wait-for-work" and created["version"] == 1
    instance_key = int(created["processInstanceKey"])
    by_key = await cli("create", "instance", process["processDefinitionKey"])
    assert by_key[0] == 0 and json.loads(by_key[1])["bpmnProcessId"] == "wait-for-work"

    code, out, err = await cli(
        "create", "instance", "straight-through", "--withResult", "--variables", '{"x": 7}'
    )
    assert code == 0, err
    assert json.loads(json.loads(out)["variables"]) == {"x": 7}

    code, out, err = await cli(
        "set", "variables", str(instance_key), "--variables", '{"m": 2}', "-o", "json"
    )
    assert code == 0, err
    assert int(json.loads(out)["key"]) > 0
    (owner,) = [e for e in engines(broker) if instance_key in e.instances()]
    assert owner.variables(instance_key) == {"n": 1, "m": 2}

    code, out, err = await cli(
        "publish", "message", "ping", "--correlationKey", "c-1", "--ttl", "1s", "--messageId", "m1"
    )
    assert code == 0, err
    assert json.loads(out)["tenantId"] == "<default>" and int(json.loads(out)["key"]) > 0
    code, _, err = await cli(
        "publish", "message", "ping", "--correlationKey", "c-1", "--messageId", "m1"
    )
    assert code == 1 and ": ALREADY_EXISTS: " in one_line(err)

    code, out, err = await cli(
        "evaluate", "decision", "dish", "--variables", '{"season": "Winter", "guestCount": 3}'
    )
    assert code == 0, err
    evaluation = json.loads(out)
    assert evaluation["decisionOutput"] == '"Roastbeef"'
    assert evaluation["evaluatedDecisions"][0]["matchedRules"][0]["ruleIndex"] == 2

    # an incident: the job fails with no retries left; resolving it after new retries
    code, out, err = await cli("job", "activate", "work", "--max-jobs", "5", "--json")
    assert code == 0, err
    job_keys = [j["key"] for j in json.loads(out)["jobs"]]
    assert len(job_keys) == 2
    code, _, err = await cli("job", "fail", str(job_keys[0]), "--retries", "0")
    assert code == 0, err
    (incident_key,) = [k for e in engines(broker) for k in e.incidents()]
    assert (await cli("job", "update-retries", str(job_keys[0]), "--retries", "1"))[0] == 0
    code, out, err = await cli("resolve", "incident", str(incident_key))
    assert (code, out) == (0, f"Resolved an incident with key '{incident_key}'\n"), err
    assert all(not e.incidents() for e in engines(broker))

    code, out, err = await cli("cancel", "instance", str(instance_key))
    assert (code, out) == (0, f"Canceled process instance with key '{instance_key}'\n"), err
    code, out, err = await cli("cancel", "instance", str(instance_key))
    assert code == 1 and out == ""
    assert one_line(err).startswith("cancel instance: NOT_FOUND: ")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["create", "instance", "p", "--variables", "{oops"], "--variables: not valid JSON"),
        (["create", "instance", "p", "--variables", "[1]"], "--variables: expected a JSON object"),
        (["create", "instance", " "], "PROCESS must not be empty"),
        (["evaluate", "decision", "d", "--variables", "3"], "--variables: expected a JSON object"),
        (["publish", "message", "m", "--ttl", "soon"], "--ttl: "),
        (["publish", "message", "m", "--ttl=-1s"], "--ttl: expected a duration"),
        (["publish", "message", "m", "--variables", "nope"], "--variables: not valid JSON"),
        (["set", "variables", "1", "--variables", "x"], "--variables: not valid JSON"),
        (["deploy", "no-such-file.bpmn"], "no-such-file.bpmn: No such file"),
        (["deploy", str(WAIT_BPMN), "--resourceNames", "a,b"], "--resource-names: 2 names"),
        (["deploy", "resource"], "give at least one"),
    ],
)
def test_bad_arguments_are_exit_2_before_anything_is_sent(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 9: the arguments are refused before a connection is tried.
    code = main([*argv, "--address", "127.0.0.1:9", "--insecure"], prog="trio-zeebe")
    err = one_line(capsys.readouterr().err)
    assert code == 2 and says in err, err
    assert err.startswith(" ".join(argv[:1] if argv[0] == "deploy" else argv[:2]) + ": ")


def test_variables_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "vars.json"
    bad.write_text("[1, 2]")
    code = main(
        ["publish", "message", "m", "--variables", str(bad), "--address", "127.0.0.1:9"],
        prog="trio-zeebe",
    )
    err = one_line(capsys.readouterr().err)
    assert code == 2 and f"--variables {bad}: expected a JSON object" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["cancel", "instance", "twelve"],
        ["set", "variables", "1"],  # --variables is required
        ["create", "instance"],
        ["resolve", "incident"],
    ],
)
def test_malformed_command_lines_are_argparse_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv, prog="trio-zeebe")
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
