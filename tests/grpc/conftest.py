from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from .support import Certs, Probe, generate_grpc_stubs, make_certs


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    return generate_grpc_stubs(Path(tmp_path_factory.mktemp("stubs")))


@pytest.fixture
def probe() -> Probe:
    return Probe()
