"""Node is the judge of JSON: every case of the odd-JSON corpus (tests/support/js_json_corpus.py)
is read by the real Node that runs OpenClaw and by sessionctl, and they must agree.

- lines: `JSON.parse(buffer.toString("utf8"))` in Node 24 vs sessionctl.jsonjs — the
  verdict (valid or not), the parsed value (both printed as `JSON.stringify(v, null, 2)`),
  and the verdict recorded in the corpus (what the unit tests rely on);
- transcripts: OpenClaw's OWN reader (`loadEntriesFromFile`, imported from the installed
  release's shipped JavaScript) vs sessionctl's transcript reader — header valid or not,
  and how many non-blank lines it skips (or reads as something other than an entry);
- stores: `JSON.parse(readFileSync(p, "utf-8"))` vs sessionctl's store loader, and the
  real `openclaw sessions --json` on a copy of the 2026.5.28 sample whose store holds
  an invalid UTF-8 byte, a lone surrogate and 1e400: OpenClaw lists every session,
  sessionctl calls the store valid and prestart leaves it byte for byte.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.helpers import NOW_ISO, js_stringify, run_json
from support.js_json_corpus import LINES, TRANSCRIPTS

from interop import harness as h

pytestmark = pytest.mark.interop

NODE_LINES = r"""
const fs = require("fs");
const cases = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const out = {};
for (const [name, b64] of Object.entries(cases)) {
  const text = Buffer.from(b64, "base64").toString("utf8");
  let v;
  try { v = JSON.parse(text); } catch (e) { out[name] = { valid: false }; continue; }
  let printed = null;
  try { printed = JSON.stringify(v, null, 2); } catch (e) { printed = null; }  // too deep to print
  out[name] = { valid: true, printed };
}
fs.writeFileSync(process.argv[2], JSON.stringify(out));
"""

NODE_TRANSCRIPTS = r"""
const fs = require("fs");
const [file, exportName, casesPath, outPath] = process.argv.slice(1);
import(file).then((mod) => {
  const load = mod[exportName];
  const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
  const out = {};
  for (const [name, path] of Object.entries(cases)) {
    let entries;
    try { entries = load(path); } catch (e) { out[name] = { header_valid: false, error: String(e) }; continue; }
    const content = fs.readFileSync(path, "utf8");
    const nonBlank = content.trim().split("\n").filter((l) => l.trim()).length;
    const notEntries = entries.slice(1).filter((e) => typeof e !== "object" || e === null || Array.isArray(e)).length;
    out[name] = { header_valid: entries.length > 0, skipped: nonBlank - entries.length + notEntries };
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
});
"""


def _node(script: str, *args: str) -> None:
    node = h.node_binary()
    res = subprocess.run([str(node), "-e", script, *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def _js_value(value: Any) -> str | None:
    """A parsed value as JSON.stringify(v, null, 2) prints it (None when too deep)."""
    try:
        return js_stringify(value)
    except RecursionError:
        return None


def test_node_and_sessionctl_agree_on_every_line(tmp_path: Path) -> None:
    from sessionctl import jsonjs

    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps({n: base64.b64encode(raw).decode() for n, (raw, _v) in LINES.items()}))
    result = tmp_path / "node.json"
    _node(NODE_LINES, str(cases), str(result))
    node = json.loads(result.read_text())
    disagree: list[tuple[object, ...]] = []
    for name, (raw, recorded) in sorted(LINES.items()):
        try:
            ours: Any = jsonjs.loads(raw)
            valid = True
        except jsonjs.JSONError:
            valid = False
        if not (node[name]["valid"] == valid == recorded):
            disagree.append((name, "node", node[name]["valid"], "sessionctl", valid, "recorded", recorded))
            continue
        if valid and node[name]["printed"] is not None:
            mine = _js_value(ours)
            if mine is not None and mine != node[name]["printed"]:
                disagree.append((name, "value", node[name]["printed"][:200], mine[:200]))
    assert disagree == [], disagree
    assert sum(1 for n in LINES if node[n]["valid"]) >= 40  # the corpus really has both sides


@pytest.mark.parametrize("version", [h.DEFAULT_VERSION, h.LOCK_ERA_VERSION])
def test_openclaws_transcript_reader_and_sessionctls_agree(tmp_path: Path, version: str) -> None:
    from sessionctl.transcripts import deep_scan, read_facts

    file, export = h.openclaw_module("loadEntriesFromFile", version)
    paths = {}
    for name, (data, _valid, _bad) in TRANSCRIPTS.items():
        p = tmp_path / f"{name}.jsonl"
        p.write_bytes(data)
        paths[name] = str(p)
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(paths))
    result = tmp_path / "node.json"
    _node(NODE_TRANSCRIPTS, str(file), export, str(cases), str(result))
    node = json.loads(result.read_text())
    disagree = []
    for name, (_data, header_valid, bad) in sorted(TRANSCRIPTS.items()):
        facts = read_facts(Path(paths[name]))
        ours: dict[str, int | bool] = {"header_valid": facts.header_ok}
        if facts.header_ok:
            ours["skipped"] = len(deep_scan(Path(paths[name]), facts).bad_lines or [])
        theirs = {k: node[name][k] for k in ours if k in node[name]}
        recorded = {"header_valid": header_valid, "skipped": bad}
        if ours != theirs or any(recorded[k] != v for k, v in ours.items()):
            disagree.append((name, "openclaw", node[name], "sessionctl", ours, "recorded", recorded))
    assert disagree == [], disagree


def test_a_real_store_with_odd_bytes_is_read_by_openclaw_and_left_alone_by_sessionctl(tmp_path: Path) -> None:
    """Item 4 against the real 2026.5.28: a store whose only flaws are an invalid UTF-8
    byte, a lone surrogate and 1e400 keeps every session in OpenClaw; sessionctl agrees,
    and neither repair nor prestart "restores" it from an older backup."""
    sample = h.INTEROP_DIR / f"sample-state-{h.DEFAULT_VERSION}"
    state = tmp_path / "state"
    shutil.copytree(sample, state)
    store = state / "agents" / "main" / "sessions" / "sessions.json"
    # an older backup first (what repair used to restore from)
    rc, env, err = run_json("backup", "--state-dir", str(state), "--now", NOW_ISO)
    assert rc == 0, (rc, env, err)
    raw = store.read_bytes()
    key = next(iter(json.loads(raw)))
    odd = raw.replace(b'"updatedAt": ', b'"odd": "caf\xe9 \\ud83d", "big": 1e400, "updatedAt": ', 1)
    assert odd != raw
    store.write_bytes(odd)

    listing = h.openclaw_sessions_json(state, store)
    assert sorted(s["key"] for s in listing["sessions"]) == sorted(json.loads(raw)), listing
    probe = tmp_path / "probe.json"
    _node(
        r"""const fs = require("fs"); const v = JSON.parse(fs.readFileSync(process.argv[1], "utf-8"));
fs.writeFileSync(process.argv[2], JSON.stringify({keys: Object.keys(v), odd: v[process.argv[3]].odd}));""",
        str(store),
        str(probe),
        key,
    )
    seen = json.loads(probe.read_text())
    from sessionctl.store import load_store

    load = load_store(store)
    assert load.status == "ok" and load.data is not None
    assert list(load.data) == seen["keys"]
    assert load.data[key]["odd"] == seen["odd"] == "caf\ufffd \ud83d"

    for args in (["repair", "--only", "store"], ["prestart"]):
        rc, env, err = run_json(*args, "--state-dir", str(state), "--now", NOW_ISO)
        assert rc == 0, (args, rc, env, err)
        assert store.read_bytes() == odd, args
