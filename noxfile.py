"""Developer tasks: ``nox -s tests``, ``lint``, ``soak -- --seeds N``, ``fuzz -- --seconds N``,
``chaos -- --minutes N``, ``browser``, ``bench`` and ``proto``."""

import argparse
import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (what CI runs).

    With npm on PATH, Zeebe's zbctl 8.4 (npm package ``zbctl``) is installed under
    ``.nox/zbctl`` for the compatibility tests; without it those tests are skipped.
    """
    session.install("-e", ".[test]")
    env = {}
    if shutil.which("npm"):
        prefix = Path(".nox") / "zbctl"
        session.run("npm", "install", "--prefix", str(prefix), "zbctl@8.4.1", external=True)
        bin_dir = (prefix / "node_modules" / ".bin").resolve()
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    session.run("python", "-m", "pytest", "-q", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy --strict on the package."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "trio_zeebe", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "trio_zeebe", "tests", "bench", "noxfile.py")
    session.run("mypy", "trio_zeebe")


@nox.session
def soak(session: nox.Session) -> None:
    """Long randomized simulations: ``nox -s soak -- --seeds 10000`` (one worker per core): Raft
    groups under faults, and process workloads on simulated clusters of whole brokers
    (``-k process`` for those alone; ``--first-seed S --seeds 1`` replays seed S)."""
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
        "tests/test_process_sim.py",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )


@nox.session
def fuzz(session: nox.Session) -> None:
    """Decoder and frame fuzzing: ``nox -s fuzz -- --seconds 120 [--examples 500]``.

    Runs the hypothesis decoder tests with ``--examples`` examples each (the ``fuzz`` profile,
    no deadline) and then throws random and mutated frames at a real TCP + TLS transport for
    ``--seconds``, printing what it tried and what it found. Other arguments go to pytest.
    """
    parser = argparse.ArgumentParser(prog="nox -s fuzz --")
    parser.add_argument("--seconds", type=float, default=60.0, help="frame fuzzer run time")
    parser.add_argument("--examples", type=int, default=500, help="hypothesis examples per test")
    args, rest = parser.parse_known_args(session.posargs)
    if session.venv_backend != "none":  # `nox --no-venv -s fuzz`: use the current environment
        session.install("-e", ".[test]")
    env = {
        "TRIO_ZEEBE_HYPOTHESIS_PROFILE": "fuzz",
        "TRIO_ZEEBE_FUZZ_EXAMPLES": str(args.examples),
        "TRIO_ZEEBE_FUZZ_SECONDS": str(args.seconds),
    }
    common = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "0"]
    decoders = [
        "tests/test_codec_fuzz.py",
        "tests/test_raw_decoders_fuzz.py",
        "tests/transport/test_decoders.py",
    ]
    session.run(*common, "--hypothesis-show-statistics", *decoders, *rest, env=env)
    session.run(
        *common,
        "-s",
        "-m",
        "fuzz",
        "tests/transport/test_hostile_peers.py",
        *rest,
        env=env,
    )


@nox.session
def chaos(session: nox.Session) -> None:
    """Real brokers under seeded faults, then the history checker:
    ``nox -s chaos -- [--minutes N] [--seed S] [--brokers 3|5]`` (partitions and a full disk
    need root; see ``python -m trio_zeebe.testing.chaos --help``). Exits 1 on any violation."""
    session.install("-e", ".")
    session.run("python", "-m", "trio_zeebe.testing.chaos", *session.posargs)


@nox.session
def browser(session: nox.Session) -> None:
    """The monitoring page in a real headless Chromium (Debian's package, installed if missing).

    ``MONITORING_SCREENSHOT=docs/monitoring-page.png
    MONITORING_PROCESS_SCREENSHOT=docs/monitoring-process.png nox -s browser`` refreshes the
    screenshots.
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


@nox.session(venv_backend="none")
def vendor(session: nox.Session) -> None:
    """Refresh the vendored bpmn-js viewer of the monitoring page from npm (needs npm):
    ``nox -s vendor`` for the latest release, ``nox -s vendor -- 18.31.1`` for one."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    version = session.posargs[0] if session.posargs else "latest"
    target = Path("trio_zeebe/monitoring/static/vendor/bpmn-js")
    with tempfile.TemporaryDirectory() as tmp:
        session.run(
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            tmp,
            f"bpmn-js@{version}",
            external=True,
        )
        package = Path(tmp, "node_modules", "bpmn-js")
        installed = json.loads((package / "package.json").read_text())["version"]
        target.mkdir(parents=True, exist_ok=True)
        for source in (
            "dist/bpmn-viewer.production.min.js",
            "dist/assets/diagram-js.css",
            "dist/assets/bpmn-js.css",
            "LICENSE",
        ):
            shutil.copy(package / source, target / Path(source).name)
        (target / "VERSION").write_text(
            f"bpmn-js {installed} (npm), dist/bpmn-viewer.production.min.js and "
            "dist/assets/{diagram-js,bpmn-js}.css\n"
        )
    session.log(f"vendored bpmn-js {installed} into {target}")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (they measure; they do not pass or fail).

    ``nox -s bench`` runs every script in ``bench/`` with the session's arguments;
    ``nox -s bench -- NAME [args]`` runs only ``bench/NAME.py`` (dashes or underscores), e.g.
    ``nox -s bench -- vs-etcd --rounds 3`` (needs Debian's ``etcd-server``; skipped without it).
    """
    session.install("-e", ".", "grpcio>=1.60", "grpcio-tools>=1.60")
    import glob

    if session.posargs and not session.posargs[0].startswith("-"):
        name, *rest = session.posargs
        script = Path("bench") / (name.replace("-", "_") + ".py")
        if not script.exists():
            session.error(f"no benchmark {script}; see bench/")
        session.run("python", str(script), *rest)
        return
    for script in sorted(glob.glob("bench/*.py")):
        session.run("python", script, *session.posargs)


@nox.session
def proto(session: nox.Session) -> None:
    """Re-create trio_zeebe/proto/*.proto-derived files (downloads the pinned zeebe-grpc sdist).

    grpcio-tools is pinned: its protoc decides the generated code and the protobuf runtime it
    needs (pyproject's protobuf lower bound follows it). It is the newest whose protobuf is 6.x:
    code generated for 6.31 runs on protobuf 6.31 and later (7 included), so the package
    installs beside pyzeebe, which pins protobuf below 7.
    """
    session.install("grpcio-tools==1.75.1", "protobuf>=6.31.1,<7")
    session.run("python", "-m", "trio_zeebe.proto.regenerate", *session.posargs)
