"""The bare cost a perfect tool could not avoid, run as its own process by run.py.

    python benchmarks/baseline.py MODE STATE_DIR

MODE
  health  read + orjson.loads every agents/*/sessions/sessions.json, and os.scandir + stat
          every entry of every sessions folder;
  deep    health, plus read every transcript an entry references (its sessionFile's name
          when that file is in the folder, else `<sessionId>.jsonl`) and orjson.loads every
          line of it;
  gc      health, plus serialise each store (orjson, 2-space indent) and write it back
          atomically (temp file in the same folder, fsync, rename, fsync the folder) — run
          it on a throw-away copy.

One store at a time: each parsed store is dropped before the next is read, so the peak
RSS is that of the largest store (raw bytes + parsed objects) — the least any tool that
parses a whole store with orjson needs. Single process, single thread: this is the cost
of touching the data, not a competitor. Prints one JSON line with counters so a run can
check it touched what sessionctl touches.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson


def sessions_dirs(state: Path) -> list[Path]:
    root = state / "agents"
    out = []
    for de in sorted(os.scandir(root), key=lambda d: d.name):
        d = Path(de.path) / "sessions"
        if (d / "sessions.json").is_file():
            out.append(d)
    return out


def read_lines(path: str) -> tuple[int, int]:
    """Stream a file in 1 MiB chunks and orjson.loads every line; (lines, bad lines)."""
    n = bad = 0
    pending = b""
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            parts = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
            pending = parts.pop()
            for line in parts:
                n += 1
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    bad += 1
    if pending:
        n += 1
        try:
            orjson.loads(pending)
        except orjson.JSONDecodeError:
            bad += 1
    return n, bad


def atomic_write(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.baseline.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("health", "deep", "gc"):
        print(__doc__, file=sys.stderr)
        return 64
    mode, state = argv[0], Path(argv[1])
    counts = {"stores": 0, "entries": 0, "store_bytes": 0, "files": 0, "transcripts": 0, "lines": 0}
    for sdir in sessions_dirs(state):
        store = sdir / "sessions.json"
        with open(store, "rb") as f:
            raw = f.read()
        data = orjson.loads(raw)
        counts["stores"] += 1
        counts["entries"] += len(data)
        counts["store_bytes"] += len(raw)
        names = set()
        with os.scandir(sdir) as it:
            for de in it:
                de.stat(follow_symlinks=False)
                names.add(de.name)
                counts["files"] += 1
        if mode == "deep":
            seen = set()
            for entry in data.values():
                if not isinstance(entry, dict):
                    continue
                sf = entry.get("sessionFile")
                name = os.path.basename(sf) if isinstance(sf, str) and sf else None
                if name not in names:
                    sid = entry.get("sessionId")
                    name = f"{sid}.jsonl" if isinstance(sid, str) else None
                if name in names and name not in seen:
                    seen.add(name)
                    n, _bad = read_lines(os.path.join(sdir, name))
                    counts["transcripts"] += 1
                    counts["lines"] += n
        elif mode == "gc":
            atomic_write(store, orjson.dumps(data, option=orjson.OPT_INDENT_2))
        del data, raw, names
    print(orjson.dumps(counts).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
