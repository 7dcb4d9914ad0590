"""Developer tasks: ``nox -s tests``, ``lint``, ``soak -- --seeds N``, ``browser``, ``bench``,
``proto``."""

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (what CI runs)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy --strict on the package."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "trio_zeebe", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "trio_zeebe", "tests", "bench", "noxfile.py")
    session.run("mypy", "trio_zeebe")


@nox.session
def soak(session: nox.Session) -> None:
    """Long randomized simulation: ``nox -s soak -- --seeds 10000`` (one worker per core)."""
    session.install("-e", ".[test]", "pytest-xdist")
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-x",
        "-m",
        "soak",
        "-n",
        "auto",
        "tests/raft/test_sim_group.py",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )


@nox.session
def browser(session: nox.Session) -> None:
    """The monitoring page in a real headless Chromium (Debian's package, installed if missing).

    ``MONITORING_SCREENSHOT=docs/monitoring-page.png nox -s browser`` refreshes the screenshot.
    """
    import os
    import shutil

    if shutil.which("chromium") is None:
        if os.geteuid() != 0:
            session.error("chromium is not installed: apt-get install chromium (as root)")
        session.run("apt-get", "update", "-q", external=True)
        session.run("apt-get", "install", "-y", "-q", "chromium", external=True)
    session.install("-e", ".[test]")
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/monitoring/test_page.py",
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (they measure; they do not pass or fail)."""
    session.install("-e", ".")
    import glob

    for script in sorted(glob.glob("bench/*.py")):
        session.run("python", script, *session.posargs)


@nox.session
def proto(session: nox.Session) -> None:
    """Re-create trio_zeebe/proto/*.proto-derived files (downloads the pinned zeebe-grpc sdist).

    grpcio-tools is pinned: its protoc decides the generated code and the protobuf runtime it
    needs (pyproject's protobuf lower bound follows it).
    """
    session.install("grpcio-tools==1.85.1", "protobuf>=7.35.1,<8")
    session.run("python", "-m", "trio_zeebe.proto.regenerate", *session.posargs)
