"""Runs made by earlier versions stay usable: `undo` reads their journals and gives back
every byte; they are listed as this state dir's runs. Each fixture was made by that very
code (tests/golden/make_legacy_runs.py): states S0 → S4, one run per step.

- legacy-runs-v1: before run folders carried a marker (journal format 1, up to f355449),
  including an undo journal that gave every re-inserted entry the store's whole key order;
- legacy-runs-v2: format 2 as made before store backups were compressed and journals
  referred to them (commit 2c3fab9): plain store copies, every removed entry verbatim.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.helpers import run_json

GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURES = ["legacy-runs-v1", "legacy-runs-v2"]


@pytest.fixture(params=FIXTURES)
def fix(request: pytest.FixtureRequest) -> Path:
    return GOLDEN / str(request.param)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "sessionctl"
    }


def _install(tmp_path: Path, fix: Path) -> tuple[Path, dict[str, str]]:
    """S4 live, the four runs in its runs folder, the journals' placeholder state dir
    replaced by the real one (as if the state dir had always been here)."""
    steps = json.loads((fix / "steps.json").read_text())
    root = (tmp_path / "state").resolve()
    shutil.copytree(fix / "states" / "S4", root)
    runs = root / "sessionctl" / "runs"
    shutil.copytree(fix / "runs", runs)
    if (fix / "state-id").exists():  # format 2: runs belong to the state dir by its id
        shutil.copy2(fix / "state-id", root / "sessionctl" / "state-id")
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


def test_old_runs_are_this_state_dirs_runs(tmp_path: Path, fix: Path) -> None:
    root, runs = _install(tmp_path, fix)
    rc, env, err = run_json("runs", "--state-dir", str(root))
    assert rc == 0, err
    assert {r["run_id"]: r["state"] for r in env["runs"]} == {r: "done" for r in runs.values()}


def test_undo_of_old_runs_gives_back_every_byte(tmp_path: Path, fix: Path) -> None:
    root, runs = _install(tmp_path, fix)
    assert _files(root) == _files(fix / "states" / "S4")
    undone = []
    for step, expect in (("repair", "S3"), ("gc2", "S2"), ("undo1", "S1")):
        rc, env, err = run_json("undo", runs[step], "--state-dir", str(root))
        assert rc == 0, (step, err)
        assert env["summary"]["skipped"] == 0, (step, env["actions"])
        assert _files(root) == _files(fix / "states" / expect), step
        undone.append(env["run_id"])
    # the undo runs made now (format 2) undo as well: back to S2, then S3
    for run_id, expect in ((undone[2], "S2"), (undone[1], "S3")):
        rc, env, err = run_json("undo", run_id, "--state-dir", str(root))
        assert rc == 0, err
        assert _files(root) == _files(fix / "states" / expect)


def test_restore_and_repair_read_the_plain_store_copies_of_old_runs(tmp_path: Path) -> None:
    """Store backups of runs made before compression are plain copies: restore puts them
    back byte for byte (gc2 backed up the stores of S2)."""
    fix = GOLDEN / "legacy-runs-v2"
    root, runs = _install(tmp_path, fix)
    journal = json.loads((root / "sessionctl" / "runs" / runs["gc2"] / "journal.json").read_bytes())
    stores = [b["path"] for b in journal["backups"] if b["kind"] == "store"]
    assert stores and all(not b["backup"].endswith(".zst") for b in journal["backups"])
    rc, _env, err = run_json("restore", runs["gc2"], "--state-dir", str(root))
    assert rc == 0, err
    s2 = _files(fix / "states" / "S2")
    now = _files(root)
    for rel in stores:
        assert now[rel] == s2[rel], rel
    # a store damaged now is repaired from the plain backup of that old run
    (root / stores[0]).write_bytes(b'{"agent:main:main": {')
    rc, _env, err = run_json("repair", "--only", "store", "--from", runs["gc2"], "--state-dir", str(root))
    assert rc == 0, err
    assert json.loads((root / stores[0]).read_bytes()) == json.loads(s2[stores[0]])
