"""Runs made before run folders carried a marker (journal format 1, sessionctl up to
f355449) stay usable: `undo` reads their journals — including an undo journal that gave
every re-inserted entry the store's whole key order — and gives back every byte; they
are listed as this state dir's runs. The fixture was made by that very code
(tests/golden/make_legacy_runs.py): states S0 → S4, one run per step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import run_json

FIX = Path(__file__).resolve().parent / "golden" / "legacy-runs-v1"


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "sessionctl"
    }


def _install(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """S4 live, the four runs in its runs folder, the journals' placeholder state dir
    replaced by the real one (as if the state dir had always been here)."""
    steps = json.loads((FIX / "steps.json").read_text())
    root = (tmp_path / "state").resolve()
    shutil.copytree(FIX / "states" / "S4", root)
    runs = root / "sessionctl" / "runs"
    shutil.copytree(FIX / "runs", runs)
    old = steps["placeholder"]
    for name in ("journal.json", "meta.json"):
        for p in runs.glob(f"*/{name}"):
            data = json.loads(p.read_bytes())
            data["state_dir"] = str(root)
            for a in data.get("actions", []):  # copies between runs name their source absolutely
                if isinstance(a.get("source"), str) and a["source"].startswith(old + "/"):
                    a["source"] = str(root) + a["source"][len(old) :]
            p.write_text(json.dumps(data))
    return root, steps["runs"]


def test_format_1_runs_are_this_state_dirs_runs(tmp_path: Path) -> None:
    root, runs = _install(tmp_path)
    rc, env, err = run_json("runs", "--state-dir", str(root))
    assert rc == 0, err
    assert {r["run_id"]: r["state"] for r in env["runs"]} == {r: "done" for r in runs.values()}


def test_undo_of_format_1_runs_gives_back_every_byte(tmp_path: Path) -> None:
    root, runs = _install(tmp_path)
    assert _files(root) == _files(FIX / "states" / "S4")
    undone = []
    for step, expect in (("repair", "S3"), ("gc2", "S2"), ("undo1", "S1")):
        rc, env, err = run_json("undo", runs[step], "--state-dir", str(root))
        assert rc == 0, (step, err)
        assert env["summary"]["skipped"] == 0, (step, env["actions"])
        assert _files(root) == _files(FIX / "states" / expect), step
        undone.append(env["run_id"])
    # the undo runs made now (format 2) undo as well: back to S2, then S3
    for run_id, expect in ((undone[2], "S2"), (undone[1], "S3")):
        rc, env, err = run_json("undo", run_id, "--state-dir", str(root))
        assert rc == 0, err
        assert _files(root) == _files(FIX / "states" / expect)
