"""Test-suite setup: tests/ on sys.path (for `helpers`), the `state` fixture, a clean
environment for in-process tests, hypothesis settings, and the `interop` marker."""

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`interop` tests need the real OpenClaw (interop/install.sh): they run only with
    SESSIONCTL_INTEROP=1 and are deselected otherwise (not skipped: they never start)."""
    if os.environ.get("SESSIONCTL_INTEROP") == "1":
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("interop") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
