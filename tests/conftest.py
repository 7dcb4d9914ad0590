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


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
