"""Against the REAL OpenClaw (installed by interop/install.sh into the interop cache).

Deselected unless SESSIONCTL_INTEROP=1 (see tests/conftest.py). First run installs
Node 24 + OpenClaw from the npm registry (~1 min); each 2026.5.28 agent turn ~9 s,
each 2026.4.15 turn ~40-60 s.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interop import harness as h

pytestmark = pytest.mark.interop

KEYS = [
    ("main", "agent:main:main"),
    ("main", "agent:main:telegram:direct:12345"),
    ("ops", "agent:ops:cron:nightly"),
]


@pytest.fixture(scope="module")
def fake_port() -> Iterator[int]:
    with h.fake_model() as port:
        yield port


@pytest.fixture(scope="module")
def real_state(tmp_path_factory: pytest.TempPathFactory, fake_port: int) -> dict[str, Any]:
    h.install(h.DEFAULT_VERSION)
    tmp = tmp_path_factory.mktemp("oc528")
    state = h.make_state_dir(tmp, ["main", "ops"], fake_port)
    runs = [h.run_agent(state, a, k, f"hello {k}") for a, k in KEYS]
    return {"state": state, "runs": runs}


def _sessionctl(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from sessionctl.cli import main; sys.exit(main())"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SESSIONCTL_"))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_store_files_as_openclaw_writes_them(real_state: dict[str, Any]) -> None:
    state: Path = real_state["state"]
    for agent in ("main", "ops"):
        p = h.store_path(state, agent)
        raw = p.read_bytes()
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        assert not raw.endswith(b"\n")
        data = json.loads(raw)
        assert json.dumps(data, indent=2, ensure_ascii=False).encode() == raw
        assert sorted(data) == sorted(k for a, k in KEYS if a == agent)
        for entry in data.values():
            assert list(entry)[:3] == ["sessionId", "updatedAt", "sessionStartedAt"]
            sf = Path(entry["sessionFile"])
            assert sf.is_absolute() and sf.parent == p.parent.resolve()
            assert sf.name == f"{entry['sessionId']}.jsonl" and sf.is_file()
            assert (p.parent / f"{entry['sessionId']}.trajectory.jsonl").is_file()
        assert not list(p.parent.glob("*.lock")) and not list(p.parent.glob("*.tmp"))


def test_run_results_report_session(real_state: dict[str, Any]) -> None:
    for run in real_state["runs"]:
        assert run.returncode == 0
        assert run.output["payloads"][0]["text"].startswith("fake reply")
        store = h.read_store(real_state["state"], run.agent)
        assert store[run.key]["sessionId"] == run.session_id


def test_openclaw_sessions_json_and_cleanup_dry_run(real_state: dict[str, Any]) -> None:
    state: Path = real_state["state"]
    store = h.store_path(state, "main")
    before = store.read_bytes()
    listing = h.openclaw_sessions_json(state, store)
    assert listing["path"] == str(store.resolve())
    assert {s["key"] for s in listing["sessions"]} == {k for a, k in KEYS if a == "main"}
    assert listing["count"] == listing["totalCount"] == 2
    kinds = {s["key"]: s["kind"] for s in listing["sessions"]}
    assert kinds["agent:main:main"] == "direct"
    plan = h.openclaw_cleanup_dry_run(state, store)
    assert plan["dryRun"] is True and plan["wouldMutate"] is False
    assert plan["beforeCount"] == plan["afterCount"] == 2
    assert store.read_bytes() == before


def test_openclaw_keeps_an_external_edit(real_state: dict[str, Any], fake_port: int) -> None:
    """An entry removed by another writer (atomic rename) stays removed after OpenClaw's
    next write; unknown fields we add are preserved."""
    state: Path = real_state["state"]
    store = h.store_path(state, "main")
    data = json.loads(store.read_bytes())
    del data["agent:main:telegram:direct:12345"]
    data["agent:main:main"]["sessionctlTestField"] = {"kept": True}
    tmp = store.with_name("sessions.json.edit.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    os.chmod(tmp, 0o600)
    os.replace(tmp, store)
    h.run_agent(state, "main", "agent:main:discord:group:999", "after the edit")
    after = json.loads(store.read_bytes())
    assert "agent:main:telegram:direct:12345" not in after
    assert after["agent:main:main"]["sessionctlTestField"] == {"kept": True}
    assert "agent:main:discord:group:999" in after


def test_sessionctl_health_on_real_state(real_state: dict[str, Any]) -> None:
    state: Path = real_state["state"]
    snap = {p: p.read_bytes() for p in state.glob("agents/*/sessions/*") if p.is_file()}
    res = _sessionctl("health", "--deep", "--json", "--state-dir", str(state))
    assert res.returncode in (0, 1), res.stderr
    out = json.loads(res.stdout)
    assert out["status"] in ("OK", "WARNING", "ok", "warning")
    assert {p: p.read_bytes() for p in snap} == snap


def test_lock_era_store_lock_payload(tmp_path: Path, fake_port: int) -> None:
    """2026.4.15 holds sessions.json.lock around store writes: {pid, createdAt, starttime}."""
    h.install(h.LOCK_ERA_VERSION)
    state = h.make_state_dir(tmp_path, ["main", "ops"], fake_port)
    run = h.run_agent(state, "main", "agent:main:main", "lock era", version=h.LOCK_ERA_VERSION, watch=True)
    assert run.argv[:4] == ["agent", "--local", "--agent", "main"]
    payloads = [json.loads(c) for _, n, c in run.events if n == "sessions.json.lock" and c]
    assert payloads, f"no store lock seen: {run.events}"
    for p in payloads:
        assert list(p) == ["pid", "createdAt", "starttime"]
        assert isinstance(p["pid"], int) and isinstance(p["starttime"], int)
    store = h.store_path(state, "main")
    assert not store.read_bytes().endswith(b"\n")
    assert not (store.parent / "sessions.json.lock").exists()
