"""The demo state (fixtures/make_demo.py → fixtures/demo-state) and the benchmark state
generator (benchmarks/make_state.py): deterministic, realistic, and showing the problems
they are meant to show."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.helpers import run_cli

from sessionctl.keys import parse_key

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "fixtures" / "demo-state"
MAKE_DEMO = REPO / "fixtures" / "make_demo.py"
MAKE_STATE = REPO / "benchmarks" / "make_state.py"
DEMO_NOW = "2026-05-01T12:00:00Z"


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every regular file under root: relative path → (bytes, permission bits)."""
    out: dict[str, tuple[bytes, int]] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            st = p.lstat()
            assert stat.S_ISREG(st.st_mode), f"{p} is not a regular file"
            out[str(p.relative_to(root))] = (p.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def run(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo-state"
    proc = run(MAKE_DEMO, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


# --------------------------------------------------------------------------- demo


def test_demo_regenerates_byte_identical_to_the_committed_tree(regenerated: Path) -> None:
    committed, fresh = tree(DEMO), tree(regenerated)
    assert sorted(fresh) == sorted(committed), "file set differs: run python fixtures/make_demo.py"
    differ = [rel for rel in fresh if fresh[rel][0] != committed[rel][0]]
    assert differ == [], f"contents differ (regenerate and commit fixtures/demo-state): {differ[:5]}"
    # git keeps only the executable bit of a file; the exact modes are checked below
    exec_bits = {rel: (fresh[rel][1] & 0o111, committed[rel][1] & 0o111) for rel in fresh}
    assert all(a == b == 0 for a, b in exec_bits.values())
    if shutil.which("git") and (REPO / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-s", "--", "fixtures/demo-state"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        tracked = {
            line.split("\t", 1)[1].removeprefix("fixtures/demo-state/"): line.split()[0] for line in listed
        }
        assert sorted(tracked) == sorted(fresh), "demo files not committed (git add fixtures/demo-state)"
        assert set(tracked.values()) == {"100644"}


def test_demo_modes_are_the_ones_openclaw_uses(regenerated: Path) -> None:
    fresh = tree(regenerated)
    for rel, (_data, mode) in fresh.items():
        name = rel.rsplit("/", 1)[-1]
        if name == "sessions.json" or name.endswith((".tmp", "thread-bindings.json", "openclaw.json")):
            assert mode == 0o600, rel
        elif name.endswith(".jsonl") or ".jsonl." in name or name.endswith(".lock"):
            assert mode in (0o644, 0o600), rel
    store = regenerated / "agents" / "main" / "sessions" / "sessions.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_demo_is_deterministic_and_small(tmp_path: Path, regenerated: Path) -> None:
    again = tmp_path / "again"
    assert run(MAKE_DEMO, "--out", again).returncode == 0
    assert tree(again) == tree(regenerated)
    total = sum(len(d) for d, _m in tree(regenerated).values())
    assert total < 3 * 1024 * 1024


def test_make_demo_refuses_to_replace_a_foreign_folder(tmp_path: Path) -> None:
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "notes.txt").write_text("keep me")
    proc = run(MAKE_DEMO, "--out", victim)
    assert proc.returncode != 0
    assert "refusing" in proc.stderr
    assert (victim / "notes.txt").read_text() == "keep me"


def load_stores(root: Path) -> dict[str, dict[str, Any]]:
    stores = {}
    for p in sorted((root / "agents").glob("*/sessions/sessions.json")):
        raw = p.read_bytes()
        data = json.loads(raw)
        # exactly JSON.stringify(store, null, 2): 2-space indent, no trailing newline, UTF-8 kept
        assert raw == json.dumps(data, indent=2, ensure_ascii=False).encode()
        assert not raw.endswith(b"\n")
        stores[p.parent.parent.name] = data
    return stores


def check_transcript(path: Path) -> tuple[bool, bool]:
    """(header_ok, ends_with_newline); asserts every complete line after the header
    parses and every parentId is null or an earlier id."""
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with "\n"
    first = json.loads(lines[0])
    header_ok = first.get("type") == "session" and first.get("version") == 3 and bool(first.get("id"))
    seen = {first.get("id")}
    for line in lines[1:]:
        obj = json.loads(line)
        assert len(obj["id"]) == 8 and int(obj["id"], 16) >= 0
        assert obj["parentId"] is None or obj["parentId"] in seen, f"{path.name}: broken parentId"
        assert obj["timestamp"].endswith("Z")
        seen.add(obj["id"])
    return header_ok, tail == b""


def test_demo_store_entries_look_like_openclaw_wrote_them(regenerated: Path) -> None:
    stores = load_stores(regenerated)
    assert sorted(stores) == ["illarion", "main", "marketer"]
    kinds: set[str] = set()
    for agent, store in stores.items():
        for key, entry in store.items():
            kinds.add(parse_key(key).kind)
            assert parse_key(key).agent == agent
            assert isinstance(entry["sessionId"], str) and len(entry["sessionId"]) == 36
            assert isinstance(entry["updatedAt"], int) and isinstance(entry["sessionStartedAt"], int)
            if "systemPromptReport" in entry:
                size = len(json.dumps(entry, indent=2))
                assert 8_000 < size < 20_000, (key, size)
                assert len(entry["systemPromptReport"]["tools"]["entries"]) >= 10
                assert len(entry["skillsSnapshot"]["prompt"]) > 2000
    assert {
        "main",
        "direct",
        "group",
        "channel",
        "thread",
        "topic",
        "cron-job",
        "cron-run",
        "subagent",
        "acp",
        "hook",
        "dashboard",
        "explicit",
        "heartbeat",
    } <= kinds
    main = stores["main"]
    statuses = {e.get("status") for k, e in main.items() if parse_key(k).kind == "subagent"}
    assert {"running", "failed"} <= statuses
    assert any(k != k.lower() for k in main), "a mixed-case key"
    cps = main["agent:main:main"]["compactionCheckpoints"]
    cp_file = cps[0]["preCompaction"]["sessionFile"].rsplit("/", 1)[-1]
    assert (regenerated / "agents" / "main" / "sessions" / cp_file).is_file()
    assert ".checkpoint." in cp_file
    burst = sorted(e["sessionStartedAt"] for k, e in stores["marketer"].items() if "dyad-coord-" in k)
    assert len(burst) >= 50 and burst[-1] - burst[0] < 3_600_000


def test_demo_transcripts_are_valid_except_the_planted_ones(regenerated: Path) -> None:
    bad_header, truncated, good = [], [], 0
    for p in sorted((regenerated / "agents").glob("*/sessions/*.jsonl")):
        if p.name.endswith(".acp-stream.jsonl") or ".trajectory" in p.name:
            continue
        header_ok, newline = check_transcript(p)
        if not header_ok:
            bad_header.append(p.name)
        elif not newline:
            truncated.append(p.name)
        else:
            good += 1
    assert len(bad_header) == 1 and len(truncated) == 1
    assert good > 80


def findings(state: Path) -> tuple[dict[str, Any], str]:
    res = run_cli(
        "health",
        "--state-dir",
        str(state),
        "--now",
        DEMO_NOW,
        "--json",
        env=dict(os.environ),
        cwd=REPO,
        timeout=120,
    )
    assert res.stdout, res.stderr
    return json.loads(res.stdout), res.stdout + res.stderr


def test_demo_health_reports_the_planted_problems(regenerated: Path) -> None:
    env, output = findings(regenerated)
    assert env["exit_code"] == 2  # CRITICAL: bad header, path outside, oversized tokens
    got = {(f["severity"], f.get("key") or Path(f.get("path") or "").name) for f in env["findings"]}
    stores = load_stores(regenerated)
    sid = {k: e["sessionId"] for s in stores.values() for k, e in s.items()}
    expected = {
        ("critical", "agent:illarion:telegram:direct:5550007777"),  # bad header
        ("critical", "agent:main:explicit:imported-notes"),  # sessionFile outside
        ("warning", "agent:illarion:discord:channel:1203344556677889911"),  # truncated tail
        ("warning", "agent:main:telegram:direct:5550004444"),  # old entry, transcript missing
        ("warning", "sessions.json.lock"),  # stale lock (pid cannot exist)
        ("warning", "agent:main:explicit:Q2-Planning"),  # mixed case
        ("warning", "agent:illarion:telegram:direct:7781234567"),  # duplicate peer / oversized
        ("warning", "agent:main:telegram:direct:7781234567"),  # stray: binding routes to illarion
    }
    assert expected <= got, expected - got
    dashboard = next(k for k in stores["main"] if ":dashboard:" in k)
    assert ("info", dashboard) in got  # fresh entry, no transcript yet
    referenced = set(sid.values())
    orphans = [
        p.name
        for p in (regenerated / "agents" / "marketer" / "sessions").glob("*.jsonl")
        if p.stem not in referenced
    ]
    assert len(orphans) == 1 and ("warning", orphans[0]) in got
    storm = [f for f in env["findings"] if f["agent"] == "marketer" and "50" in f["message"]]
    assert storm, "the dyad-coord burst is reported"
    bindings = [f for f in env["findings"] if Path(f.get("path") or "").name == "thread-bindings.json"]
    assert len(bindings) == 2  # one expired, one dangling
    tokens = [
        b["webhookToken"]
        for b in json.loads((regenerated / "discord/thread-bindings.json").read_text())["bindings"].values()
    ]
    assert len(tokens) == 2 and all(t not in output for t in tokens)


def test_demo_list_shows_every_session_and_never_a_secret(regenerated: Path) -> None:
    res = run_cli(
        "list",
        "--state-dir",
        str(regenerated),
        "--now",
        DEMO_NOW,
        "--json",
        env=dict(os.environ),
        cwd=REPO,
        timeout=120,
    )
    assert res.rc == 0, res.stderr
    env = json.loads(res.stdout)
    rows = env["sessions"]
    assert len(rows) == sum(len(s) for s in load_stores(regenerated).values())
    raw = (regenerated / "discord/thread-bindings.json").read_text()
    for b in json.loads(raw)["bindings"].values():
        assert b["webhookToken"] not in res.stdout + res.stderr


# --------------------------------------------------------------------------- benchmark state

SMALL = ("--entries", "200", "--transcripts", "300", "--max-transcript-mb", "2", "--seed", "7")


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Contents, modes and mtimes of every file (the generator sets all three)."""
    return {rel: (data, mode, (root / rel).stat().st_mtime_ns) for rel, (data, mode) in tree(root).items()}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, tuple[bytes, int, int]]]:
    out = tmp_path_factory.mktemp("bench") / "state"
    proc = run(MAKE_STATE, out, *SMALL)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout, snapshot(out)


def test_make_state_is_deterministic(bench: tuple[Path, str, dict[str, tuple[bytes, int, int]]]) -> None:
    out, _summary, first = bench
    # same arguments, same path (absolute sessionFile paths name it): identical tree
    proc = run(MAKE_STATE, out, *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(out) == first
    other = out.parent / "other-seed"
    assert run(MAKE_STATE, other, *SMALL[:-1], "8").returncode == 0
    assert tree(other) != {rel: (d, m) for rel, (d, m, _t) in first.items()}


def test_make_state_entries_look_real_and_mix_kinds(
    bench: tuple[Path, str, dict[str, tuple[bytes, int, int]]],
) -> None:
    out, summary, _ = bench
    stores = load_stores(out)
    assert len(stores) == 3
    assert sum(len(s) for s in stores.values()) == 200
    kinds = {parse_key(k).kind for s in stores.values() for k in s}
    assert {
        "main",
        "direct",
        "group",
        "channel",
        "thread",
        "topic",
        "cron-job",
        "cron-run",
        "subagent",
        "hook",
        "heartbeat",
        "explicit",
    } <= kinds
    sizes = [len(json.dumps(e, indent=2)) for s in stores.values() for e in s.values()]
    assert 10_000 < sum(sizes) / len(sizes) < 20_000  # ~15 KB, mostly the prompt report
    ages = [
        1_777_636_800_000 - e["updatedAt"] for s in stores.values() for e in s.values()
    ]  # DEFAULT_NOW in ms
    day = 86_400_000
    assert min(ages) < day and max(ages) > 30 * day  # gc has work at several thresholds
    # the skills prompt blobs the entries point at exist, with the right size and hash
    for agent, store in stores.items():
        refs = {
            e["skillsSnapshot"]["promptRef"]["hash"]: e["skillsSnapshot"]["promptRef"]["bytes"]
            for e in store.values()
            if "skillsSnapshot" in e
        }
        for digest_hex, size in refs.items():
            blob = (
                out
                / "agents"
                / agent
                / "sessions"
                / "skills-prompts"
                / "sha256"
                / digest_hex[:2]
                / f"{digest_hex}.txt"
            )
            assert blob.stat().st_size == size
    assert "entries     200" in summary and "transcripts 300 files" in summary


def test_make_state_transcripts_and_leftovers(
    bench: tuple[Path, str, dict[str, tuple[bytes, int, int]]],
) -> None:
    out, _summary, _ = bench
    stores = load_stores(out)
    sids = {e["sessionId"] for s in stores.values() for e in s.values()}
    names = [p.name for p in (out / "agents").glob("*/sessions/*") if p.is_file()]
    transcripts = [n for n in names if ".jsonl" in n and not n.endswith(".lock")]
    assert len(transcripts) == 300
    for p in (out / "agents").glob("*/sessions/*.jsonl*"):
        if p.name.endswith(".lock"):
            continue
        header_ok, newline = check_transcript(p)
        assert header_ok and newline, p.name
    orphans = [
        n
        for n in transcripts
        if n.endswith(".jsonl") and n.split("-topic-")[0].removesuffix(".jsonl") not in sids
    ]
    assert orphans
    assert any(".jsonl.deleted." in n for n in names) and any(".jsonl.reset." in n for n in names)
    lock = json.loads((out / "agents" / "main" / "sessions" / "sessions.json.lock").read_text())
    assert lock["pid"] > 4_194_304 and lock["createdAt"].endswith("Z")
    assert any(n.startswith("sessions.json.") and n.endswith(".tmp") for n in names)
    bindings = json.loads((out / "discord" / "thread-bindings.json").read_text())["bindings"]
    assert bindings and all(b["webhookToken"] for b in bindings.values())


def test_make_state_respects_the_disk_cap(tmp_path: Path) -> None:
    out = tmp_path / "capped"
    proc = run(MAKE_STATE, out, "--entries", "50", "--transcripts", "400", "--total-transcript-gb", "0.005")
    assert proc.returncode == 0, proc.stderr
    total = sum(
        p.stat().st_size for p in (out / "agents").glob("*/sessions/*.jsonl*") if not p.name.endswith(".lock")
    )
    assert total <= 0.005 * 1024**3 * 1.1
    assert "scaled by" in proc.stdout


def test_make_state_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    victim = tmp_path / "home"
    victim.mkdir()
    (victim / "diary.txt").write_text("mine")
    proc = run(MAKE_STATE, victim, "--entries", "10", "--transcripts", "10")
    assert proc.returncode != 0 and "refusing" in proc.stderr
    assert (victim / "diary.txt").read_text() == "mine"
