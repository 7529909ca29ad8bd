"""The state dir the real OpenClaw 2026.5.28 wrote (interop/sample-state-2026.5.28,
made by interop/generate_sample.py): a moved state dir, whose absolute sessionFile
paths point at its old location and whose sessions carry the trajectory sidecars
OpenClaw writes. Tests work on a copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support.helpers import REPO

SAMPLE = REPO / "interop" / "sample-state-2026.5.28"


def copy_sample(tmp_path: Path) -> Path:
    """A copy of the sample (`<tmp>/state`, mtimes kept)."""
    dst = tmp_path / "state"
    shutil.copytree(SAMPLE, dst, copy_function=shutil.copy2)
    return dst


def newest_activity(state: Path) -> int:
    """The newest updatedAt / lastInteractionAt of every store (epoch ms): the sample's
    sessions are dated when it was made, so tests set --now relative to this."""
    newest = 0
    for store in state.glob("agents/*/sessions/sessions.json"):
        for e in json.loads(store.read_bytes()).values():
            newest = max(newest, int(e["updatedAt"]), int(e.get("lastInteractionAt") or 0))
    return newest
