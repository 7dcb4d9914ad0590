"""Operator mistakes on the command line get one line and exit code 2, never a traceback:
certificate and key files (client commands and ``node``), log levels, gateway addresses nothing
answers on, and TLS on one side only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
import trio

from trio_zeebe.broker import Broker
from trio_zeebe.cli import main
from trio_zeebe.client import client_ssl_context
from trio_zeebe.config import config_from_dict
from trio_zeebe.tlsfiles import TlsFileError
from trio_zeebe.transport.tls import DevCerts

from .test_broker import broker_dict


@pytest.fixture
def files(tmp_path: Path, dev_certs: DevCerts) -> dict[str, str]:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    return {
        "ca": str(dev_certs.ca),
        "cert": str(dev_certs.client[0]),
        "key": str(dev_certs.client[1]),
        "other_key": str(dev_certs.nodes[0][1]),  # not the client's
        "node1_key": str(dev_certs.nodes[1][1]),  # not node 0's
        "garbage": str(garbage),
        "missing": str(tmp_path / "missing.pem"),
    }


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.rstrip("\n")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "--ca", "{missing}"], "status: --ca {missing}: no such file"),
        (["status", "--ca", "{garbage}"], "status: --ca {garbage}: not a PEM certificate file"),
        (
            ["status", "--ca", "{ca}", "--cert", "{garbage}", "--key", "{key}"],
            "status: --cert {garbage}: not a PEM certificate file",
        ),
        (
            ["status", "--ca", "{ca}", "--cert", "{cert}", "--key", "{garbage}"],
            "status: --key {garbage}: not a PEM private key",
        ),
        (
            ["status", "--ca", "{ca}", "--cert", "{cert}", "--key", "{other_key}"],
            "status: --key {other_key}: the private key does not match the certificate in {cert}",
        ),
        (["status", "--key", "{key}"], "status: --key: needs --cert"),
        (["rebalance", "--ca", "{missing}"], "rebalance: --ca {missing}: no such file"),
        (["job", "create", "t", "--ca", "{garbage}"], "job create: --ca {garbage}: not a PEM"),
        # ``job complete KEY``: the job key must not be taken for the client's --key file.
        (
            ["job", "complete", "123", "--ca", "{ca}", "--cert", "{cert}", "--key", "{other_key}"],
            "job complete: --key {other_key}: the private key does not match",
        ),
        (["status", "--address", "nohost"], "status: --address: address 'nohost' is not host:p"),
        (["status", "--timeout", "0", "--insecure"], "status: --timeout: must be a number of"),
    ],
)
def test_bad_client_files_and_flags(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    argv: list[str],
    expected: str,
) -> None:
    assert main([a.format(**files) for a in argv]) == 2
    assert one_line_error(capsys).startswith(expected.format(**files))


def test_ca_from_the_environment_is_checked_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, files: dict[str, str]
) -> None:
    monkeypatch.setenv("TRIO_ZEEBE_CA_CERTIFICATE_PATH", files["missing"])
    assert main(["status"]) == 2
    assert one_line_error(capsys) == f"status: --ca {files['missing']}: no such file"


def test_the_client_library_names_the_bad_file(files: dict[str, str]) -> None:
    with pytest.raises(TlsFileError, match=r"missing\.pem: no such file") as info:
        client_ssl_context(files["missing"])
    assert isinstance(info.value, ValueError) and info.value.role == "ca"
    with pytest.raises(TlsFileError, match="does not match") as info:
        client_ssl_context(files["ca"], files["cert"], files["other_key"])
    assert info.value.role == "key"


def test_nothing_answering_on_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    argv = ["--address", f"127.0.0.1:{port}", "--insecure", "--timeout", "5"]
    assert main(["status", *argv]) == 2
    assert one_line_error(capsys) == (
        f"status: cannot reach any gateway: 127.0.0.1:{port}: connection refused"
    )
    assert main(["job", "create", "t", *argv]) == 2
    assert "connection refused" in one_line_error(capsys)


@pytest.mark.parametrize("where", ["flag", "environment"])
def test_bad_log_level(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == "flag":
        argv = ["node", "--log-level", "verbose"]
    else:
        monkeypatch.setenv("TRIO_ZEEBE_LOG_LEVEL", "verbose")
        argv = ["node"]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "argument --log-level: 'verbose' is not a log level (use one of DEBUG" in err


def test_bad_log_level_for_dev_cluster(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRIO_ZEEBE_LOG_LEVEL", "loud")
    assert main(["dev-cluster", "--dir", str(tmp_path / "dc")]) == 2
    assert "TRIO_ZEEBE_LOG_LEVEL: 'loud' is not a log level" in one_line_error(capsys)
    assert not (tmp_path / "dc").exists()  # stopped before writing anything


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        ({"certificate_chain": "{garbage}"}, "security.certificate_chain: {garbage}: not a PEM"),
        ({"private_key": "{node1_key}"}, "security.private_key: {node1_key}: the private key"),
        ({"certificate_authority": "{garbage}"}, "security.certificate_authority: {garbage}: "),
        ({"certificate_authority": "{missing}"}, "security.certificate_authority: no such file"),
    ],
)
def test_node_with_unusable_tls_files(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    dev_certs: DevCerts,
    files: dict[str, str],
    security: dict[str, str],
    expected: str,
) -> None:
    raw = broker_dict(dev_certs, tmp_path)
    raw["security"].update({k: v.format(**files) for k, v in security.items()})
    path = tmp_path / "broker.toml"
    path.write_text(tomli_w.dumps(raw))
    assert main(["node", "--config", str(path)]) == 2
    assert one_line_error(capsys).startswith("config error: " + expected.format(**files))
    assert not (tmp_path / "data-0").exists()


async def cli(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        [sys.executable, "-m", "trio_zeebe", *argv],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_tls_on_one_side_only_is_named(dev_certs: DevCerts, tmp_path: Path) -> None:
    tls_raw = broker_dict(dev_certs, tmp_path / "tls")
    plain_raw = broker_dict(dev_certs, tmp_path / "plain")
    plain_raw["security"]["gateway"] = {"enabled": False}
    async with trio.open_nursery() as nursery:
        tls: Broker = await nursery.start(Broker(config_from_dict(tls_raw)).run)
        plain: Broker = await nursery.start(Broker(config_from_dict(plain_raw)).run)
        assert tls.gateway is not None and plain.gateway is not None
        tls_at = f"127.0.0.1:{tls.gateway.port}"
        plain_at = f"127.0.0.1:{plain.gateway.port}"
        ca = str(dev_certs.ca)
        for command in (["status"], ["job", "create", "t"]):
            name = " ".join(command[:2])
            wrong = await cli(*command, "--address", tls_at, "--insecure", "--timeout", "5")
            assert wrong.returncode == 2, wrong.stderr
            assert wrong.stderr.decode() == (
                f"{name}: {'UNAVAILABLE: ' if command[0] == 'job' else ''}{tls_at} expects TLS; "
                "pass the cluster CA (--ca, ca=...) instead of connecting without TLS\n"
            )
            wrong = await cli(*command, "--address", plain_at, "--ca", ca, "--timeout", "5")
            assert wrong.returncode == 2, wrong.stderr
            assert wrong.stderr.count(b"\n") == 1
            assert f"{plain_at}: answered without TLS".encode() in wrong.stderr
            assert b"--insecure" in wrong.stderr
        # Given both, the client fails over to the one it can talk to (nothing was sent).
        both = await cli("job", "create", "t", "--address", f"{tls_at},{plain_at}", "--insecure")
        assert both.returncode == 0, both.stderr
        assert both.stdout.startswith(b"created job ")
        nursery.cancel_scope.cancel()


@pytest.mark.slow
def test_node_that_cannot_listen_on_its_host(dev_certs: DevCerts, tmp_path: Path) -> None:
    raw = broker_dict(dev_certs, tmp_path)
    raw["network"]["host"] = "192.0.2.1"  # TEST-NET-1: not an address of this machine
    path = tmp_path / "broker.toml"
    path.write_text(tomli_w.dumps(raw))
    proc = subprocess.run(
        [sys.executable, "-m", "trio_zeebe", "node", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot start: network.host: cannot listen on '192.0.2.1': " in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
