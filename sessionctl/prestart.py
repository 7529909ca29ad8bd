"""prestart: the one command for a gateway unit's `ExecStartPre=`.

Order: refuse if a gateway runs for this state dir (whatever its era) → take sessionctl's
private lock → plan (read every store once, estimate each step) → backup (a run) → safe
repairs → gc with the configured policy → expired thread bindings → run retention →
health summary → check that every store OpenClaw reads is left valid.

The deadline is checked between steps — a step whose estimate (Costs: measured
throughput times the load) does not fit in what is left is skipped together with every
later step — and at the safe points of a running step (RunContext.checkpoint): one that
overran its estimate until only the reserve is left stops there, with nothing half-done
(`stopped`). The report says what was skipped or stopped and why.

Exit policy (for units): 0 whenever every store OpenClaw reads is left valid — warnings,
skipped steps, a refused run (gateway running) and failed steps included — and 65 (DATA)
only when a store is left that OpenClaw would read as empty and overwrite. See
docs/operations.md.

The core never prints: progress lines go through the `log` callback (the command puts
them into Result.logs).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sessionctl import bindings, repair, runops
from sessionctl.actions import apply_rewrite
from sessionctl.config import (
    SessionctlConfig,
    load_openclaw_config,
    load_sessionctl_config,
    resolve_state_dir,
)
from sessionctl.context import RunContext
from sessionctl.discovery import Discovery, discover
from sessionctl.errors import (
    ConfigError,
    ExitCode,
    NotFoundError,
    PermissionDenied,
    SessionctlError,
    StepStopped,
    from_os_error,
)
from sessionctl.execute import RunSteps, exclusive, public_action, run_journaled, run_plan
from sessionctl.findings import SEVERITY_RANK
from sessionctl.fsio import anchor, sha256_bytes
from sessionctl.gateway import find_gateways
from sessionctl.gc import run_gc
from sessionctl.health import run_health
from sessionctl.locks import proc_starttime
from sessionctl.policy import DEFAULT_KEEP_RUNS, PolicyOverrides, resolve_defuse, resolve_policy
from sessionctl.result import LogLevel, Status
from sessionctl.runs import Run, prune_runs
from sessionctl.sqlite.prestart import sqlite_report
from sessionctl.store import load_store, num, require_access, valid_for_openclaw
from sessionctl.thresholds import thresholds_for
from sessionctl.timeutil import now_ms, parse_now, since_invocation_s
from sessionctl.transcripts import read_facts, scan_sessions_dir_stamped
from sessionctl.units import bytes_h

LogFn = Callable[[LogLevel, str], None]
StepStatus = Literal["done", "nothing_to_do", "skipped", "stopped", "failed"]
STEPS = ("backup", "repair", "gc", "bindings", "retention", "health")
MUTATING = frozenset({"backup", "repair", "gc", "bindings", "retention"})

DEFAULT_DEADLINE_MS = 30_000


# ---------------------------------------------------------------- deadline


class Deadline:
    """A time budget on a monotonic clock. `fits(estimate)` keeps a reserve for the
    final validation and the report (10 % of the budget, at least 250 ms, at most 3 s)."""

    def __init__(
        self, budget_ms: int, *, clock: Callable[[], float] = time.monotonic, already_ms: int = 0
    ) -> None:
        self.budget_ms = budget_ms
        self._clock = clock
        self._start = clock() - already_ms / 1000  # time spent before (interpreter start-up)
        self.reserve_ms = min(3_000, max(250, budget_ms // 10))

    def elapsed_ms(self) -> int:
        return int((self._clock() - self._start) * 1000)

    def remaining_ms(self) -> int:
        return self.budget_ms - self.elapsed_ms()

    def fits(self, estimate_ms: int) -> bool:
        return self.remaining_ms() - self.reserve_ms >= estimate_ms


def process_age_ms() -> int:
    """How long this command has been running, start-up included: the process's age from
    /proc (0 when unknown), capped at 10 s. Lets the deadline count the interpreter's
    start-up too. A process that existed more than 10 s before cli.main() was entered
    runs the command in-process (a test, an embedding program): then only the time since
    that call counts."""
    try:
        ticks = proc_starttime(os.getpid())
        if ticks is None:
            return 0
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return 0
    return command_age_ms(age, since_invocation_s())


def command_age_ms(process_age_s: float, since_invocation: float | None) -> int:
    """process_age_ms's rule: the process's age, capped at 10 s, unless the process
    existed more than 10 s before this command's cli.main() call (in-process)."""
    age = process_age_s
    if since_invocation is not None and age - since_invocation > 10.0:
        age = since_invocation
    return int(min(max(age, 0.0), 10.0) * 1000)


# ---------------------------------------------------------------- report


@dataclass
class StepReport:
    name: str
    status: StepStatus = "skipped"
    reason: str | None = None
    estimate_ms: int | None = None
    elapsed_ms: int | None = None
    run_id: str | None = None
    changes: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "estimate_ms": self.estimate_ms,
            "elapsed_ms": self.elapsed_ms,
            "run_id": self.run_id,
            "changes": self.changes,
            "detail": self.detail,
        }


@dataclass
class StoreCheck:
    agent: str
    path: str
    status: str  # store.StoreStatus, or "legacy" / "sqlite" for stores OpenClaw does not read
    valid: bool
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PrestartReport:
    state_dir: str | None
    now_ms: int
    deadline_ms: int
    steps: list[StepReport] = field(default_factory=lambda: [StepReport(n) for n in STEPS])
    refused: dict[str, Any] | None = None
    stores: list[StoreCheck] = field(default_factory=list)
    health: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: int = 0
    stopped_at: str | None = None  # the step the deadline (or a refusal) stopped before (or in: `stopped`)
    note: str | None = None  # one line about a run that did nothing (no state dir, refused, busy)
    sqlite: dict[str, Any] | None = None  # SQLite-era agents: reported, never changed (sqlite/prestart.py)

    def step(self, name: str) -> StepReport:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def valid(self) -> bool:
        return all(s.valid for s in self.stores)

    @property
    def exit_code(self) -> int:
        return int(ExitCode.OK if self.valid else ExitCode.DATA)

    @property
    def status(self) -> Status:
        if not self.valid:
            return "error"
        if (
            self.refused
            or self.errors
            or any(s.status in ("skipped", "stopped", "failed") for s in self.steps)
            or self.step("gc").detail.get("refused_agents")
        ):
            return "warning"
        if self.health and self.health.get("status") in ("warning", "critical"):
            return "warning"
        return "ok"

    def skipped(self) -> list[str]:
        return [s.name for s in self.steps if s.status == "skipped"]

    def to_json(self) -> dict[str, Any]:
        return {
            "deadline_ms": self.deadline_ms,
            "elapsed_ms": self.elapsed_ms,
            "note": self.note,
            "refused": self.refused,
            "stopped_at": self.stopped_at,
            "skipped": self.skipped(),
            "steps": [s.to_json() for s in self.steps],
            "stores": [s.to_json() for s in self.stores],
            "store_valid": self.valid,
            "health": self.health,
            "sqlite": self.sqlite,
        }


# ---------------------------------------------------------------- options and helpers


@dataclass
class PrestartOptions:
    state_dir: str | None = None
    agents: list[str] | None = None
    now: str | None = None
    config: str | None = None
    overrides: Any = None  # sessionctl.policy.PolicyOverrides (flags override the config file)
    max_resume: int | None = None  # --max-resume (else [prestart] max-resume, else 4)
    resume_within: str | None = None  # --resume-within (else [prestart] resume-within, else 1h)
    argv: list[str] | None = None
    progress: Any = None  # context.ProgressFn: the command layer's progress hook


def _ms(ms: int | None) -> str:
    """1ms, 250ms, 4.2s, 2min05s."""
    if ms is None:
        return "?"
    ms = max(0, ms)
    if ms < 1000:
        return f"{ms}ms"
    return f"{ms / 1000:.1f}s" if ms < 60_000 else f"{ms // 60_000}min{(ms % 60_000) // 1000:02d}s"


# What one unit of work costs, in CPU milliseconds of one core, measured on the reference
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


# ---------------------------------------------------------------- the run


class Prestart:
    """One prestart run. `run()` returns the report; it raises only for a bad command
    line (UsageError) and a store it may not read (PermissionDenied, 77, before any
    change); everything else becomes a step outcome in the report."""

    def __init__(self, opts: PrestartOptions, deadline: Deadline, log: LogFn) -> None:
        self.opts = opts
        self.deadline = deadline
        self.log = log
        self.report = PrestartReport(None, 0, deadline.budget_ms)
        self.ctx: Any = None
        self.policy: Any = None
        self.policy_error: str | None = None
        self._gc_touched_bytes = 0  # bytes of the stores gc will probably rewrite
        self._gc_archives = 0  # files gc will probably archive
        self._listed_for_repair = 0  # files in the folders whose listing repair reuses
        self._gc_expired = 0  # sessions gc will probably expire
        self.costs = Costs()
        self.stopped: str | None = None  # why every later step is skipped
        self.no_change: str | None = None  # why mutating steps are skipped (backup failed)
        self.backup_run: str | None = None
        self.gc_outcome: Any = None
        self._stat_before: dict[str, tuple[int, int, int] | None] = {}
        self._status_before: dict[str, str] = {}
        self._no_store_before: set[str] = set()  # SQLite-era agents: no sessions.json may appear

    # ------------------------------------------------------------ entry

    def run(self) -> PrestartReport:

        rep = self.report
        rep.now_ms = parse_now(self.opts.now)  # a bad --now is a usage error (64)
        try:
            self._setup()
        except _NothingToDo as stop:
            rep.note = str(stop)
            for s in rep.steps:
                s.status, s.reason = "skipped", str(stop)
            rep.elapsed_ms = self.deadline.elapsed_ms()
            return rep
        try:
            self._plan()
        except _PlanOverrun:
            left = max(0, self.deadline.remaining_ms())
            self.stopped = (
                f"deadline: reading the stores for the plan used it up ({_ms(left)} left); nothing is changed"
            )
            rep.stopped_at = "backup"
            self.log(
                "warning",
                f"prestart: stopping before backup (reading the stores for the plan used up the deadline, "
                f"{_ms(left)} left); skipped: {', '.join(STEPS)}",
            )
        except PermissionDenied:
            raise  # sessionctl runs as the wrong user: 77 with the one hint, nothing changed
        except (SessionctlError, OSError) as exc:
            err = exc if isinstance(exc, SessionctlError) else from_os_error(exc, "cannot plan")
            self.stopped = f"could not plan: {err.message}"
            rep.errors.append({**err.to_json(), "step": "plan"})
            self.log("error", f"prestart: {self.stopped}; nothing is changed")
        self._step("backup", self._est_backup(), self._do_backup)
        self._step("repair", self._est_repair(), self._do_repair, self._cpu_repair)
        self._step("gc", self._est_gc(), self._do_gc, self._cpu_gc)
        self._step("bindings", self._est_bindings(), self._do_bindings)
        self._step("retention", 20, self._do_retention)
        self._step("health", self._est_health(), self._do_health, self._cpu_health)
        self._validate()
        rep.elapsed_ms = self.deadline.elapsed_ms()
        skipped = rep.skipped()
        tail = f"; skipped: {', '.join(skipped)}" if skipped else ""
        level: LogLevel = "notice" if rep.valid else "error"
        self.log(level, f"prestart: finished in {_ms(rep.elapsed_ms)} of {_ms(rep.deadline_ms)}{tail}")
        return rep

    # ------------------------------------------------------------ setup

    def _setup(self) -> None:

        rep = self.report
        try:
            sd = resolve_state_dir(self.opts.state_dir)
        except NotFoundError as exc:
            self.log(
                "warning", f"prestart: {exc.message}; nothing to do (OpenClaw creates it on first start)"
            )
            raise _NothingToDo(f"{exc.message}: nothing to do") from None
        rep.state_dir = str(sd)

        anchor(sd)  # writes below it walk from its verified fd (fsio.open_dir)
        # read-only first: the configs and the policy, so a bad flag is exit 64 whatever runs
        oc = load_openclaw_config(sd)
        try:
            sc = load_sessionctl_config(self.opts.config, sd)
        except ConfigError as exc:
            sc = SessionctlConfig()
            self.policy_error = exc.message
            config_error: SessionctlError | None = exc
        else:
            config_error = sc.error
            if sc.error is not None:  # health still runs, with the default thresholds
                self.policy_error = sc.error.message
                sc = SessionctlConfig()
        disc = discover(sd, oc, self.opts.agents or None)
        self.ctx = RunContext(
            sd,
            rep.now_ms,
            self.opts.now is not None,
            oc,
            sc,
            disc,
            self.opts.agents or None,
            self.opts.progress,
        )

        overrides = self.opts.overrides or PolicyOverrides()
        try:
            policy = resolve_policy(self.ctx, overrides)  # UsageError (a bad flag) propagates: 64
            # the restart resume set: limited at every start (defaults 4 and 1h)
            policy.defuse = resolve_defuse(self.ctx, self.opts.max_resume, self.opts.resume_within)
        except ConfigError as exc:
            self.policy_error = self.policy_error or exc.message
            config_error = config_error or exc
        else:
            if config_error is None:
                self.policy = policy

        gws = find_gateways(sd)
        if gws:
            g = gws[0]
            rep.refused = {
                "reason": "gateway_running",
                "gateways": [
                    {"pid": x.pid, "version": x.version, "cmdline": " ".join(x.cmdline)[:200]} for x in gws
                ],
            }
            msg = (
                f"{g.describe()} is running for {sd} (command line: {' '.join(g.cmdline)[:120]}); "
                "prestart changes nothing while a gateway runs — it belongs in the unit's ExecStartPre=, "
                "which runs while the gateway is stopped"
            )
            self.log("warning", f"prestart: {msg}")
            raise _NothingToDo("a gateway is running for this state dir: nothing was done")
        if oc.error:
            self.log("warning", f"prestart: {oc.error} (read as an empty config)")
        for sk in disc.skipped:
            self.log("warning", f"prestart: {sk.what} {sk.path}: {sk.reason}")
        if config_error is not None:
            rep.errors.append({**config_error.to_json(), "step": "gc"})
            self.log(
                "error",
                f"prestart: {config_error.message}; gc and run retention are skipped, the other steps run",
            )

    # ------------------------------------------------------------ plan

    def _file_stores(self) -> list[Any]:
        return [s for s in self.ctx.discovery.stores if s.layout == "file" and not s.legacy_pending]

    def _plan(self) -> None:
        """Parse every store once, list the sessions folders, estimate every step. No
        transcript is read here: the steps read what they need themselves."""

        c = self.costs
        t0 = self.deadline.elapsed_ms()
        cpu0 = time.process_time()
        parse_cpu = list_cpu = 0.0
        sample: list[Any] = []  # transcripts to read once, to measure what a read costs now
        for st in self.ctx.discovery.stores:
            if st.legacy_pending:
                self.log(
                    "warning",
                    f"prestart: agent {st.agent_id}: legacy sessions.json pending SQLite migration "
                    "(never modified; run `openclaw doctor --fix`)",
                )
            elif st.layout == "sqlite":
                self._no_store_before.add(str(st.store_path))
        self._sqlite_plan()
        loads: dict[str, Any] = {}
        self.ctx.store_loads = loads
        listings: dict[str, tuple[tuple[int, int, int], Any]] = {}
        self.ctx.inventories = listings  # repair reuses them (RunContext.planned_inventory)
        self.ctx.facts_cache = {}  # repair's reads of referenced transcripts, for gc
        for st in self._file_stores():
            self._plan_checkpoint()
            key = str(st.store_path)
            self._stat_before[key] = _stat(st.store_path)
            p0 = time.process_time()
            # slim, with what gc needs to act on it (plan=True): backup and gc reuse it while
            # the file is unchanged (RunContext.planned_load) instead of reading it again
            load = load_store(st.store_path, plan=True)
            loads[key] = load
            parse_cpu += time.process_time() - p0
            require_access(load, st.agent_id)  # not damage: 77 before anything is changed
            self._status_before[key] = load.status
            c.store_bytes += load.size
            c.store_files += 1
            c.entries += len(load.data or {})
            expired = self._rough_expired(load.data or {})
            if load.status not in ("ok", "missing"):
                c.fixups += 1
                c.damaged_bytes += load.size
                self.log(
                    "warning", f"prestart: agent {st.agent_id}: sessions.json is {load.status} ({load.error})"
                )
            transcripts = 0
            if st.sessions_dir.is_dir():
                p0 = time.process_time()
                stamp, inv = scan_sessions_dir_stamped(st.sessions_dir)
                list_cpu += time.process_time() - p0
                if stamp is not None:
                    listings[str(st.sessions_dir)] = (stamp, inv)
                    self._listed_for_repair += len(inv.files)
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
                self._gc_touched_bytes += load.size
                self._gc_archives += min(expired, transcripts)
                self._gc_expired += expired

        for _ch, p in bindings.binding_file_paths(self.ctx.state_dir):
            c.binding_files += 1
            c.binding_bytes += _size(p)
        if c.store_bytes > 1_000_000:
            c.slim_ms_per_byte = max(1e-7, parse_cpu * 1000 / c.store_bytes / PLAN_PARSE_FACTOR)
        if c.files > 1000:
            c.list_ms_per_file = max(0.002, list_cpu * 1000 / c.files)
        cpu_ms = (time.process_time() - cpu0) * 1000
        if cpu_ms >= 100:
            c.load = max(1.0, min(50.0, (self.deadline.elapsed_ms() - t0) / cpu_ms))
        self._plan_checkpoint()
        self._sample_reads(sample)  # wall time per read, turned into CPU-equivalent ms by `load`
        c.parse_ms = max(1, self.deadline.elapsed_ms() - t0)
        ests = {
            "backup": self._est_backup(),
            "repair": self._est_repair(),
            "gc": self._est_gc(),
            "bindings": self._est_bindings(),
            "health": self._est_health(),
        }
        self.log(
            "info",
            f"prestart: plan for {self.ctx.state_dir}: {c.store_files} store(s), {c.entries} sessions, "
            f"{c.transcripts} transcripts, {bytes_h(c.store_bytes)} of stores; estimates "
            + ", ".join(f"{k} ~{_ms(v)}" for k, v in ests.items())
            + f"; total ~{_ms(sum(ests.values()))} of {_ms(self.deadline.remaining_ms())} left"
            + f" (measured: parse {c.slim_ms_per_byte * 1e6:.2f} ms/MB, listing {c.list_ms_per_file * 1000:.0f} µs/file,"
            f" transcript read {c.head_ms * 1000:.0f}/{c.facts_ms * 1000:.0f} µs, load {c.load:.1f}x)",
        )

    def _plan_checkpoint(self) -> None:
        """The plan only reads: between two stores it stops once only the reserve is left."""
        if self.deadline.remaining_ms() <= self.deadline.reserve_ms:
            raise _PlanOverrun

    def _sample_reads(self, paths: list[Any]) -> None:
        """Read a few transcripts both ways (first line + last byte, first + last line):
        what a read costs on this machine now, page cache state included."""

        if len(paths) < 8:
            return
        c = self.costs
        half = len(paths) // 2
        t = time.perf_counter()
        for p in paths[:half]:
            read_facts(p, last_line=False)
        c.head_ms = max(0.005, (time.perf_counter() - t) * 1000 / half / c.load)
        t = time.perf_counter()
        for p in paths[half:]:
            read_facts(p)
        c.facts_ms = max(0.005, (time.perf_counter() - t) * 1000 / (len(paths) - half) / c.load)

    def _sqlite_plan(self) -> None:
        """SQLite-era agents: the resume set and what gc would do, reported (never changed)."""

        try:
            window = thresholds_for(self.ctx).resume_window_ms
        except SessionctlError:
            window = 3_600_000
        self.report.sqlite, logs = sqlite_report(self.ctx, self.policy, window)
        for level, msg in logs:
            self._relay(level, msg)

    # ------------------------------------------------------------ estimates

    # Each _cpu_* is the step's CPU-time model (ms); its estimate is that times the load.

    def _est(self, cpu_ms: float) -> int:
        return int(cpu_ms * self.costs.load)

    def _est_backup(self) -> int:
        """Copying and hashing every store: the copy rate (re-learned by the backup itself)
        times the load the plan measured."""
        c = self.costs
        return self._est(
            30 + c.copy_ms(c.store_bytes + c.binding_bytes, 2 * (c.store_files + c.binding_files))
        )

    def _cpu_repair(self) -> float:
        """A snapshot of every store (its parse the plan's), the first line and last byte of every
        transcript-like file; per fix a backup and a durable write or move."""
        c = self.costs
        # a stale lock or a leftover is one durable removal; a damaged store is copied first
        fixes = c.copy_ms(c.damaged_bytes, 3 * c.fixups)
        # the stores are not parsed again, nor the folders listed: repair takes the plan's
        # read and listing (unchanged since)
        relist = c.read_cpu(parsed=0.0) - self._listed_for_repair * c.list_ms_per_file
        # the transcripts entries reference are read to their last line, for gc
        shared = min(c.entries, c.transcripts) * max(0.0, c.facts_ms - c.head_ms)
        return 30 + relist + c.transcripts * c.head_ms + shared + fixes

    def _est_repair(self) -> int:
        return self._est(self._cpu_repair())

    def _rough_expired(self, data: dict[str, Any]) -> int:
        """An upper-bound-ish count of what gc will expire in one store, from the store
        alone: entries not updated within the shortest limit, plus what exceeds a cap."""

        pol = self.policy
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
                if ua is not None and self.ctx.now_ms - ua > shortest:
                    old += 1
        over = max(0, len(data) - min(caps)) if caps else 0
        return min(len(data), old + over)

    def _cpu_gc(self) -> float:
        """A snapshot of every store (the plan's parse reused) with each entry's transcript
        facts, the plan per entry; then per touched store a backup, the journal, a
        rewrite and a slim re-read, and per archived file a rename under its lock."""
        c = self.costs
        read = (
            c.store_bytes * c.slim_ms_per_byte * GC_PARSE_FACTOR
            + c.files * c.list_ms_per_file
            + c.entries * (ENTRY_MS + GC_ENTRY_MS)
            # the transcripts' facts: read by repair already when it ran (RunContext.facts_cache)
            + (0 if self._repair_read_facts() else min(c.entries, c.transcripts) * c.facts_ms)
        )
        # each touched store: its backup copy (~1x) and its rewrite (the re-read is above)
        nbytes = int(1.5 * self._gc_touched_bytes) + c.binding_bytes
        return 30 + read + c.copy_ms(nbytes, 3 * c.store_files) + self._gc_archives * ARCHIVE_MS

    def _repair_read_facts(self) -> bool:
        rep = next((s for s in self.report.steps if s.name == "repair"), None)
        return rep is not None and rep.status in ("done", "nothing_to_do")

    def _est_gc(self) -> int:
        return self._est(self._cpu_gc())

    def _est_bindings(self) -> int:
        c = self.costs
        return 10 + c.copy_ms(2 * c.binding_bytes, 3 * c.binding_files)

    def _cpu_health(self) -> float:
        """A slim snapshot of every store with each entry's transcript facts, and the
        checks (per entry, per file)."""
        c = self.costs
        entries_left = max(0, c.entries - self._gc_expired)
        return (
            50
            + c.read_cpu(parsed=entries_left / c.entries if c.entries else 1.0)  # the stores gc left
            - (c.entries - entries_left) * ENTRY_MS  # (of which only the entries left are resolved)
            + min(entries_left, c.transcripts) * c.facts_ms
            + entries_left * HEALTH_ENTRY_MS
            + c.files * HEALTH_FILE_MS
        )

    def _est_health(self) -> int:
        return self._est(self._cpu_health())

    # ------------------------------------------------------------ the step runner

    def _step(
        self,
        name: str,
        estimate_ms: int,
        fn: Callable[[StepReport], None],
        cpu_model: Callable[[], float] | None = None,
    ) -> None:

        st = self.report.step(name)
        st.estimate_ms = estimate_ms
        if self.ctx is not None:
            self.ctx.tick(name, STEPS.index(name), len(STEPS))
        if self.stopped is not None:
            st.status, st.reason = "skipped", self.stopped
            return
        if name in MUTATING and self.no_change is not None:
            st.status, st.reason = "skipped", self.no_change
            return
        if name in MUTATING and self._gateway_appeared():
            return
        if not self.deadline.fits(estimate_ms):
            left = max(0, self.deadline.remaining_ms())
            self.stopped = f"deadline: stopped before {name} ({_ms(left)} left, it needs ~{_ms(estimate_ms)})"
            self.report.stopped_at = name
            st.status, st.reason = "skipped", self.stopped
            rest = [s.name for s in self.report.steps if s.status == "skipped" and s.reason is None]
            self.log(
                "warning",
                f"prestart: stopping before {name} ({_ms(left)} of the deadline left, {name} needs "
                f"~{_ms(estimate_ms)}); skipped: {', '.join([name, *rest])}",
            )
            return
        t0 = self.deadline.elapsed_ms()
        cpu = cpu_model() if cpu_model is not None else None
        self.ctx.stop_check = self._stop_check(name, estimate_ms)
        try:
            fn(st)
        except StepStopped as exc:
            st.status, st.reason = "stopped", exc.message
            self.stopped = exc.message
            self.report.stopped_at = name
            self.log("warning", f"prestart: {name}: {exc.message}")
        except SessionctlError as exc:
            st.status, st.reason = "failed", exc.message
            self.report.errors.append({**exc.to_json(), "step": name})
        except OSError as exc:
            err = from_os_error(exc, f"{name} failed")
            st.status, st.reason = "failed", err.message
            self.report.errors.append({**err.to_json(), "step": name})
        except Exception as exc:
            if os.environ.get("SESSIONCTL_DEBUG"):
                raise
            st.status, st.reason = "failed", f"internal error: {type(exc).__name__}: {exc}"
            self.report.errors.append(
                {
                    "code": "internal",
                    "message": f"{name}: {st.reason}",
                    "hint": "this is a bug in sessionctl; rerun with SESSIONCTL_DEBUG=1 for the traceback",
                    "step": name,
                }
            )
        finally:
            self.ctx.stop_check = None
        st.elapsed_ms = self.deadline.elapsed_ms() - t0
        if cpu is not None and st.status in ("done", "nothing_to_do"):
            self.costs.learn(cpu, st.elapsed_ms)
        if st.status == "failed":
            self.log("warning", f"prestart: {name}: {st.status} — {st.reason}")

    def _stop_check(self, name: str, estimate_ms: int) -> Callable[[], str | None]:
        """What the running step asks at its safe points (RunContext.checkpoint): once it
        has used up the deadline but its reserve, it stops there. (It was started only
        because its estimate fitted: reaching the reserve means it overran that estimate.)"""
        dl = self.deadline

        def check() -> str | None:
            left = dl.remaining_ms() - dl.reserve_ms
            if left > 0:
                return None
            return (
                f"deadline: {name} overran its estimate (~{_ms(estimate_ms)}) and was stopped at a "
                f"safe point with {_ms(max(0, dl.remaining_ms()))} of the deadline left"
            )

        return check

    def _gateway_appeared(self) -> bool:

        gws = find_gateways(self.ctx.state_dir)
        if not gws:
            return False
        g = gws[0]
        self.stopped = f"{g.describe()} started while prestart ran; nothing more is changed"
        self.report.refused = {
            "reason": "gateway_started",
            "gateways": [
                {"pid": x.pid, "version": x.version, "cmdline": " ".join(x.cmdline)[:200]} for x in gws
            ],
        }
        for s in self.report.steps:
            if s.status == "skipped" and s.reason is None:
                s.reason = self.stopped
        self.log("warning", f"prestart: {self.stopped}")
        return True

    # ------------------------------------------------------------ steps

    def _lock_timeout_s(self) -> float:
        return max(0.5, min(5.0, self.deadline.remaining_ms() / 4000))

    def _do_backup(self, st: StepReport) -> None:
        """A backup run (runops.take_backup): every store as it is (damaged ones too: their
        bytes are evidence), the prompt blobs its entries reference, the thread-binding
        files — journaled, before anything else changes."""

        if self.costs.store_files == 0 and self.costs.binding_files == 0:
            st.status, st.reason = "nothing_to_do", "no sessions.json and no thread-binding file to back up"
            return
        t0 = self.deadline.elapsed_ms()
        try:
            # SQLite-era databases: prestart changes nothing in them, so no copy at every start
            out = runops.take_backup(self.ctx, argv=self.opts.argv, sqlite=False)
        except (SessionctlError, OSError) as exc:
            why = exc.message if isinstance(exc, SessionctlError) else str(exc)
            self.no_change = f"the backup failed ({why}): nothing is changed without one"
            raise
        for level, msg in out.logs:
            self._relay(level, f"prestart: backup: {msg}")
        files = len(out.backups)
        nbytes = sum(int(b.get("size") or 0) for b in out.backups)
        # in CPU-equivalent ms, as every model: the estimates multiply by the load
        self.costs.calibrate_copy(nbytes, 2 * files, int((self.deadline.elapsed_ms() - t0) / self.costs.load))
        st.run_id = self.backup_run = out.run_id
        st.status = "done"
        st.detail = {"files": files, "bytes": nbytes, "run_dir": out.run_dir}
        st.reason = f"{files} file(s), {bytes_h(nbytes)}"

    def _relay(self, level: str, msg: str) -> None:
        lvl: LogLevel = level if level in ("error", "warning", "notice", "info", "debug") else "info"  # type: ignore[assignment]
        self.log(lvl, msg)

    # the repairs prestart makes: nothing here guesses (no salvage, no line dropping,
    # no entry removal); a bad-header transcript is renamed aside, because OpenClaw would
    # otherwise replace it with a fresh header on its next load and lose the history
    SAFE_REPAIRS = ("locks", "leftovers", "store", "transcripts")
    SAFE_CHECKS = (
        "lock.stale",
        "leftover.store_tmp",
        "leftover.repair",
        "store.",
        "transcript.truncated_tail",
        "transcript.bad_header",
    )

    def _do_repair(self, st: StepReport) -> None:

        opts = repair.RepairOptions(only=self.SAFE_REPAIRS)
        safe = self.SAFE_CHECKS

        def make_plan() -> Any:
            plan = repair.plan_repair(self.ctx, opts)
            plan.actions = [a for a in plan.actions if str(a.get("check", "")).startswith(safe)]
            return plan

        out = run_plan(self.ctx, make_plan, dry_run=False, force_online=False, phases=repair.repair_phases())
        plan = out.plan
        for exc in plan.refusals:
            self.log("error", f"prestart: repair: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
            self.report.errors.append({**exc.to_json(), "step": "repair"})
        for f in plan.problems:
            if f.severity != "info":
                self.log("warning", f"prestart: repair: {f.agent or '-'}: {f.message}")
        by_check: dict[str, int] = {}
        for a in plan.actions:
            if a.get("state") == "applied":
                c = str(a.get("check") or a["type"])
                by_check[c] = by_check.get(c, 0) + 1
        st.run_id = out.run_id
        st.changes = out.applied
        st.detail = {
            "applied": by_check,
            "skipped": [public_action(a, repair.REPAIR_TO_HEALTH) for a in out.skipped],
            "refused": [e.to_json() for e in plan.refusals],
        }
        if plan.refusals and not out.applied:
            st.status = "failed"
            st.reason = "; ".join(e.message for e in plan.refusals)
        elif out.applied:
            st.status = "done"
            st.reason = ", ".join(f"{n} {c}" for c, n in sorted(by_check.items()))
            if plan.refusals:
                st.reason += f"; refused: {'; '.join(e.message for e in plan.refusals)}"
        else:
            st.status = "nothing_to_do"
            st.reason = "no stale lock, leftover, truncated tail, bad header or damaged store"

    def _ok_agents_ctx(self) -> tuple[Any, list[str]]:
        """The context narrowed to the stores that parse (gc never cleans a store it
        cannot read; one damaged store must not stop gc for the others)."""
        import dataclasses

        keep: list[Any] = []
        dropped: list[str] = []
        for store in self.ctx.discovery.stores:
            if store.layout == "sqlite":
                continue  # reported by _sqlite_plan: OpenClaw changes them only through its gateway
            if store.layout == "file" and not store.legacy_pending:
                path = str(store.store_path)
                if self._status_before.get(path) == "ok" and _stat(store.store_path) == self._stat_before.get(
                    path
                ):
                    status = "ok"  # as the plan read it, untouched since
                else:
                    status = load_store(store.store_path, slim=True).status
                if status not in ("ok", "missing"):
                    dropped.append(store.agent_id)
                    continue
            keep.append(store)
        disc = Discovery(self.ctx.state_dir, self.ctx.config, keep, list(self.ctx.discovery.skipped))
        return dataclasses.replace(self.ctx, discovery=disc), dropped

    def _do_gc(self, st: StepReport) -> None:
        if self.policy is None:
            st.status = "failed"
            st.reason = f"no usable gc policy: {self.policy_error}"
            return

        ctx, dropped = self._ok_agents_ctx()
        for agent in dropped:
            self.log("warning", f"prestart: gc: agent {agent} skipped: its sessions.json does not parse")
        if not self.policy.has_expiry:
            self.log(
                "notice",
                "prestart: gc: no gc policy is configured ([gc] in sessionctl.toml, flags, or OpenClaw's "
                "session.maintenance): no session expires by age, idle time or count",
            )
        out = run_gc(
            ctx,
            self.policy,
            dry_run=False,
            lock_timeout_s=self._lock_timeout_s(),
            argv=self.opts.argv,
        )
        self.gc_outcome = out
        for level, msg in out.logs:
            self._relay(level, f"prestart: gc: {msg}")
        summary = out.summary()
        total = summary.get("total", {})
        st.run_id = out.run_id
        expired = int(total.get("expired", 0))
        archived = int(total.get("archived_files", 0))
        st.changes = expired + archived + int(summary.get("bindings_removed", 0))
        st.detail = {
            "policy": self.policy.describe(),
            "policy_source": self.policy.source,
            "expired": expired,
            "archived_files": archived,
            "bindings_removed": summary.get("bindings_removed", 0),
            "skipped_agents": [
                *out.skipped_agents,
                *({"agent": a, "reason": "store does not parse"} for a in dropped),
            ],
            "by_agent": {
                a: {"expired": s["expired"], "kept": s["kept"], "defused": s.get("defused", 0)}
                for a, s in summary["agents"].items()
            },
            "refused_agents": list(summary.get("refused_agents") or []),
            "resume_era": summary.get("resume_era"),
            "resume": [r.to_json() for ap in out.plan.agents for r in ap.defuse],
            "defused": int(total.get("defused", 0)),
        }
        defused = int(total.get("defused", 0))
        st.changes += defused
        for ap in out.plan.agents:
            if ap.refused:  # a warning: the other agents are cleaned all the same
                self.log("warning", f"prestart: gc: {ap.refused}")
        kept = [r for ap in out.plan.agents for r in ap.defuse if r.action == "keep"]
        if defused or kept:
            self.log(
                "notice",
                f"prestart: gc: restart resume set: {len(kept)} kept for the start "
                f"({', '.join(r.key for r in kept[:5])}{' …' if len(kept) > 5 else ''}), {defused} defused",
            )
        if out.errors:
            # part of gc could not run (a store stayed locked, ...): say so, never hide it
            msgs = [getattr(e, "message", str(e)) for e in out.errors]
            st.detail["errors"] = msgs
            for m in msgs:
                self.log("warning", f"prestart: gc: {m}")
            st.status = "failed"
            st.reason = f"gc stopped part-way ({len(msgs)} error(s)): {msgs[0]}" + (
                f"; run {out.run_id} holds what was done" if out.run_id else ""
            )
        elif out.run_id is None:
            st.status = "nothing_to_do"
            st.reason = f"no session exceeds the policy ({self.policy.describe()})"
        else:
            st.status = "done"
            st.reason = (
                f"{expired} session(s) expired, {archived} file(s) archived, {defused} resume(s) defused "
                f"({self.policy.describe()})"
            )
        if out.plan.refusals:
            st.reason = f"{st.reason}; left untouched (would be emptied): agent " + ", ".join(
                ap.agent for ap in out.plan.agents if ap.refused
            )

    def _do_bindings(self, st: StepReport) -> None:
        gc_step = self.report.step("gc")
        if gc_step.status in ("done", "nothing_to_do") and self.gc_outcome is not None:
            n = int(gc_step.detail.get("bindings_removed", 0))
            st.run_id = gc_step.run_id if n else None
            st.changes = n
            st.status = "done" if n else "nothing_to_do"
            st.reason = (
                f"{n} expired or dangling thread binding(s) removed by gc"
                if n
                else "no expired thread binding"
            )
            return
        self._expire_bindings_alone(st)

    def _expire_bindings_alone(self, st: StepReport) -> None:
        """When gc did not run: drop only bindings expired by their own limits (the
        gateway's sweeper rule), each file rewritten atomically after a backup."""

        now = self.ctx.now_ms
        edits: list[tuple[Any, bytes, list[dict[str, Any]]]] = []
        for bf in bindings.load_bindings(self.ctx.state_dir):
            if bf.error is not None or bf.raw is None:
                continue
            drop = [(b, why) for b in bf.bindings if (why := bindings.expired(b, now)) is not None]
            if drop:
                data = bindings.serialize(bf, bindings.without(bf, [b for b, _ in drop]))
                edits.append((bf, data, [{**b.to_json(), "reason": f"expired: {w}"} for b, w in drop]))
        if not edits:
            st.status, st.reason = "nothing_to_do", "no expired thread binding"
            return
        acts: list[tuple[dict[str, Any], bytes]] = []

        def record(run: Run) -> None:
            st.run_id = run.run_id
            for bf, data, removed in edits:
                a = run.add(
                    {
                        "type": "file.rewrite",
                        "path": str(bf.path.relative_to(self.ctx.state_dir)),
                        "channel": bf.channel,
                        "before_sha256": sha256_bytes(bf.raw),
                        "after_sha256": sha256_bytes(data),
                        "removed_bindings": removed,
                        "reason": f"{len(removed)} expired thread binding(s) removed",
                    }
                )
                a["backup"] = run.backup_file(bf.path, kind="binding")
                acts.append((a, data))

        def apply(run: Run) -> None:
            for a, data in acts:
                apply_rewrite(run, a, data)

        steps = RunSteps(
            record,
            apply,
            status=lambda run: "done" if all(a["state"] == "applied" for a, _ in acts) else "failed",
        )
        with exclusive(self.ctx, lock_timeout_s=self._lock_timeout_s()):
            run_journaled(self.ctx, "prestart", steps, argv=self.opts.argv)
        n = sum(len(a["removed_bindings"]) for a, _ in acts if a["state"] == "applied")
        st.changes = n
        st.status = "done"
        st.reason = f"{n} expired thread binding(s) removed"

    def _do_retention(self, st: StepReport) -> None:
        """Keep the run folders within --keep-runs / --keep-within ([gc] keep-runs /
        keep-within); without either, the newest policy.DEFAULT_KEEP_RUNS. Never this run's."""

        if self.policy_error is not None:
            st.status = "skipped"
            st.reason = (
                "sessionctl.toml could not be read: its keep-runs / keep-within are unknown, nothing pruned"
            )
            return
        keep_runs = getattr(self.policy, "keep_runs", None)
        kw = getattr(self.policy, "keep_within", None)
        keep_within_ms = kw.ms if kw is not None else None
        if keep_runs is None and keep_within_ms is None:
            keep_runs = DEFAULT_KEEP_RUNS
        removed = prune_runs(
            self.ctx.state_dir,
            keep_runs=keep_runs,
            keep_within_ms=keep_within_ms,
            now=now_ms(),  # run folders are dated by the wall clock
            protect={s.run_id for s in self.report.steps if s.run_id},  # every run of this prestart
        )
        st.changes = len(removed)
        st.detail = {"keep_runs": keep_runs, "keep_within_ms": keep_within_ms, "removed": removed}
        st.status = "done" if removed else "nothing_to_do"
        st.reason = f"{len(removed)} old run folder(s) removed" if removed else "no run folder past retention"

    def _do_health(self, st: StepReport) -> None:

        rep = run_health(self.ctx)
        counts = rep.counts()
        status = "critical" if counts["critical"] else "warning" if counts["warning"] else "ok"
        top = sorted(
            (f for f in rep.findings if f.severity != "info"),
            key=lambda f: -SEVERITY_RANK[f.severity],
        )
        self.report.health = {
            "status": status,
            "summary": counts,
            "by_check": rep.by_check(),
            "agents": [
                {
                    "agent": a.agent,
                    "layout": a.layout,
                    "store_status": a.store_status,
                    "entries": a.entries,
                    "store_bytes": a.store_bytes,
                    "transcripts": a.transcripts,
                }
                for a in rep.agents
            ],
            "top": [
                {
                    "check": f.check,
                    "severity": f.severity,
                    "agent": f.agent,
                    "key": f.key,
                    "message": f.message,
                    "fix": f.fix,
                }
                for f in top[:8]
            ],
            "more": max(0, len(top) - 8),
        }
        st.status = "done"
        st.reason = f"{status.upper()}: {counts['critical']} critical, {counts['warning']} warning, {counts['info']} info"

    # ------------------------------------------------------------ the exit code

    def _validate(self) -> None:
        """Is every store OpenClaw reads left valid? Re-read the ones that changed (or
        were bad); trust the plan's read for the ones nobody touched."""

        for store in self.ctx.discovery.stores:
            path = str(store.store_path)
            if store.legacy_pending:
                self.report.stores.append(
                    StoreCheck(
                        store.agent_id,
                        path,
                        "legacy",
                        True,
                        "legacy store pending SQLite migration; not read by OpenClaw",
                    )
                )
                continue
            if store.layout != "file":
                appeared = path in self._no_store_before and os.path.lexists(path)
                msg = (
                    "a sessions.json appeared beside the SQLite database during prestart: OpenClaw refuses to start"
                    if appeared
                    else None
                )
                self.report.stores.append(StoreCheck(store.agent_id, path, store.layout, not appeared, msg))
                if appeared:
                    self.log("error", f"prestart: agent {store.agent_id}: {msg} ({path})")
                continue
            before = self._status_before.get(path)
            if before == "ok" and _stat(store.store_path) == self._stat_before.get(path):
                status, msg = "ok", None
            else:
                load = load_store(store.store_path, slim=True)  # the status is the same as a full parse's
                status, msg = load.status, load.error
            valid = valid_for_openclaw(status, msg)  # what OpenClaw loads with its entries
            self.report.stores.append(StoreCheck(store.agent_id, path, status, valid, msg))
            if not valid:
                self.log(
                    "error",
                    f"prestart: agent {store.agent_id}: {path} is left {status} ({msg}); OpenClaw would read it "
                    "as empty and overwrite it — exit 65 keeps the gateway from starting (ExecStartPre=- would "
                    f"start it anyway); fix: sessionctl repair --only store --agent {store.agent_id}",
                )
                self.report.errors.append(
                    {
                        "code": "invalid_data",
                        "message": f"agent {store.agent_id}: sessions.json is left {status}: {msg}",
                        "path": path,
                        "hint": f"sessionctl repair --only store --agent {store.agent_id} (or sessionctl restore)",
                    }
                )


class _NothingToDo(Exception):
    pass


class _PlanOverrun(Exception):
    """The plan reached the deadline's reserve (between two stores)."""


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _size(path: Path) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return 0


def run_prestart(opts: PrestartOptions, deadline: Deadline, log: LogFn) -> PrestartReport:
    """Run prestart (see the module docstring). Raises only UsageError (bad flags) and PermissionDenied (a store it may not read)."""
    return Prestart(opts, deadline, log).run()
