"""prestart against a REAL OpenClaw 2026.5.28 gateway start (issue 13): a state with
several `running` + `abortedLastRun` main sessions of different ages; after
`prestart --max-resume 1 --resume-within 1h` the gateway resumes only the kept one (its
`main-session restart recovery complete: recovered=1 failed=0 skipped=0` line and the
resume turn in the kept session's transcript), and no defused session receives a resume
turn. `undo` of prestart's gc run puts the store back byte for byte. One gateway start
(the recovery pass runs ~5 s after ready; the test polls its log line)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.helpers import run_json

from interop import harness as h

pytestmark = pytest.mark.interop

MIN = 60_000
DAY = 86_400_000
RESUME_TEXT = "interrupted by a gateway restart"
SUMMARY = "main-session restart recovery complete:"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _transcript(sid: str, ts: int) -> str:
    """A transcript whose tail is a user message: resumable by OpenClaw's rule."""
    head = {"type": "session", "version": 3, "id": sid, "timestamp": h.iso_ms(ts), "cwd": "/tmp"}
    msg = {
        "type": "message",
        "id": uuid.uuid4().hex[:8],
        "parentId": None,
        "timestamp": h.iso_ms(ts),
        "message": {
            "role": "user",
            "content": [{"type": "text", "text": f"question {sid[:8]}"}],
            "timestamp": ts,
        },
    }
    return json.dumps(head) + "\n" + json.dumps(msg) + "\n"


def _kept_transcript(state: Path, key: str) -> Path | None:
    """The transcript the store names for `key` now (a resume after the daily reset
    boundary starts a new session id)."""
    try:
        entry = h.read_store(state).get(key) or {}
    except (OSError, ValueError):
        return None
    sf = entry.get("sessionFile") or (f"{entry['sessionId']}.jsonl" if entry.get("sessionId") else None)
    if not sf:
        return None
    p = Path(sf) if Path(sf).is_absolute() else h.sessions_dir(state) / sf
    return p if p.is_file() else None


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_the_gateway_resumes_only_what_prestart_kept(tmp_path: Path) -> None:
    wrapper = h.installed("2026.5.28")
    if wrapper is None:
        pytest.fail(
            "OpenClaw 2026.5.28 is not installed: run interop/install.sh 2026.5.28 (interop/ci.sh does)"
        )
    fm, mport = h.start_fake_model()
    gport = _free_port()
    proc: subprocess.Popen[Any] | None = None
    try:
        state = h.make_state_dir(
            tmp_path,
            ["main"],
            mport,
            extra={
                "gateway": {
                    "mode": "local",
                    "port": gport,
                    "bind": "loopback",
                    "auth": {"mode": "token", "token": "t-13"},
                }
            },
        )
        sdir = h.sessions_dir(state, "main")
        sdir.mkdir(parents=True, exist_ok=True)
        now = int(time.time() * 1000)
        ages = {  # key -> minutes since the last activity
            "agent:main:telegram:direct:1": 5,  # the most recent: kept
            "agent:main:telegram:direct:2": 20,  # within the hour, beyond --max-resume 1
            "agent:main:telegram:direct:3": 3 * 24 * 60,  # days old: the outage
            "agent:main:discord:group:4": 26 * 60,
        }
        store: dict[str, Any] = {}
        for key, age in ages.items():
            sid = str(uuid.uuid4())
            ts = now - age * MIN
            p = sdir / f"{sid}.jsonl"
            p.write_text(_transcript(sid, ts), encoding="utf-8")
            store[key] = {
                "sessionId": sid,
                "updatedAt": ts,
                "sessionStartedAt": ts,
                "lastInteractionAt": ts,
                "startedAt": ts,
                "status": "running",
                "abortedLastRun": True,
                "sessionFile": str(p),
            }
        h.write_store(h.store_path(state), store)
        original = h.store_path(state).read_bytes()
        transcripts = {k: Path(e["sessionFile"]).read_text() for k, e in store.items()}
        args = ("prestart", "--state-dir", str(state), "--max-resume", "1", "--resume-within", "1h")

        # undo of prestart's run restores the store byte for byte
        rc, rep, err = run_json(*args)
        assert rc == 0, err
        gc_step = next(s for s in rep["steps"] if s["name"] == "gc")
        assert gc_step["detail"]["defused"] == 3, gc_step
        rc, _u, err = run_json("undo", gc_step["run_id"], "--state-dir", str(state))
        assert rc == 0, err
        assert h.store_path(state).read_bytes() == original

        rc, rep, err = run_json(*args)
        assert rc == 0, err
        gc_step = next(s for s in rep["steps"] if s["name"] == "gc")
        actions = {r["key"]: r["action"] for r in gc_step["detail"]["resume"]}
        kept = "agent:main:telegram:direct:1"
        assert actions == {k: ("keep" if k == kept else "defuse") for k in ages}
        defused_before = {k: v for k, v in h.read_store(state).items() if k != kept}
        assert all(e["status"] == "failed" and e["abortedLastRun"] is True for e in defused_before.values())

        log = tmp_path / "gateway.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [str(wrapper), "gateway", "run", "--port", str(gport)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=h.openclaw_env(state, {"OPENCLAW_SKIP_CHANNELS": "1", "OPENCLAW_GATEWAY_TOKEN": "t-13"}),
                cwd=str(state),
                start_new_session=True,
            )
            deadline = time.monotonic() + 150
            line = None
            while time.monotonic() < deadline and proc.poll() is None:
                text = log.read_text(errors="replace")
                line = next((ln for ln in text.splitlines() if SUMMARY in ln), None)
                if line is not None:
                    break
                time.sleep(1)
            # the resume is dispatched, then runs on lane main: wait for its turn on disk
            kept_file: Path | None = None
            while line is not None and time.monotonic() < deadline + 60 and proc.poll() is None:
                kept_file = _kept_transcript(state, kept)
                if kept_file is not None and RESUME_TEXT in kept_file.read_text(errors="replace"):
                    break
                time.sleep(1)
            _stop(proc)
        text = log.read_text(errors="replace")
        assert line is not None, f"no recovery summary in the gateway log:\n{text[-3000:]}"
        assert "recovered=1 failed=0 skipped=0" in line, line
        after = h.read_store(state)
        # the defused sessions: untouched by the gateway, no resume turn in their transcripts
        for key, entry in defused_before.items():
            assert after[key] == entry, key
            assert Path(entry["sessionFile"]).read_text() == transcripts[key], key
        # the kept one was resumed (in its own transcript, or a new one after a reset)
        assert f"resumed interrupted main session: {kept}" in text
        resumed = _kept_transcript(state, kept)
        assert resumed is not None and RESUME_TEXT in resumed.read_text(), resumed
    finally:
        if proc is not None:
            _stop(proc)
        h.stop_fake_model(fm)
