"""Zeebe's own CLI (zbctl, a grpc-go client) against the gRPC server's stub Gateway.

zbctl ships in the npm package ``zbctl`` (``npm install zbctl@8.4.1``); these tests are
skipped when no ``zbctl`` is on PATH. They show that the HTTP/2 layer satisfies grpc-go,
over h2c and over TLS with ALPN.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import trio

from .support import Certs, Probe, build_registry, serving

ZBCTL = shutil.which("zbctl-cli.linux") or shutil.which("zbctl")
pytestmark = pytest.mark.skipif(ZBCTL is None, reason="zbctl is not on PATH (npm i zbctl@8.4.1)")


async def zbctl(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert ZBCTL is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEEBE_")}
    with trio.fail_after(60):
        return await trio.run_process(
            [ZBCTL, *args], capture_stdout=True, capture_stderr=True, check=False, env=env
        )


def check_status_output(result: subprocess.CompletedProcess[bytes]) -> None:
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, err
    assert "Cluster size: 1" in out
    assert "Partitions count: 1" in out
    assert "Gateway version: 8.4.0" in out
    assert "Partition 1 : Leader, Healthy" in out


async def test_zbctl_status_over_h2c(probe: Probe) -> None:
    async with serving(build_registry(probe)) as server:
        result = await zbctl("status", "--insecure", "--address", f"127.0.0.1:{server.port}")
    check_status_output(result)


async def test_zbctl_status_over_tls(probe: Probe, certs: Certs) -> None:
    async with serving(build_registry(probe), ssl_context=certs.server_context()) as server:
        result = await zbctl(
            "status", "--address", f"localhost:{server.port}", "--certPath", str(certs.ca_pem)
        )
    check_status_output(result)
