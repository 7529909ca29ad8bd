"""prestart's plan: read every store once, list the sessions folders, measure what a
read costs now, and count what each step will handle (Costs) — before anything changes.
It reads only; between two stores it stops once the deadline's reserve is reached."""

from __future__ import annotations

import time
from pathlib import Path

from sessionctl import bindings
from sessionctl.context import RunContext
from sessionctl.discovery import AgentStore
from sessionctl.errors import SessionctlError
from sessionctl.prestart.deadline import Deadline, fmt_ms
from sessionctl.prestart.estimate import (
    PLAN_PARSE_FACTOR,
    SAMPLE_FILES,
    Costs,
    est_backup,
    est_bindings,
    est_gc,
    est_health,
    est_repair,
    repair_read_facts,
    rough_expired,
)
from sessionctl.prestart.state import PrestartState, file_size, file_stamp
from sessionctl.sqlite.prestart import sqlite_report
from sessionctl.store import StoreLoad, load_store, require_access
from sessionctl.thresholds import thresholds_for
from sessionctl.transcripts import Inventory, read_facts, scan_sessions_dir_stamped
from sessionctl.units import bytes_h


class PlanOverrun(Exception):
    """The plan reached the deadline's reserve (between two stores)."""


def file_stores(ctx: RunContext) -> list[AgentStore]:
    return [s for s in ctx.discovery.stores if s.layout == "file" and not s.legacy_pending]


def plan(p: PrestartState) -> None:
    """Parse every store once, list the sessions folders, estimate every step. No
    transcript is read here: the steps read what they need themselves."""

    c = p.costs
    t0 = p.deadline.elapsed_ms()
    cpu0 = time.process_time()
    parse_cpu = list_cpu = 0.0
    sample: list[Path] = []  # transcripts to read once, to measure what a read costs now
    for st in p.ctx.discovery.stores:
        if st.legacy_pending:
            p.log(
                "warning",
                f"prestart: agent {st.agent_id}: legacy sessions.json pending SQLite migration "
                "(never modified; run `openclaw doctor --fix`)",
            )
        elif st.layout == "sqlite":
            p.no_store_before.add(str(st.store_path))
    sqlite_plan(p)
    loads: dict[str, StoreLoad] = {}
    p.ctx.store_loads = loads
    listings: dict[str, tuple[tuple[int, int, int], Inventory]] = {}
    p.ctx.inventories = listings  # repair reuses them (RunContext.planned_inventory)
    p.ctx.facts_cache = {}  # repair's reads of referenced transcripts, for gc
    for st in file_stores(p.ctx):
        plan_checkpoint(p.deadline)
        key = str(st.store_path)
        p.stat_before[key] = file_stamp(st.store_path)
        p0 = time.process_time()
        # slim, with what gc needs to act on it (plan=True): backup and gc reuse it while
        # the file is unchanged (RunContext.planned_load) instead of reading it again
        load = load_store(st.store_path, plan=True)
        loads[key] = load
        parse_cpu += time.process_time() - p0
        require_access(load, st.agent_id)  # not damage: 77 before anything is changed
        p.status_before[key] = load.status
        c.store_bytes += load.size
        c.store_files += 1
        c.entries += len(load.data or {})
        expired = rough_expired(p.policy, p.ctx.now_ms, load.data or {})
        if load.status not in ("ok", "missing"):
            c.fixups += 1
            c.damaged_bytes += load.size
            p.log("warning", f"prestart: agent {st.agent_id}: sessions.json is {load.status} ({load.error})")
        transcripts = 0
        if st.sessions_dir.is_dir():
            p0 = time.process_time()
            stamp, inv = scan_sessions_dir_stamped(st.sessions_dir)
            list_cpu += time.process_time() - p0
            if stamp is not None:
                listings[str(st.sessions_dir)] = (stamp, inv)
                c.listed_for_repair += len(inv.files)
            c.files += len(inv.files)
            tfiles = []
            for fi in inv.files:
                if fi.kind in ("transcript", "topic", "fork", "checkpoint"):
                    transcripts += 1
                    if fi.kind != "checkpoint":
                        tfiles.append(fi)
                elif fi.kind in ("lock", "store_lock", "store_tmp", "repair_leftover"):
                    c.fixups += 1
            step = max(1, len(tfiles) // SAMPLE_FILES)
            sample.extend(fi.path for fi in tfiles[::step][:SAMPLE_FILES])
        c.transcripts += transcripts
        if expired:
            # each expired session: a store edit; each of its files: an archive rename
            c.gc_touched_bytes += load.size
            c.gc_archives += min(expired, transcripts)
            c.gc_expired += expired

    for _ch, path in bindings.binding_file_paths(p.ctx.state_dir):
        c.binding_files += 1
        c.binding_bytes += file_size(path)
    if c.store_bytes > 1_000_000:
        c.slim_ms_per_byte = max(1e-7, parse_cpu * 1000 / c.store_bytes / PLAN_PARSE_FACTOR)
    if c.files > 1000:
        c.list_ms_per_file = max(0.002, list_cpu * 1000 / c.files)
    cpu_ms = (time.process_time() - cpu0) * 1000
    if cpu_ms >= 100:
        c.load = max(1.0, min(50.0, (p.deadline.elapsed_ms() - t0) / cpu_ms))
    plan_checkpoint(p.deadline)
    sample_reads(p.costs, sample)  # wall time per read, turned into CPU-equivalent ms by `load`
    c.parse_ms = max(1, p.deadline.elapsed_ms() - t0)
    ests = {
        "backup": est_backup(p.costs),
        "repair": est_repair(p.costs),
        "gc": est_gc(p.costs, repair_read_facts(p.report)),
        "bindings": est_bindings(p.costs),
        "health": est_health(p.costs),
    }
    p.log(
        "info",
        f"prestart: plan for {p.ctx.state_dir}: {c.store_files} store(s), {c.entries} sessions, "
        f"{c.transcripts} transcripts, {bytes_h(c.store_bytes)} of stores; estimates "
        + ", ".join(f"{k} ~{fmt_ms(v)}" for k, v in ests.items())
        + f"; total ~{fmt_ms(sum(ests.values()))} of {fmt_ms(p.deadline.remaining_ms())} left"
        + f" (measured: parse {c.slim_ms_per_byte * 1e6:.2f} ms/MB, listing {c.list_ms_per_file * 1000:.0f} µs/file,"
        f" transcript read {c.head_ms * 1000:.0f}/{c.facts_ms * 1000:.0f} µs, load {c.load:.1f}x)",
    )


def plan_checkpoint(deadline: Deadline) -> None:
    """The plan only reads: between two stores it stops once only the reserve is left."""
    if deadline.remaining_ms() <= deadline.reserve_ms:
        raise PlanOverrun


def sample_reads(c: Costs, paths: list[Path]) -> None:
    """Read a few transcripts both ways (first line + last byte, first + last line):
    what a read costs on this machine now, page cache state included."""

    if len(paths) < 8:
        return
    half = len(paths) // 2
    t = time.perf_counter()
    for p in paths[:half]:
        read_facts(p, last_line=False)
    c.head_ms = max(0.005, (time.perf_counter() - t) * 1000 / half / c.load)
    t = time.perf_counter()
    for p in paths[half:]:
        read_facts(p)
    c.facts_ms = max(0.005, (time.perf_counter() - t) * 1000 / (len(paths) - half) / c.load)


def sqlite_plan(p: PrestartState) -> None:
    """SQLite-era agents: the resume set and what gc would do, reported (never changed)."""

    try:
        window = thresholds_for(p.ctx).resume_window_ms
    except SessionctlError:
        window = 3_600_000
    p.report.sqlite, logs = sqlite_report(p.ctx, p.policy, window)
    for level, msg in logs:
        p.relay(level, msg)
