"""archive on real files through the real CLI: orphans (every kind, conservative about
references), retention, export with compression, dry runs and undo."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

from support.helpers import DAY_MS, NOW_ISO, NOW_MS, StateDir, start_paused, transcript_bytes
from support.repair import (
    assert_dry_run_changes_nothing,
    checks,
    cli,
    journal,
    live_files,
    run_and_undo,
    run_dir,
    set_age,
    undo,
)

ORPHAN = "99999999-9999-4999-8999-999999999999"


def with_orphans(state: StateDir) -> tuple[str, dict[str, bytes]]:
    """A live session with all its side files, and an orphan with all of its kinds."""
    live = state.add_session("main", "agent:main:main")
    state.add_session("main", "agent:main:telegram:direct:5")
    sdir = state.sessions_dir("main")
    for name in (
        f"{live}-topic-7.jsonl",
        f"2026-04-30T10-00-00.000Z_{live}.jsonl",
        f"{live}.checkpoint.0b5f3c1e-7a52-4d8e-9a0c-2f4b6d8e1a37.jsonl",
        f"{live}.jsonl.trajectory.jsonl",
        f"{live}.jsonl.trajectory-path.json",
        f"{live}.acp-stream.jsonl",
    ):
        (sdir / name).write_bytes(b'{"x":1}\n')
    orphans = {
        f"{ORPHAN}.jsonl": transcript_bytes(ORPHAN),
        f"{ORPHAN}-topic-7.jsonl": b'{"t":1}\n',
        f"2026-04-30T10-00-00.000Z_{ORPHAN}.jsonl": b'{"f":1}\n',
        f"{ORPHAN}.checkpoint.1b5f3c1e-7a52-4d8e-9a0c-2f4b6d8e1a37.jsonl": b'{"c":1}\n',
        f"{ORPHAN}.jsonl.trajectory.jsonl": b'{"tr":1}\n',
        f"{ORPHAN}.jsonl.trajectory-path.json": b'{"p":1}',
        f"{ORPHAN}.acp-stream.jsonl": b'{"a":1}\n',
    }
    for name, data in orphans.items():
        (sdir / name).write_bytes(data)
    for p in sdir.iterdir():
        set_age(p, 2 * 3600)
    return live, orphans


def test_orphans_of_every_kind_are_archived_and_live_files_never(state: StateDir) -> None:
    _live, orphans = with_orphans(state)
    sdir = state.sessions_dir("main")
    env = assert_dry_run_changes_nothing(state, "archive")
    assert sorted(a["from"].rsplit("/", 1)[1] for a in env["actions"]) == sorted(orphans)
    run_and_undo(state, "archive")
    for name in orphans:
        set_age(sdir / name, 2 * 3600)  # undo just renamed them back
    before = live_files(state.root)
    rc, env, err = cli(state, "archive")
    assert rc == 0, err
    after = live_files(state.root)
    for name, data in orphans.items():
        rel = f"agents/main/sessions/{name}"
        assert rel not in after
        archived = [k for k in after if k.startswith(rel + ".deleted.")]
        assert len(archived) == 1 and after[archived[0]] == data
    # every file that belongs to a live session is untouched
    assert {k: v for k, v in before.items() if ORPHAN not in k} == {
        k: v for k, v in after.items() if ORPHAN not in k
    }


def test_young_and_locked_orphans_are_spared(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    sdir = state.sessions_dir("main")
    (sdir / "aaaaaaaa-0000-4000-8000-000000000001.jsonl").write_bytes(b"{}\n")  # young
    old = sdir / "aaaaaaaa-0000-4000-8000-000000000002.jsonl"
    old.write_bytes(b"{}\n")
    set_age(old, 2 * 3600)
    (sdir / "aaaaaaaa-0000-4000-8000-000000000002.jsonl.lock").write_bytes(b'{"pid": 1}')
    rc, env, _err = cli(state, "archive")
    assert rc == 0 and env["actions"] == []
    assert sorted(k["check"] for k in env["kept"]) == ["orphan.locked", "orphan.young"]
    # a minute old: past --older-than 1s however fast the run above was
    set_age(sdir / "aaaaaaaa-0000-4000-8000-000000000001.jsonl", 60)
    rc, env, _err = cli(state, "archive", "--older-than", "1s")
    assert [a["from"].rsplit("/", 1)[1] for a in env["actions"]] == [
        "aaaaaaaa-0000-4000-8000-000000000001.jsonl"
    ]


def test_references_from_other_agents_and_checkpoints_count(state: StateDir) -> None:
    sdir_b = state.sessions_dir("b")
    sdir_b.mkdir(parents=True)
    shared = "bbbbbbbb-0000-4000-8000-000000000001"
    (sdir_b / f"{shared}.jsonl").write_bytes(transcript_bytes(shared))
    cp = "cccccccc-0000-4000-8000-000000000001.checkpoint.0b5f3c1e-7a52-4d8e-9a0c-2f4b6d8e1a37.jsonl"
    (state.sessions_dir("main")).mkdir(parents=True)
    (state.sessions_dir("main") / cp).write_bytes(b"{}\n")
    state.add_session(
        "main",
        "agent:main:main",
        compactionCheckpoints=[{"preCompaction": {"sessionFile": str(state.sessions_dir("main") / cp)}}],
    )
    # agent a's entry points at b's transcript through a sibling sessionFile
    state.add_session(
        "a", "agent:a:main", session_id=shared, transcript=False, sessionFile=str(sdir_b / f"{shared}.jsonl")
    )
    state.write_store("b", {})
    for p in [*sdir_b.iterdir(), state.sessions_dir("main") / cp]:
        set_age(p, 2 * 3600)
    rc, env, _err = cli(state, "archive")
    assert rc == 0 and env["actions"] == [], env["actions"]


def test_a_damaged_store_means_nothing_in_its_folder_is_archived(state: StateDir) -> None:
    with_orphans(state)
    state.store_path("main").write_bytes(b"{ damaged")
    before = live_files(state.root)
    rc, env, _err = cli(state, "archive")
    assert rc == 0 and env["actions"] == []
    assert [p["check"] for p in env["problems"]] == ["archive.references_unknown"]
    assert live_files(state.root) == before


def with_archives(state: StateDir) -> dict[str, bytes]:
    sid = state.add_session("main", "agent:main:explicit:archived")
    sdir = state.sessions_dir("main")
    files = {
        f"{sid}.jsonl.deleted.2026-03-01T00-00-00.000Z": b"old deleted\n",  # 61 days before NOW
        f"{sid}.jsonl.reset.2026-03-15T10-11-12.345Z": b"old reset\n",
        f"{sid}.jsonl.deleted.2026-04-30T00-00-00.000Z": b"young deleted\n",
        f"{sid}.jsonl.bak.2026-01-01T00-00-00.000Z": b"quarantine: never purged\n",
    }
    for name, data in files.items():
        (sdir / name).write_bytes(data)
    return files


def test_retention_moves_old_archives_into_the_run(state: StateDir) -> None:
    files = with_archives(state)
    sdir = state.sessions_dir("main")
    env = assert_dry_run_changes_nothing(state, "archive", "--retention", "30d")
    assert checks(env) == ["archive.expired", "archive.expired"]
    run_and_undo(state, "archive", "--retention", "30d")
    rc, env, err = cli(state, "archive", "--retention", "30d")
    assert rc == 0, err
    left = sorted(p.name for p in sdir.iterdir() if ".jsonl." in p.name)
    assert left == sorted(n for n in files if "young" in files[n].decode() or ".bak." in n)
    moved = run_dir(state, env) / "moved" / "agents" / "main" / "sessions"
    assert sorted(p.name for p in moved.iterdir()) == sorted(n for n in files if b"old" in files[n])


def test_retention_without_backup_deletes_and_is_journaled(state: StateDir) -> None:
    files = with_archives(state)
    sdir = state.sessions_dir("main")
    rc, env, err = cli(state, "archive", "--retention", "30d", "--no-backup")
    assert rc == 0, err
    gone = sorted(n for n in files if b"old" in files[n])
    assert all(not (sdir / n).exists() for n in gone)
    acts = journal(state, env)["actions"]
    assert sorted(a["path"].rsplit("/", 1)[1] for a in acts if a["type"] == "file.delete") == gone
    assert not (run_dir(state, env) / "moved").exists()
    # undo cannot bring them back and says so
    out = undo(state, env["run_id"])
    assert all(not (sdir / n).exists() for n in gone)
    assert "cannot be restored" in json.dumps(out)


def archive_paused(
    state: StateDir, flag: Path, point: str, args: list[str], during: Any, rc: int = 0
) -> dict[str, Any]:
    """`sessionctl archive *args --json`, paused at fault point `point` (after planning,
    before any change) while `during()` changes files; returns the envelope."""
    proc = start_paused(["archive", "--state-dir", str(state.root), "--now", NOW_ISO, *args], point, flag)
    try:
        during()
    finally:
        flag.write_text("go")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == rc, err
    envelope: dict[str, Any] = json.loads(out)
    return envelope


def test_no_backup_never_deletes_an_archive_replaced_by_other_content_of_the_same_size(
    state: StateDir, tmp_path: Path
) -> None:
    files = with_archives(state)
    sdir = state.sessions_dir("main")
    name = next(n for n in files if b"old deleted" in files[n])
    other = b"new content\n"
    assert len(other) == len(files[name])

    def replace() -> None:
        (sdir / name).write_bytes(other)

    env = archive_paused(
        state, tmp_path / "go", "journal.write", ["--retention", "30d", "--no-backup"], replace
    )
    assert (sdir / name).read_bytes() == other  # not deleted: not the content planned on
    acts = {a["path"].rsplit("/", 1)[1]: a for a in env["actions"] if a["type"] == "file.delete"}
    assert acts[name]["state"] == "skipped" and acts[name]["note"] == "file changed since planning"
    other_old = next(n for n in files if b"old reset" in files[n])
    assert acts[other_old]["state"] == "applied" and not (sdir / other_old).exists()


def test_an_archive_written_between_its_check_and_its_move_is_put_back(
    state: StateDir, tmp_path: Path
) -> None:
    """The move into the run checks the content first and, when the moved file is not the
    very file checked (other inode, size or mtime), checks it again: an archive written
    in place while the run renames it goes back where it was, never into the run."""
    files = with_archives(state)
    sdir = state.sessions_dir("main")
    old = [n for n in files if b"old " in files[n]]
    assert len(old) == 2

    def rewrite_in_place() -> None:
        for n in old:
            with open(sdir / n, "r+b") as f:
                f.write(b"X")  # same size, new content, new mtime; same inode

    # nothing applied: exit 75, "run the command again"
    env = archive_paused(
        state, tmp_path / "go", "rename", ["--no-orphans", "--retention", "30d"], rewrite_in_place, rc=75
    )
    assert [e["code"] for e in env["errors"]] == ["busy"]
    moves = {a["from"].rsplit("/", 1)[1]: a for a in env["actions"] if a["type"] == "file.move"}
    assert set(moves) == set(old)
    assert sorted(a["note"] for a in moves.values()) == [
        "file changed during the move (put back)",  # the one paused inside its rename
        "file changed since planning",  # the other, caught by the first check
    ]
    assert all(a["state"] == "skipped" for a in moves.values())
    for n in old:
        assert (sdir / n).read_bytes() == b"X" + files[n][1:], n
    assert [p for p in (run_dir(state, env) / "moved").rglob("*") if not p.is_dir()] == []


def test_export_to_a_folder_with_gzip_and_undo_brings_them_back(state: StateDir, tmp_path: Path) -> None:
    files = with_archives(state)
    _live, orphans = with_orphans(state)
    dest = tmp_path / "cold"
    env = assert_dry_run_changes_nothing(state, "archive", "--to", str(dest), "--compress", "gzip")
    assert not dest.exists()
    assert {a["type"] for a in env["actions"]} == {"file.export"}
    before = live_files(state.root)
    rc, env, err = cli(state, "archive", "--to", str(dest), "--compress", "gzip")
    assert rc == 0, err
    sdir = state.sessions_dir("main")
    for name, data in {**files, **orphans}.items():
        assert not (sdir / name).exists(), name
        pattern = re.escape(name) + r"(\.deleted\.[0-9T.-]+Z)?\.gz"
        hits = [p for p in (dest / "agents" / "main" / "sessions").iterdir() if re.fullmatch(pattern, p.name)]
        assert len(hits) == 1 and gzip.decompress(hits[0].read_bytes()) == data
    manifest = json.loads(next(dest.glob("sessionctl-manifest-*.json")).read_bytes())
    assert manifest["run_id"] == env["run_id"] and len(manifest["files"]) == len(files) + len(orphans)
    undo(state, env["run_id"])
    assert live_files(state.root) == before
    assert len(list(dest.rglob("*.gz"))) == len(files) + len(orphans)  # the exports stay


def test_an_orphan_written_while_it_is_exported_stays_and_its_copy_goes(
    state: StateDir, tmp_path: Path
) -> None:
    """Before removing an exported original, archive checks that it is still what was
    copied (re-read when its inode, size or mtime changed): a file written meanwhile
    stays live, and its now stale copy is removed from DIR."""
    names = sorted(with_archives(state))  # every archive is exported with --to
    sdir = state.sessions_dir("main")
    dest = tmp_path / "cold"
    written: dict[str, bytes] = {}

    def write_in_place() -> None:
        for n in names:
            data = (sdir / n).read_bytes()
            written[n] = b"X" + data[1:]
            (sdir / n).write_bytes(written[n])

    env = archive_paused(
        state, tmp_path / "go", "export.unlink", ["--no-orphans", "--to", str(dest)], write_in_place, rc=75
    )
    exports = [a for a in env["actions"] if a["type"] == "file.export"]
    assert exports and all(a["state"] == "skipped" for a in exports), exports
    assert {a["note"] for a in exports} <= {
        "file changed while it was copied (kept)",
        "file changed since planning, or the copy did not verify (kept)",
    }
    assert "file changed while it was copied (kept)" in {a["note"] for a in exports}
    for n in names:
        assert (sdir / n).read_bytes() == written[n], n
    assert [p for p in dest.rglob("*") if p.is_file() and not p.name.startswith("sessionctl-manifest")] == []


def test_export_refusals(state: StateDir, tmp_path: Path) -> None:
    with_archives(state)
    inside = state.sessions_dir("main") / "sub"
    rc, _env, err = cli(state, "archive", "--to", str(inside))
    assert rc == 64 and "inside the sessions folder" in err
    for around in (state.root, state.sessions_dir("main").parent):  # e.g. --to ~/.openclaw
        before = live_files(state.root)
        rc, _env, err = cli(state, "archive", "--to", str(around))
        # the one path check (fsio.check_output_path): the state dir, or its live data
        assert rc == 64 and ("contains the state dir" in err or "live data" in err), (rc, err)
        assert live_files(state.root) == before
    rc, _env, _err = cli(state, "archive", "--compress", "gzip")
    assert rc == 64
    rc, _env, _err = cli(state, "archive", "--no-backup")
    assert rc == 64
    rc, _env, _err = cli(state, "archive", "--older-than", "5")
    assert rc == 64
    dest = tmp_path / "z"
    rc, _env, err = cli(state, "archive", "--to", str(dest), "--compress", "zstd")
    # zstandard is a dependency (store backups are zstd-compressed too)
    assert rc == 0 and list(dest.rglob("*.zst")), err


def test_archive_stamp_uses_openclaw_archive_names(state: StateDir) -> None:
    with_orphans(state)
    rc, env, _err = cli(state, "archive", "--now", "2026-05-01T12:00:00Z")
    assert rc == 0
    for a in env["actions"]:
        name = a["to"].rsplit("/", 1)[1]
        stamp = name.rsplit(".deleted.", 1)[1]
        assert stamp.endswith("Z") and ":" not in stamp and len(stamp) == len("2026-04-29T10-11-12.345Z")
    assert NOW_MS - 61 * DAY_MS > 0
