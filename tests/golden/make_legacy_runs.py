"""Write tests/golden/legacy-runs-v1/: run folders made by sessionctl BEFORE run folders
carried a marker and journals kept a store's key order once (journal format 1, up to
commit f355449), with the live state after each step, so that tests/test_legacy_runs.py
can prove that `undo` of such runs still gives back every byte.

Run it with an interpreter where sessionctl of that era is installed (the script drives
`python -m sessionctl` of the interpreter running it):

    git worktree add /tmp/old f355449 && python3 -m venv /tmp/old/.venv \
        && /tmp/old/.venv/bin/pip install -e /tmp/old
    /tmp/old/.venv/bin/python tests/golden/make_legacy_runs.py

`legacy-runs-v2` (the argument names the folder) was made the same way by the code of
commit 2c3fab9: format 2 (marker, state id), store backups as plain copies and every
removed entry verbatim in the journal — the last runs made before backups were
compressed and journals referred to them (`entry_in`). A format-2 run belongs to the
state dir by its id, so that fixture also keeps `sessionctl/state-id`.

The state lives at PLACEHOLDER while the runs are made (journals record absolute paths);
the test moves it to a temp folder and rewrites that prefix in the run folders.

Steps (each a run of the old sessionctl):  S0 --gc--> S1 --undo--> S2 --gc--> S3 --repair--> S4
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from support.gc import gc_state  # noqa: E402
from support.helpers import NOW_ISO, NOW_MS, StateDir, clean_env  # noqa: E402

PLACEHOLDER = Path("/tmp/sessionctl-legacy-v1/state")
OUT = HERE / (sys.argv[1] if len(sys.argv) > 1 else "legacy-runs-v1")


def run(*args: str) -> dict[str, object]:
    res = subprocess.run(
        [sys.executable, "-m", "sessionctl", *args, "--state-dir", str(PLACEHOLDER), "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout)
    return out


def snapshot(name: str) -> None:
    """The live files (everything but sessionctl/) as they are now."""
    dst = OUT / "states" / name
    for dirpath, dirnames, filenames in os.walk(PLACEHOLDER):
        rel = Path(dirpath).relative_to(PLACEHOLDER)
        if rel.parts[:1] == ("sessionctl",):
            continue
        for f in filenames:
            src = Path(dirpath) / f
            target = dst / rel / f
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        dirnames.sort()


def main() -> None:
    shutil.rmtree(PLACEHOLDER.parent, ignore_errors=True)
    (PLACEHOLDER / "agents").mkdir(parents=True)
    shutil.rmtree(OUT, ignore_errors=True)
    state = StateDir(PLACEHOLDER)
    gc_state(state)
    # an expired thread binding (a binding-file rewrite) and a transcript with a cut tail
    tele = PLACEHOLDER / "telegram"
    tele.mkdir()
    binding = {
        "conversationId": "c1",
        "targetKind": "subagent",
        "targetSessionKey": "agent:main:subagent:x",
        "agentId": "main",
        "boundAt": NOW_MS - 9 * 86_400_000,
        "lastActivityAt": NOW_MS - 9 * 86_400_000,
        "idleTimeoutMs": 3_600_000,
        "maxAgeMs": 0,
    }
    (tele / "thread-bindings-default.json").write_text(
        json.dumps({"version": 1, "bindings": [binding]}, indent=2)
    )
    sid = state.add_session("ops", "agent:ops:telegram:direct:5", updated_at=NOW_MS - 60_000)
    cut = state.sessions_dir("ops") / f"{sid}.jsonl"
    cut.write_bytes(cut.read_bytes() + b'{"type":"message","id":"0000000')
    snapshot("S0")
    steps = {}
    steps["gc1"] = run("gc", "--now", NOW_ISO, "--max-age", "120h", "--archive-retention", "30d")["run_id"]
    snapshot("S1")
    steps["undo1"] = run("undo", str(steps["gc1"]))["run_id"]
    snapshot("S2")
    steps["gc2"] = run("gc", "--now", NOW_ISO, "--max-age", "120h", "--archive-retention", "30d")["run_id"]
    snapshot("S3")
    steps["repair"] = run("repair", "--now", NOW_ISO, "--only", "transcripts")["run_id"]
    snapshot("S4")
    shutil.copytree(PLACEHOLDER / "sessionctl" / "runs", OUT / "runs", symlinks=True)
    if (PLACEHOLDER / "sessionctl" / "state-id").exists():
        shutil.copy2(PLACEHOLDER / "sessionctl" / "state-id", OUT / "state-id")
    (OUT / "steps.json").write_text(
        json.dumps({"placeholder": str(PLACEHOLDER), "runs": steps}, indent=2) + "\n"
    )
    shutil.rmtree(PLACEHOLDER.parent)
    print(f"wrote {OUT}: {steps}")


if __name__ == "__main__":
    main()
