"""prestart's estimates: what each step will cost, from what the plan counted and
measured (Costs) and per-unit costs measured on the reference machine class.

Each `cpu_*` is a step's CPU-time model (ms); its `est_*` is that times the load
(`Costs.est`). Pure functions: the plan (sessionctl.prestart.plan) does the measuring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sessionctl.jsonjs import JsonValue
from sessionctl.store import num

if TYPE_CHECKING:
    from sessionctl.policy.model import Policy
    from sessionctl.prestart.report import PrestartReport

# machine class (2-core x86-64 VM, Python 3.11, page cache warm) with benchmarks/run.py's
# prestart and repair rows on the 3 x 10,000-entry state (benchmarks/RESULTS.md). The plan
# measures the rest itself on every run: the store parse and folder listing rates and the
# cost of a transcript read (a sample), and how much slower than CPU time the wall clock
# runs right now (`load`: a busy machine, a cold page cache).
PLAN_PARSE_FACTOR = 1.7  # the plan's parse (slim + canonical form + sha256) against a slim one
# gc reuses the plan's parse; what it reads again (each store's bytes and checksum before
# its edit, the slim re-read after it) costs about one slim parse
GC_PARSE_FACTOR = 1.0
ENTRY_MS = 0.04  # resolving one entry's transcript and key (every step's snapshot)
GC_ENTRY_MS = 0.10  # gc's decision per entry, its actions and journal record, the edit
HEALTH_ENTRY_MS = 0.08  # health's checks per entry
HEALTH_FILE_MS = 0.005  # health's folder checks per file (orphans, archives, locks)
ARCHIVE_MS = 0.15  # one archive rename under its transcript's lock (lock link, rename, release)
FILE_OP_MS = 4.0  # one small durable file operation (write or rename + fsync)
COPY_BYTES_PER_MS = 450_000.0  # a durable zstd copy with its hash (backups), until the backup measures it
SAMPLE_FILES = 48  # transcripts read by the plan to measure the cost of a read


@dataclass
class Costs:
    """What the plan counted and measured, and the per-step estimates built from it (ms
    of wall time).

    Each estimate is a CPU-time model of the step — the units it handles (store bytes,
    entries, files listed, transcripts read, files archived) times what one unit costs,
    measured by the plan itself (parse, listing, transcript reads) or constant (above) —
    multiplied by `load`, the wall time per CPU time the plan saw. After each step, `load`
    is re-learned from how long that step really took against its model."""

    parse_ms: int = 0  # the plan's wall time (parse + listing + sample), measured
    store_bytes: int = 0
    store_files: int = 0
    entries: int = 0
    files: int = 0  # everything in the sessions folders (each listed and classified)
    transcripts: int = 0  # transcript-like files in the sessions folders (repair reads each)
    fixups: int = 0  # stale-lock candidates, leftovers, damaged stores
    damaged_bytes: int = 0  # of the damaged stores (repair backs each up before its fix)
    binding_bytes: int = 0
    binding_files: int = 0
    slim_ms_per_byte: float = 2.5e-6  # measured by the plan
    list_ms_per_file: float = 0.02  # measured by the plan
    head_ms: float = 0.05  # a transcript's first line and last byte (repair), sampled
    facts_ms: float = 0.08  # a transcript's first and last line (gc, health), sampled
    load: float = 1.0  # wall ms per CPU ms, measured by the plan, re-learned after each step
    copy_rate: float = COPY_BYTES_PER_MS
    file_op_ms: float = FILE_OP_MS
    # what the plan expects the steps to touch
    listed_for_repair: int = 0  # files in the folders whose listing repair reuses
    gc_touched_bytes: int = 0  # bytes of the stores gc will probably rewrite
    gc_archives: int = 0  # files gc will probably archive
    gc_expired: int = 0  # sessions gc will probably expire

    def est(self, cpu_ms: float) -> int:
        """A CPU-time model's estimate in wall ms: times the load."""
        return int(cpu_ms * self.load)

    def copy_ms(self, nbytes: int, files: int) -> int:
        return int(nbytes / self.copy_rate + files * self.file_op_ms)

    def read_cpu(self, parsed: float = 1.0) -> float:
        """CPU ms of one snapshot of every store: slim parse (of `parsed`, the share of the
        store bytes the step parses), listing, entries."""
        return (
            self.store_bytes * parsed * self.slim_ms_per_byte
            + self.files * self.list_ms_per_file
            + self.entries * ENTRY_MS
        )

    def learn(self, cpu_model_ms: float, elapsed_ms: int) -> None:
        """After a step: wall ms per modelled CPU ms (the load now, and the model's error)."""
        if cpu_model_ms >= 200 and elapsed_ms > 0:
            self.load = max(0.5, min(50.0, elapsed_ms / cpu_model_ms))

    def calibrate_copy(self, nbytes: int, files: int, elapsed_ms: int) -> None:
        """Learn from the backup step: mostly copying → the copy rate; mostly small
        durable files → the cost of one durable file operation."""
        if files <= 0 or elapsed_ms <= 0:
            return
        copying = nbytes / self.copy_rate
        if copying < 0.2 * elapsed_ms:
            self.file_op_ms = max(0.2, min(50.0, elapsed_ms / files))
            return
        spent = elapsed_ms - files * self.file_op_ms
        if nbytes > 1_000_000 and spent > 0:
            self.copy_rate = max(5_000.0, min(1_000_000.0, nbytes / spent))


def est_backup(c: Costs) -> int:
    """Copying and hashing every store: the copy rate (re-learned by the backup itself)
    times the load the plan measured."""
    return c.est(30 + c.copy_ms(c.store_bytes + c.binding_bytes, 2 * (c.store_files + c.binding_files)))


def cpu_repair(c: Costs) -> float:
    """A snapshot of every store (its parse the plan's), the first line and last byte of every
    transcript-like file; per fix a backup and a durable write or move."""
    # a stale lock or a leftover is one durable removal; a damaged store is copied first
    fixes = c.copy_ms(c.damaged_bytes, 3 * c.fixups)
    # the stores are not parsed again, nor the folders listed: repair takes the plan's
    # read and listing (unchanged since)
    relist = c.read_cpu(parsed=0.0) - c.listed_for_repair * c.list_ms_per_file
    # the transcripts entries reference are read to their last line, for gc
    shared = min(c.entries, c.transcripts) * max(0.0, c.facts_ms - c.head_ms)
    return 30 + relist + c.transcripts * c.head_ms + shared + fixes


def est_repair(c: Costs) -> int:
    return c.est(cpu_repair(c))


def rough_expired(pol: Policy | None, now_ms: int, data: Mapping[str, JsonValue]) -> int:
    """An upper-bound-ish count of what gc will expire in one store, from the store
    alone: entries not updated within the shortest limit, plus what exceeds a cap."""

    if pol is None:
        return 0
    rules = [pol.default, *pol.per_kind.values()]
    limits = [lim.ms for r in rules for lim in (r.max_age, r.idle) if lim is not None]
    caps = [cap.n for cap in [pol.cap, *(r.cap for r in rules)] if cap is not None]
    old = 0
    if limits:
        shortest = min(limits)
        for e in data.values():
            ua = num(e.get("updatedAt")) if isinstance(e, dict) else None
            if ua is not None and now_ms - ua > shortest:
                old += 1
    over = max(0, len(data) - min(caps)) if caps else 0
    return min(len(data), old + over)


def cpu_gc(c: Costs, repair_read_facts: bool) -> float:
    """A snapshot of every store (the plan's parse reused) with each entry's transcript
    facts, the plan per entry; then per touched store a backup, the journal, a
    rewrite and a slim re-read, and per archived file a rename under its lock."""
    read = (
        c.store_bytes * c.slim_ms_per_byte * GC_PARSE_FACTOR
        + c.files * c.list_ms_per_file
        + c.entries * (ENTRY_MS + GC_ENTRY_MS)
        # the transcripts' facts: read by repair already when it ran (RunContext.facts_cache)
        + (0 if repair_read_facts else min(c.entries, c.transcripts) * c.facts_ms)
    )
    # each touched store: its backup copy (~1x) and its rewrite (the re-read is above)
    nbytes = int(1.5 * c.gc_touched_bytes) + c.binding_bytes
    return 30 + read + c.copy_ms(nbytes, 3 * c.store_files) + c.gc_archives * ARCHIVE_MS


def repair_read_facts(report: PrestartReport) -> bool:
    """Did repair run (and so read the referenced transcripts' facts, for gc)?"""
    rep = next((s for s in report.steps if s.name == "repair"), None)
    return rep is not None and rep.status in ("done", "nothing_to_do")


def est_gc(c: Costs, repair_read_facts: bool) -> int:
    return c.est(cpu_gc(c, repair_read_facts))


def est_bindings(c: Costs) -> int:
    return 10 + c.copy_ms(2 * c.binding_bytes, 3 * c.binding_files)


def cpu_health(c: Costs) -> float:
    """A slim snapshot of every store with each entry's transcript facts, and the
    checks (per entry, per file)."""
    entries_left = max(0, c.entries - c.gc_expired)
    return (
        50
        + c.read_cpu(parsed=entries_left / c.entries if c.entries else 1.0)  # the stores gc left
        - (c.entries - entries_left) * ENTRY_MS  # (of which only the entries left are resolved)
        + min(entries_left, c.transcripts) * c.facts_ms
        + entries_left * HEALTH_ENTRY_MS
        + c.files * HEALTH_FILE_MS
    )


def est_health(c: Costs) -> int:
    return c.est(cpu_health(c))
