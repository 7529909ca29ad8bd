"""sessionctl benchmarks: every command against the bare cost of the same I/O.

    python benchmarks/run.py                      # the full table (generates state on first use)
    python benchmarks/run.py --runs 5 --only health,deep
    python benchmarks/run.py --compare benchmarks/out/results-PREV.json
    python benchmarks/run.py --scale              # 1k / 10k / 50k entries: linear growth

Everything runs in this process tree, in one sitting, on the same generated state: each
command is a subprocess (`python -m sessionctl ...`, the baseline `benchmarks/baseline.py`)
timed with a monotonic clock and reaped with os.wait4, whose rusage gives that
process's peak RSS (ru_maxrss, which covers the children it reaped too). Each row is the
median of --runs runs (after one untimed warm-up that fills the page cache), its ratio to
the baseline of the same family measured in the same sitting, and the target.

See benchmarks/README.md for what each row measures and how to read the results.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
NOW = "2026-05-01T12:00:00.000Z"  # make_state's default clock
PY = sys.executable


# ---------------------------------------------------------------- measuring


@dataclass
class Sample:
    wall_s: float
    maxrss_kb: int
    user_s: float
    sys_s: float
    rc: int
    stdout: bytes = b""
    info: dict[str, Any] | None = None  # what Bench.inspect read from the command's output


GNU_TIME = "/usr/bin/time"


def run_once(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, keep_stdout: bool = False
) -> Sample:
    """Run one subprocess; wall time from a monotonic clock, peak RSS and CPU of the
    command as its parent saw them when it was reaped (rusage of wait4).

    Linux counts the memory a process had when it was forked (its parent's) in its
    ru_maxrss until it execs, so the command is started by GNU time (2 MB) when there is
    one, not straight from this process; otherwise from here with wait4 (this process
    keeps no command output, so it stays small)."""
    use_time = os.access(GNU_TIME, os.X_OK)
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as tfile:
        full = [GNU_TIME, "-f", "%M %U %S %x", "-o", tfile.name, *cmd] if use_time else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            full,
            stdout=out if keep_stdout else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
        _pid, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        maxrss, utime, stime = ru.ru_maxrss, ru.ru_utime, ru.ru_stime
        if use_time:
            fields = tfile.read().split()[-4:]  # "Command exited with non-zero status N" may come first
            maxrss, utime, stime, rc = int(fields[0]), float(fields[1]), float(fields[2]), int(fields[3])
        out.seek(0)
        data = out.read() if keep_stdout else b""
    return Sample(wall, maxrss, utime, stime, rc, data)


@dataclass
class Bench:
    name: str
    cmd: list[str]
    family: str | None = None  # the baseline row this one is compared with
    target: float | None = None  # max ratio to the baseline
    target_s: float | None = None  # max median seconds (start-up)
    peak_target: float | None = None  # max peak RSS, as a ratio to the family's
    ok_rcs: tuple[int, ...] = (0, 1, 2)  # health exits 1/2 when it finds warnings/criticals
    env: dict[str, str] | None = None
    cwd: Path | None = None
    prepare: Any = None  # callable run before each sample, outside the timed region
    cleanup: Any = None
    samples: list[Sample] = field(default_factory=list)
    note: str = ""
    # callable(stdout bytes) -> dict kept with each sample (the row's `samples_info`): what a
    # timed command reported about itself, e.g. prestart's steps; stdout is kept when set
    inspect: Any = None

    def median(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    def peak_mb(self) -> float:
        return max(s.maxrss_kb for s in self.samples) / 1024

    def cpu_s(self) -> float:
        return statistics.median(s.user_s + s.sys_s for s in self.samples)


def measure(b: Bench, runs: int, warmup: bool = True) -> None:
    for i in range(runs + (1 if warmup else 0)):
        if b.prepare:
            b.prepare()
        try:
            s = run_once(b.cmd, env=b.env, cwd=b.cwd, keep_stdout=b.inspect is not None)
            if b.inspect is not None:
                s.info, s.stdout = b.inspect(s.stdout), b""
        finally:
            if b.cleanup:
                b.cleanup()
        if s.rc not in b.ok_rcs:
            raise SystemExit(
                f"{b.name}: exit {s.rc}: {' '.join(b.cmd)}\n{s.stdout[-2000:].decode(errors='replace')}"
            )
        if warmup and i == 0:
            continue
        b.samples.append(s)
    print(f"  {b.name:<28} {b.median():7.3f} s  {b.peak_mb():7.1f} MB", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- state


def make_state(path: Path, *, agents: int, entries: int, transcripts: int, gb: float) -> Path:
    if (path / "openclaw.json").exists():
        return path
    print(
        f"generating {path} ({agents} agents, {entries} entries, {transcripts} transcripts)", file=sys.stderr
    )
    subprocess.run(
        [
            PY,
            str(HERE / "make_state.py"),
            str(path),
            "--agents",
            str(agents),
            "--entries",
            str(entries),
            "--transcripts",
            str(transcripts),
            "--total-transcript-gb",
            str(gb),
            "--seed",
            "1",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


class FreshCopy:
    """gc mutates its state: each sample runs on a fresh hard-linked copy at the state's
    own path (the stores' absolute sessionFile values name it), made outside the timed
    region. gc never writes a file in place (stores and bindings are replaced by rename,
    transcripts are renamed), so the pristine tree behind the links stays untouched."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.pristine = state.with_name(state.name + ".pristine")

    def prepare(self) -> None:
        if self.pristine.exists():
            shutil.rmtree(self.state, ignore_errors=True)
        else:
            os.rename(self.state, self.pristine)
        subprocess.run(["cp", "-al", str(self.pristine), str(self.state)], check=True)

    def restore(self) -> None:
        if self.pristine.exists():
            shutil.rmtree(self.state, ignore_errors=True)
            os.rename(self.pristine, self.state)


def sessionctl(*args: str) -> list[str]:
    return [PY, "-m", "sessionctl", *args]


def entry_point() -> list[str]:
    script = Path(PY).with_name("sessionctl")
    return [str(script)] if script.exists() else sessionctl()


def openclaw_wrapper() -> Path | None:
    sys.path.insert(0, str(REPO))
    try:
        from interop import harness  # type: ignore[import-not-found]
    except ImportError:
        return None
    finally:
        sys.path.pop(0)
    return harness.installed(harness.DEFAULT_VERSION)


def openclaw_env(state: Path) -> dict[str, str]:
    sys.path.insert(0, str(REPO))
    try:
        from interop import harness
    finally:
        sys.path.pop(0)
    return harness.openclaw_env(state)


def gc_lock_held_ms(state: Path, fresh: FreshCopy) -> tuple[int | None, dict[str, Any]]:
    """One extra gc --json run on a fresh copy: its summary.lock_held_ms."""
    fresh.prepare()
    try:
        s = run_once(sessionctl("gc", "--json", "--state-dir", str(state), "--now", NOW), keep_stdout=True)
    finally:
        fresh.restore()
    try:
        doc = json.loads(s.stdout)
    except ValueError:
        return None, {}
    summary = doc.get("summary") or {}
    return summary.get("lock_held_ms"), summary.get("total") or {}


class GcThenUndo:
    """undo reverses a gc: before each undo sample (outside the timed region) a fresh
    copy gets an untimed gc, whose run id goes into the undo command."""

    def __init__(self, state: Path, cmd: list[str]) -> None:
        self.fresh = FreshCopy(state)
        self.state = state
        self.cmd = cmd  # the undo command: its RUN_ID slot is filled in before each sample
        self.slot = cmd.index("RUN_ID")

    def prepare(self) -> None:
        self.fresh.prepare()
        s = run_once(
            sessionctl("gc", "--json", "--state-dir", str(self.state), "--now", NOW), keep_stdout=True
        )
        self.cmd[self.slot] = json.loads(s.stdout)["run_id"]


def tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def run_folder_size(state: Path, fresh: FreshCopy) -> dict[str, Any]:
    """One extra gc on a fresh copy: the bytes of its run folder (journal, compressed
    store backups, status) against the bytes of the stores it backed up."""
    fresh.prepare()
    try:
        s = run_once(sessionctl("gc", "--json", "--state-dir", str(state), "--now", NOW), keep_stdout=True)
        doc = json.loads(s.stdout)
        rd = (
            Path(doc["backup"]["path"])
            if doc.get("backup")
            else state / "sessionctl" / "runs" / doc["run_id"]
        )
        stores = sum(
            b["size"] for b in (doc.get("backup") or {}).get("files", []) if b.get("kind") == "store"
        )
        parts = {p.name: tree_bytes(p) if p.is_dir() else p.stat().st_size for p in rd.iterdir()}
        total = sum(parts.values())
    finally:
        fresh.restore()
    return {
        "run_bytes": total,
        "store_bytes": stores,
        "ratio": round(total / stores, 4) if stores else None,
        "parts": parts,
    }


# ---------------------------------------------------------------- the suite


def describe_state(state: Path) -> dict[str, int]:
    """The state as it is on disk: agents with a sessions folder, the bytes of their
    sessions.json, the files in their sessions folders (the header of the table says
    this, not the generator's options, which a `--state` made elsewhere does not match)."""
    agents = store_bytes = files = 0
    with contextlib.suppress(OSError):
        for agent in sorted((state / "agents").iterdir()):
            sdir = agent / "sessions"
            if not sdir.is_dir():
                continue
            agents += 1
            with contextlib.suppress(OSError):
                store_bytes += (sdir / "sessions.json").stat().st_size
            with os.scandir(sdir) as it:
                files += sum(1 for de in it if de.name != "sessions.json")
    return {"agents": agents, "store_bytes": store_bytes, "files": files}


def suite(state: Path, *, only: set[str] | None, tiny: Path) -> list[Bench]:
    sd = ["--state-dir", str(state), "--now", NOW]
    fresh = FreshCopy(state)
    bl = [PY, str(HERE / "baseline.py")]
    undo_cmd = sessionctl("undo", "RUN_ID", "--json", *sd)
    undo = GcThenUndo(state, undo_cmd)
    benches = [
        Bench("baseline", [*bl, "health", str(state)], ok_rcs=(0,)),
        Bench("health", sessionctl("health", "--json", *sd), "baseline", 1.5),
        Bench("list --json", sessionctl("list", "--json", *sd), "baseline", None, ok_rcs=(0,)),
        Bench(
            "gc --dry-run",
            sessionctl("gc", "--dry-run", "--json", *sd),
            "baseline",
            1.5,
            ok_rcs=(0,),
            peak_target=1.2,
        ),
        Bench("baseline deep", [*bl, "deep", str(state)], ok_rcs=(0,)),
        Bench("health --deep", sessionctl("health", "--deep", "--json", *sd), "baseline deep", 1.5),
        Bench(
            "repair --dry-run",
            sessionctl("repair", "--dry-run", "--json", *sd),
            "health --deep",
            1.5,
            ok_rcs=(0,),
        ),
        Bench(
            "baseline gc",
            [*bl, "gc", str(state)],
            ok_rcs=(0,),
            prepare=fresh.prepare,
        ),
        Bench(
            "gc",
            sessionctl("gc", "--json", *sd),
            "baseline gc",
            2.5,
            ok_rcs=(0,),
            prepare=fresh.prepare,
            peak_target=1.2,
        ),
        Bench(
            "undo (of that gc)",
            undo_cmd,
            "gc",
            1.5,
            ok_rcs=(0,),
            prepare=undo.prepare,
            peak_target=1.0,
            note="ratio: to the gc it reverses",
        ),
        Bench(
            "prestart",
            sessionctl("prestart", "--json", *PRESTART_POLICY, *sd),
            ok_rcs=(0,),
            prepare=fresh.prepare,
            inspect=prestart_info,
            note="default --deadline 30s, " + " ".join(PRESTART_POLICY),
        ),
        Bench("--version (start-up)", [*entry_point(), "--version"], target_s=0.150, ok_rcs=(0,)),
        Bench(
            "list (tiny state)",
            sessionctl("list", "--json", "--state-dir", str(tiny), "--now", NOW),
            ok_rcs=(0,),
            note="import chain of a real command",
        ),
    ]
    if only:
        benches = [b for b in benches if b.name in only or b.name.split()[0].lstrip("-") in only]
    return benches


def prestart_info(stdout: bytes) -> dict[str, Any]:
    """prestart's own report of a sample: its elapsed time against the deadline, and per
    step the status, estimate and real time (estimates are held to within 2x)."""
    env = json.loads(stdout)
    steps = {
        s["name"]: {"status": s["status"], "estimate_ms": s["estimate_ms"], "elapsed_ms": s["elapsed_ms"]}
        for s in env["steps"]
    }
    return {
        "elapsed_ms": env["elapsed_ms"],
        "deadline_ms": env["deadline_ms"],
        "every_step_ran": all(s["status"] in ("done", "nothing_to_do") for s in steps.values()),
        "skipped": env["skipped"],
        "stopped_at": env["stopped_at"],
        "steps": steps,
    }


PRESTART_POLICY = ("--max-age", "120h", "--idle", "24h")


def prestart_suite(state: Path, *, only: set[str] | None) -> list[Bench]:
    """The restart path at 3 x 10,000 entries: health --deep and repair (one transcript
    scanner: repair within 1.5x of health --deep), and prestart with its default 30 s
    deadline on a fresh copy each run (every step must run, within the deadline)."""
    sd = ["--state-dir", str(state), "--now", NOW]
    fresh = FreshCopy(state)
    bl = [PY, str(HERE / "baseline.py")]
    benches = [
        Bench("3x10k baseline", [*bl, "health", str(state)], ok_rcs=(0,)),
        Bench("3x10k baseline deep", [*bl, "deep", str(state)], ok_rcs=(0,)),
        Bench(
            "3x10k health --deep", sessionctl("health", "--deep", "--json", *sd), "3x10k baseline deep", 1.5
        ),
        Bench(
            "3x10k repair --dry-run",
            sessionctl("repair", "--dry-run", "--json", *sd),
            "3x10k health --deep",
            1.5,
            ok_rcs=(0,),
        ),
        Bench(
            "3x10k prestart",
            sessionctl("prestart", "--json", *PRESTART_POLICY, *sd),
            target_s=30.0,
            ok_rcs=(0,),
            prepare=fresh.prepare,
            inspect=prestart_info,
            note="default --deadline 30s, " + " ".join(PRESTART_POLICY),
        ),
    ]
    if only:
        benches = [
            b
            for b in benches
            if b.name in only or b.name.split()[1] in only or b.name.split()[0] in only or "prestart" in only
        ]
    return benches


def openclaw_suite(state: Path) -> list[Bench]:
    wrapper = openclaw_wrapper()
    store = state / "agents" / "main" / "sessions" / "sessions.json"
    sd = ["--state-dir", str(state), "--now", NOW]
    rows = [
        Bench("1-agent baseline", [PY, str(HERE / "baseline.py"), "health", str(state)], ok_rcs=(0,)),
        Bench(
            "1-agent sessionctl gc --dry-run",
            sessionctl("gc", "--dry-run", "--json", *sd),
            "openclaw",
            0.5,
            ok_rcs=(0,),
        ),
        Bench("1-agent sessionctl health", sessionctl("health", "--json", *sd), "openclaw", 0.5),
    ]
    if wrapper is not None:
        rows.insert(
            1,
            Bench(
                "openclaw",
                [str(wrapper), "sessions", "cleanup", "--dry-run", "--json", "--store", str(store)],
                ok_rcs=(0,),
                env=openclaw_env(state),
                cwd=state,
            ),
        )
    return rows


# ---------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":")[1].strip()
    except OSError:
        pass
    du = shutil.disk_usage(OUT)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "nproc": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "disk_free_gb": round(du.free / 1e9, 1),
        "commit": commit,
    }


def row(b: Bench, by_name: dict[str, Bench]) -> dict[str, Any]:
    r: dict[str, Any] = {
        "name": b.name,
        "cmd": " ".join(b.cmd),
        "runs": [round(s.wall_s, 4) for s in b.samples],
        "median_s": round(b.median(), 4),
        "cpu_s": round(b.cpu_s(), 3),
        "peak_rss_mb": round(b.peak_mb(), 1),
    }
    base = by_name.get(b.family or "")
    if base is not None and base.samples:
        r["baseline"] = base.name
        r["ratio"] = round(b.median() / base.median(), 2)
        r["rss_ratio"] = round(b.peak_mb() / base.peak_mb(), 2)
    if b.target is not None:
        r["target_ratio"] = b.target
        r["met"] = r.get("ratio") is not None and r["ratio"] <= b.target
    if b.peak_target is not None:
        r["target_rss_ratio"] = b.peak_target
        r["met"] = r.get("met", True) and r.get("rss_ratio") is not None and r["rss_ratio"] <= b.peak_target
    if b.target_s is not None:
        r["target_s"] = b.target_s
        r["met"] = b.median() <= b.target_s
    if b.note:
        r["note"] = b.note
    if b.inspect is not None:
        r["samples_info"] = [s.info for s in b.samples]
    return r


def print_table(
    title: str, rows: list[dict[str, Any]], prev: dict[str, dict[str, Any]] | None = None
) -> None:
    print(f"\n{title}")
    hdr = (
        f"{'benchmark':<32} {'median s':>9} {'cpu s':>7} {'ratio':>6} {'target':>7}     "
        f"{'peak MB':>8} {'MB ratio':>8} {'MB target':>9}"
    )
    if prev is not None:
        hdr += f" {'prev s':>8} {'change':>7}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        target = (
            f"≤{r['target_ratio']}x"
            if "target_ratio" in r
            else f"≤{r['target_s'] * 1000:.0f}ms"
            if "target_s" in r
            else ""
        )
        mark = "" if "met" not in r else (" ok" if r["met"] else " MISS")
        rss = f"{r['rss_ratio']:.2f}x" if "rss_ratio" in r else ""
        rss_target = f"≤{r['target_rss_ratio']}x" if "target_rss_ratio" in r else ""
        line = (
            f"{r['name']:<32} {r['median_s']:>9.3f} {r['cpu_s']:>7.2f} {ratio:>6} {target:>7}{mark:<5}"
            f"{r['peak_rss_mb']:>8.1f} {rss:>8} {rss_target:>9}"
        )
        if prev is not None and r["name"] in prev:
            p = prev[r["name"]]["median_s"]
            line += f" {p:>8.3f} {(r['median_s'] / p - 1) * 100:>+6.0f}%"
        print(line)


def run_main(args: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(exist_ok=True)
    state = make_state(
        Path(args.state), agents=args.agents, entries=args.entries, transcripts=args.transcripts, gb=args.gb
    )
    tiny = make_state(OUT / "state-tiny", agents=1, entries=10, transcripts=10, gb=0.01)
    only = set(args.only.split(",")) if args.only else None
    FreshCopy(state).restore()  # a previous run that was interrupted
    benches = suite(state, only=only, tiny=tiny)
    print(f"state {state}; {args.runs} runs each (+1 warm-up)", file=sys.stderr)
    try:
        for b in benches:
            measure(b, args.runs)
        lock_ms, totals = (None, {})
        run_folder: dict[str, Any] | None = None
        if only is None or "gc" in only:
            lock_ms, totals = gc_lock_held_ms(state, FreshCopy(state))
            run_folder = run_folder_size(state, FreshCopy(state))
    finally:
        FreshCopy(state).restore()
    by_name = {b.name: b for b in benches}
    rows = [row(b, by_name) for b in benches]
    pre_rows: list[dict[str, Any]] = []
    if not args.no_prestart and (only is None or only & {"prestart", "repair", "3x10k"}):
        pre_state = make_state(Path(args.prestart_state), agents=3, entries=30000, transcripts=100000, gb=2.0)
        FreshCopy(pre_state).restore()
        pre = prestart_suite(pre_state, only=only)
        try:
            for b in pre:
                measure(b, args.runs)
        finally:
            FreshCopy(pre_state).restore()
        pb = {b.name: b for b in pre}
        pre_rows = [row(b, pb) for b in pre]
    oc_rows: list[dict[str, Any]] = []
    if not args.no_openclaw and (only is None or "openclaw" in only):
        oc_state = make_state(
            Path(args.openclaw_state), agents=1, entries=args.entries, transcripts=20000, gb=2.0
        )
        oc = openclaw_suite(oc_state)
        for b in oc:
            measure(b, max(1, min(args.runs, 3)))
        ob = {b.name: b for b in oc}
        oc_rows = [row(b, ob) for b in oc]
    result = {
        "stamp": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
        "machine": machine(),
        "state": {
            "path": str(state),
            "agents": args.agents,
            "entries": args.entries,
            "transcripts": args.transcripts,
            # what is on disk (a --state made elsewhere has other sizes than the options')
            "measured": describe_state(state),
        },
        "runs": args.runs,
        "rows": rows,
        "gc_lock_held_ms": lock_ms,
        "gc_totals": totals,
        "run_folder": run_folder,
        "openclaw": oc_rows,
        "prestart": pre_rows,
    }
    return result


def report(result: dict[str, Any], prev: dict[str, Any] | None) -> None:
    m = result["machine"]
    print(
        f"machine: {m['nproc']} cores, {m['memory']} RAM, Python {m['python']}, {m['platform']}; commit {m['commit']}"
    )
    if "rows" in result:
        prev_rows = {r["name"]: r for r in prev.get("rows", [])} if prev else None
        st = result["state"]
        ms = st.get("measured")
        what = (
            f"{ms['agents']} agents, {ms['store_bytes'] / 1e6:.0f} MB of sessions.json, "
            f"{ms['files']} files in the sessions folders"
            if ms
            else f"{st['agents']} agents, {st['entries']} entries, {st['transcripts']} transcripts"
        )
        print_table(
            f"state {st['path']}: {what} (median of {result['runs']} runs)",
            result["rows"],
            prev_rows,
        )
        if result.get("gc_lock_held_ms") is not None:
            ms = result["gc_lock_held_ms"]
            print(
                f"\ngc: sessions.json.lock held {ms} ms (target ≤ 1000 ms){' ok' if ms <= 1000 else ' MISS'}"
            )
        rf = result.get("run_folder")
        if rf and rf.get("ratio") is not None:
            print(
                f"gc run folder: {rf['run_bytes'] / 1e6:.1f} MB for {rf['store_bytes'] / 1e6:.1f} MB of stores "
                f"= {rf['ratio'] * 100:.1f} % (target ≤ 10 %){' ok' if rf['ratio'] <= 0.10 else ' MISS'}; "
                + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(rf["parts"].items()))
            )
    if result.get("openclaw"):
        prev_oc = {r["name"]: r for r in prev.get("openclaw", [])} if prev else None
        print_table(
            "one-agent store vs OpenClaw `sessions cleanup --dry-run --json --store` "
            "(ratio = sessionctl / openclaw; target ≤ 0.5x)",
            result["openclaw"],
            prev_oc,
        )
    if result.get("prestart"):
        print_table(
            "3 agents x 10,000 entries (make_state --agents 3 --entries 30000 --transcripts 100000)",
            result["prestart"],
            {r["name"]: r for r in prev.get("prestart", [])} if prev else None,
        )
        for r in result["prestart"]:
            for i, info in enumerate(r.get("samples_info") or []):
                steps = ", ".join(
                    f"{n} {s['status']} {s['elapsed_ms'] or 0}/{s['estimate_ms'] or 0}ms"
                    for n, s in info["steps"].items()
                )
                print(
                    f"  {r['name']} run {i + 1}: {info['elapsed_ms']} ms of {info['deadline_ms']}"
                    f"{'' if info['every_step_ran'] else ' NOT every step ran'}; "
                    f"steps (real/estimated): {steps}"
                )
    if result.get("scale"):
        print_scale(result["scale"])


# ---------------------------------------------------------------- scaling


SCALE_BENCHES = (
    "baseline",
    "health",
    "list --json",
    "gc --dry-run",
    "baseline deep",
    "health --deep",
    "baseline gc",
    "gc",
    "undo (of that gc)",
    "repair --dry-run",
    "prestart",
)


def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(x) for x in args.sizes.split(",")]
    tiny = make_state(OUT / "state-tiny", agents=1, entries=10, transcripts=10, gb=0.01)
    out: list[dict[str, Any]] = []
    for n in sizes:
        # transcripts grow with the entries (1.5 per entry); disk capped at 0.25 GB per 10k entries
        st = make_state(
            OUT / f"scale-{n}", agents=3, entries=n, transcripts=n * 3 // 2, gb=max(0.05, n / 40000)
        )
        FreshCopy(st).restore()
        benches = suite(st, only=set(SCALE_BENCHES), tiny=tiny)
        print(f"scale {n}", file=sys.stderr)
        try:
            for b in benches:
                measure(b, args.runs)
        finally:
            FreshCopy(st).restore()
        by_name = {b.name: b for b in benches}
        out.append(
            {
                "entries": n,
                "rows": [row(b, by_name) for b in benches],
                "run_folder": run_folder_size(st, FreshCopy(st)),
            }
        )
    return {
        "stamp": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
        "machine": machine(),
        "runs": args.runs,
        "scale": out,
    }


def print_scale(scale: list[dict[str, Any]]) -> None:
    names = [r["name"] for r in scale[0]["rows"]]

    def table(title: str, cell: Any) -> None:
        print(f"\n{title}")
        print(f"{'benchmark':<16}" + "".join(f"{s['entries']:>22,}" for s in scale))
        for name in names:
            cells = []
            for s in scale:
                r = next(r for r in s["rows"] if r["name"] == name)
                cells.append(cell(r, s["entries"]))
            if any(cells):
                print(f"{name:<16}" + "".join(f"{c:>22}" for c in cells))

    table(
        "scaling: median wall seconds (per 1,000 entries)",
        lambda r, n: f"{r['median_s']:.2f} ({r['median_s'] / n * 1000:.3f})",
    )
    table(
        "scaling: CPU seconds, user+system (per 1,000 entries) — steadier than wall time on a shared box",
        lambda r, n: f"{r['cpu_s']:.2f} ({r['cpu_s'] / n * 1000:.3f})",
    )
    table("scaling: peak RSS MB", lambda r, n: f"{r['peak_rss_mb']:.0f}")
    table(
        "ratio to the baseline of the same size (wall)",
        lambda r, n: f"{r['ratio']:.2f}x" if "ratio" in r else "",
    )
    table(
        "peak RSS ratio to the baseline of the same size",
        lambda r, n: f"{r['rss_ratio']:.2f}x" if "rss_ratio" in r else "",
    )
    folders = [s.get("run_folder") or {} for s in scale]
    if any(f.get("ratio") is not None for f in folders):
        cells = [
            "{:.1f} MB = {:.1f} %".format(f["run_bytes"] / 1e6, f["ratio"] * 100) if f.get("ratio") else ""
            for f in folders
        ]
        print(
            f"{'gc run folder':<16}" + "".join(f"{c:>22}" for c in cells) + "   (target ≤ 10 % of the stores)"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", default=str(OUT / "state-10k"), help="state dir (generated when missing)")
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--transcripts", type=int, default=100000)
    ap.add_argument("--gb", type=float, default=2.0, help="transcript disk cap when generating (GB)")
    ap.add_argument(
        "--openclaw-state",
        default=str(OUT / "state-1agent"),
        help="one-agent state for the OpenClaw comparison (generated when missing)",
    )
    ap.add_argument("--no-openclaw", action="store_true", help="skip the OpenClaw comparison")
    ap.add_argument(
        "--prestart-state",
        default=str(OUT / "state-3x10k"),
        help="3 agents x 10,000 entries for the prestart and repair rows (generated when missing)",
    )
    ap.add_argument("--no-prestart", action="store_true", help="skip the 3 x 10,000-entry prestart rows")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per row (median reported)")
    ap.add_argument(
        "--only", help="comma-separated row names or first words (health,gc,baseline,openclaw,...)"
    )
    ap.add_argument("--scale", action="store_true", help="run the scaling series instead")
    ap.add_argument("--sizes", default="1000,10000,50000", help="entries per scaling step")
    ap.add_argument("--compare", metavar="PREV.json", help="show the change against an earlier results file")
    ap.add_argument("--json-out", help="results file (default benchmarks/out/results-<stamp>.json)")
    args = ap.parse_args(argv)
    prev = json.loads(Path(args.compare).read_text()) if args.compare else None
    result = run_scale(args) if args.scale else run_main(args)
    OUT.mkdir(exist_ok=True)
    kind = "scale" if args.scale else "results"
    path = Path(args.json_out) if args.json_out else OUT / f"{kind}-{result['stamp']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    report(result, prev)
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
