"""Test-suite setup: tests/ on sys.path (for `helpers`), the `state` fixture, a clean
environment for in-process tests, hypothesis settings, and the `interop` and `promtool` markers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import StateDir

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


# markers whose tests need an outside tool, and the variable that runs them
GATED = {"interop": "SESSIONCTL_INTEROP", "promtool": "SESSIONCTL_PROMTOOL"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`interop` tests need the real OpenClaw (interop/install.sh): they run only with
    SESSIONCTL_INTEROP=1. `promtool` tests need promtool (Debian's prometheus package,
    installed by .ci/run): they run only with SESSIONCTL_PROMTOOL=1. Otherwise they are
    deselected (not skipped: they never start); when selected, a missing tool fails."""
    gated = [m for m, var in GATED.items() if os.environ.get(var) != "1"]
    keep, drop = [], []
    for item in items:
        (drop if any(item.get_closest_marker(m) for m in gated) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
