"""Test-suite setup: tests/ on sys.path (for the `support` package), the `state` fixture, a clean
environment for in-process tests, hypothesis settings, and the markers that deselect tests
unless asked for: `interop` and `promtool` (need an outside tool) and `slow`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.helpers import StateDir

settings.register_profile(
    "sessionctl",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sessionctl"))


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process tests never see the developer's OpenClaw or fault-injection settings."""
    for name in list(os.environ):
        if name.startswith(("OPENCLAW_", "SESSIONCTL_")) or name == "JOURNAL_STREAM":
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    """An empty OpenClaw state dir (`<tmp>/state`, realpath) with an `agents/` folder."""
    root = tmp_path / "state"
    (root / "agents").mkdir(parents=True)
    return StateDir(Path(os.path.realpath(root)))


# markers whose tests need an outside tool, the variable that runs them, and what to say
GATED = {"interop": "SESSIONCTL_INTEROP", "promtool": "SESSIONCTL_PROMTOOL"}
GATED_HINT = {
    "interop": "need the real OpenClaw; run them with interop/ci.sh",
    "promtool": "need promtool; .ci/run runs them with SESSIONCTL_PROMTOOL=1",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="also run the tests marked `slow` (the crash/ENOSPC/kill, hostile-input, "
        "gateway-concurrency and demo end-to-end suites; same as SESSIONCTL_SLOW=1). CI runs them.",
    )


def _run_slow(config: pytest.Config) -> bool:
    """`slow` tests run with --slow, SESSIONCTL_SLOW=1, or a -m expression naming `slow`."""
    return (
        bool(config.getoption("--slow"))
        or os.environ.get("SESSIONCTL_SLOW") == "1"
        or "slow" in (config.getoption("markexpr") or "")
    )


_DESELECTED: dict[str, int] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselected (not skipped: they never start), unless asked for:
    - `interop` tests need the real OpenClaw (interop/install.sh): SESSIONCTL_INTEROP=1;
    - `promtool` tests need promtool (Debian's prometheus package, installed by .ci/run):
      SESSIONCTL_PROMTOOL=1; when selected, a missing tool fails;
    - `slow` tests (crash/ENOSPC/kill suites, soak-like tests): --slow or SESSIONCTL_SLOW=1,
      or a -m expression that names `slow`.
    The developer's default run stays fast; CI (.ci/run) runs them all. A test gated on an
    outside tool is never deselected as `slow`: its CI step runs every one."""
    gated = [m for m, var in GATED.items() if os.environ.get(var) != "1"]
    run_slow = _run_slow(config)
    keep, drop = [], []
    _DESELECTED.clear()
    for item in items:
        tool = next((m for m in gated if item.get_closest_marker(m)), None)
        if tool is not None:
            _DESELECTED[tool] = _DESELECTED.get(tool, 0) + 1
            drop.append(item)
        elif (
            not run_slow
            and item.get_closest_marker("slow")
            and not any(item.get_closest_marker(m) for m in GATED)
        ):
            _DESELECTED["slow"] = _DESELECTED.get("slow", 0) + 1
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    """One line per deselected group, printed right after collection (with -q too)."""
    lines = []
    if _DESELECTED.get("slow"):
        lines.append(
            f"sessionctl: {_DESELECTED['slow']} slow tests deselected (crash/ENOSPC/kill, hostile-input, "
            "gateway-concurrency and demo end-to-end suites); "
            "run them with --slow or SESSIONCTL_SLOW=1 (`nox -s test` runs everything)"
        )
    for marker, hint in GATED_HINT.items():
        if _DESELECTED.get(marker):
            lines.append(f"sessionctl: {_DESELECTED[marker]} {marker} tests deselected ({hint})")
    return lines
