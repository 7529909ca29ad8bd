"""Developer tasks: `nox -l` lists them, `nox -s NAME` runs one.

    nox -s test-fast   # the default pytest run: `slow` and `interop` tests deselected
    nox -s test        # everything CI's pytest steps run but interop: the fast run, then `slow`
    nox -s lint        # ruff check + ruff format --check + the import contracts (what CI checks)
    nox -s type        # mypy, strict on sessionctl/ and on tests/
    nox -s bench       # benchmarks/run.py (arguments after `--` go to it)
    nox -s interop     # interop/ci.sh: the real OpenClaw (installs it into a cache)

Every session runs in the environment nox itself runs in (no venv per session, nothing
downloaded): install the project with `pip install -e '.[dev]'` into your venv and run
`.venv/bin/nox`. Arguments after `--` go to the tool, e.g. `nox -s test-fast -- -x -k gc`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "type", "test-fast"]
nox.options.default_venv_backend = "none"

PY = sys.executable  # the interpreter nox runs under: the project's venv
PYTEST = (PY, "-m", "pytest", "-p", "no:cacheprovider")


@nox.session(name="test-fast")
def test_fast(session: nox.Session) -> None:
    """The default run (README): every test but `slow` and `interop` ones."""
    session.run(*PYTEST, "-q", *session.posargs)


@nox.session(name="test")
def test(session: nox.Session) -> None:
    """Everything but interop, as .ci/run runs it: the fast run, then the `slow` suite."""
    session.run(*PYTEST, "-q", *session.posargs)
    session.run(*PYTEST, "-q", "--slow", "-m", "slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and the import contracts (lint-imports), as CI runs them."""
    session.run(PY, "-m", "ruff", "check", ".")
    session.run(
        PY, "-m", "ruff", "format", "--check", "sessionctl", "tests", "benchmarks", "fixtures", "noxfile.py"
    )
    session.run(str(Path(PY).with_name("lint-imports")), external=True)  # import-linter's script, beside PY


@nox.session(name="type")
def type_check(session: nox.Session) -> None:
    """mypy, strict on sessionctl/ and on tests/ (pyproject's [tool.mypy]), as CI runs it."""
    session.run(PY, "-m", "mypy", *session.posargs)
    session.run(PY, "-m", "mypy", "tests", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """benchmarks/run.py; e.g. `nox -s bench -- --runs 5 --only health,deep`."""
    session.run(PY, "benchmarks/run.py", *session.posargs)


@nox.session
def interop(session: nox.Session) -> None:
    """The `interop` tests against the real OpenClaw releases (interop/ci.sh)."""
    session.run("bash", "interop/ci.sh", PY, *session.posargs, external=True)
