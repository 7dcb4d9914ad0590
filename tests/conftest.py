"""Shared fixtures: development certificates (trustme) written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from trio_zeebe.transport.tls import DevCerts, write_dev_certs


@pytest.fixture(scope="session")
def dev_certs(tmp_path_factory: pytest.TempPathFactory) -> DevCerts:
    return write_dev_certs(tmp_path_factory.mktemp("certs"), 5)


@pytest.fixture(scope="session")
def foreign_certs(tmp_path_factory: pytest.TempPathFactory) -> DevCerts:
    """Certificates from another CA: a peer presenting these must be refused."""
    return write_dev_certs(tmp_path_factory.mktemp("foreign-certs"), 2)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--seeds", type=int, default=100, help="soak: how many seeds to run")
    parser.addoption("--first-seed", type=int, default=1_000_000, help="soak: first seed")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "soak_seed" in metafunc.fixturenames:
        first = metafunc.config.getoption("--first-seed")
        count = metafunc.config.getoption("--seeds")
        metafunc.parametrize("soak_seed", range(first, first + count))


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
