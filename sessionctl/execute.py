"""The one executor of journaled runs, and the plan → run engine built on it.

Every change sessionctl makes goes the same way (`exclusive`, then `run_journaled`):
sessionctl's private lock (`--lock-timeout`) → refusal while a gateway that cannot be
excluded runs → the command plans → a wait for each store lock the plan touches (`--lock-timeout`; a live holder is never broken) → the run folder → payloads
and backups → the journal, written durably → the actions applied, in the command's
phases → status written. A failure before the journal exists leaves no run folder
(runs.maybe_finish); one after it leaves the run `failed`, with its journal for undo.
gc, repair, archive, dedupe, undo, restore, backup and prestart's binding step all run
through it. gc, undo and restore wait for the store locks before the run folder;
repair, archive and dedupe journal first and wait (the same `--lock-timeout`) in each
store's critical section, where they re-check the store against their plan.

What a command that changes files did is a RunOutcome (its `summary()` is the summary
of the command's JSON; gc, undo/restore and backup extend it in their modules). What a
plan command (repair, archive, dedupe) would do is a Plan; `run_plan` executes it into
an Outcome, and `public_action` is how its reports show an action. The planners know
nothing of runs, and this module knows nothing of their checks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Required, TypedDict, Unpack

from sessionctl.action_types import BackupRecord, JournalAction, skip
from sessionctl.actions import apply_actions, prepare
from sessionctl.context import RunContext
from sessionctl.errors import BusyError, ConfigError, DataError, SessionctlError
from sessionctl.findings import Finding, MappedFinding, Severity
from sessionctl.fsio import atomic_write, fault_point, makedirs
from sessionctl.gateway import find_gateways, refuse_if_gateway_running
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.locks import private_lock, wait_store_lock_free
from sessionctl.runs import Run, maybe_finish

# ---------------------------------------------------------------- the executor

DEFAULT_LOCK_TIMEOUT_S = 10.0  # --lock-timeout's default, in every mutating command


@contextlib.contextmanager
def exclusive(ctx: RunContext, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Iterator[None]:
    """sessionctl's private lock on the state dir, waited for up to `lock_timeout_s`:
    plan and run inside it, so two sessionctl runs never overlap."""
    with private_lock(ctx.state_dir, timeout_s=lock_timeout_s):
        yield


def touched_stores(state_dir: Path, actions: Iterable[JournalAction]) -> list[Path]:
    """The sessions.json files the actions change (their locks are waited for)."""
    out: set[Path] = set()
    for a in actions:
        if a["type"].startswith("store."):
            out.add(state_dir / a["store"])
        elif a["type"] == "file.restore" and a.get("kind") == "store":
            out.add(state_dir / a["path"])
    return sorted(out)


class RunArgs(TypedDict, total=False):
    """The keywords every command run as a journaled run takes (gc, undo, restore:
    `**opts: Unpack[RunArgs]`), read through RunOptions."""

    dry_run: Required[bool]
    force_online: bool
    backup_dir: str | None
    lock_timeout_s: float
    argv: list[str] | None


@dataclass(frozen=True)
class RunOptions:
    """How a journaled run goes: RunArgs with their defaults."""

    dry_run: bool
    force_online: bool = False  # --force-online: mutate although a gateway runs
    backup_dir: str | None = None  # --backup-dir: the runs live there
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S  # --lock-timeout
    argv: list[str] | None = None  # the command line, for the run's meta.json


@dataclass
class RunSteps:
    """What a command does inside its journaled run; `run_journaled` calls them in order.

    `record` adds the actions and writes what they need into the run folder (payloads,
    backups) — nothing live changes yet; `apply` makes the changes, in the command's
    phases; `summary` is the status's counts and `status` its word. `before_apply` names the fault point
    between the journal and the first change (test-only; docs/reliability.md)."""

    record: Callable[[Run], None]
    apply: Callable[[Run], None] = lambda run: None
    summary: Callable[[Run], JsonObj | None] = lambda run: None
    before_apply: str | None = None
    status: Callable[[Run], str] = lambda run: (
        "done"
    )  # prestart's binding step: "failed" when one was skipped


def run_journaled(
    ctx: RunContext,
    command: str,
    steps: RunSteps,
    *,
    stores: Iterable[Path] = (),
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    backup_dir: str | None = None,
    argv: list[str] | None = None,
    started: Callable[[Run], None] | None = None,
) -> Run:
    """Run `steps` as one journaled run, under the private lock the caller holds
    (`exclusive`): first each store lock in `stores` must be free (waits up to
    `lock_timeout_s`, else BusyError with no run folder made), then the run folder;
    record, journal, the fault point `before_apply`, apply, finish. A failure inside
    discards the folder before the journal exists, and marks the run `failed` after.
    `started` sees the run as soon as it exists (an outcome that names its run even
    when it fails: RunOutcome.started)."""
    for p in stores:
        wait_store_lock_free(p, lock_timeout_s)
    run = Run.start(ctx.state_dir, command, policy_now_ms=ctx.now_ms, backup_dir=backup_dir, argv=argv)
    with maybe_finish(run):  # before the journal: the half-made run folder is discarded
        if started is not None:
            started(run)
        steps.record(run)
        run.commit_journal()
        if steps.before_apply is not None:
            fault_point(steps.before_apply)
        steps.apply(run)
        run.finish(steps.status(run), steps.summary(run))
    return run


# ---------------------------------------------------------------- the plan

# the engine's own checks → health check id (none: health reports no such thing)
ENGINE_TO_HEALTH: dict[str, str | None] = {"store.would_be_empty": None}


@dataclass
class Plan:
    """What a command would do: journal-ready actions (each with `check`, `agent`,
    `what` and `reason` for humans), what it found and left alone, and refusals.
    `findings` maps the command's `check` ids to the health check id each resolves or
    concerns (repair's REPAIR_TO_HEALTH); problems and kept items of a mapped check carry
    it as `finding`."""

    command: str
    actions: list[JournalAction] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)  # reported, not touched
    kept: list[JsonObj] = field(default_factory=list)  # inspected and deliberately left alone
    refusals: list[SessionctlError] = field(default_factory=list)
    details: JsonObj = field(default_factory=dict)
    store_sizes: dict[str, int] = field(default_factory=dict)  # store rel → entries now
    store_keys: dict[str, list[str]] = field(default_factory=dict)  # store rel → keys now
    findings: Mapping[str, str | None] = field(default_factory=dict)

    def add(self, action: JournalAction, payload: bytes | None = None) -> JournalAction:
        """Add an action; `payload` is content the run folder must hold for it
        (a store.replace's replacement), written there before the journal."""
        if payload is not None:
            action["_payload"] = payload
        self.actions.append(action)
        return action

    def keep(self, check: str, agent: str | None, path: str | None, reason: str, **extra: JsonValue) -> None:
        item: JsonObj = {"check": check}
        if check in self.findings:
            item["finding"] = self.findings[check]
        self.kept.append({**item, "agent": agent, "path": path, "reason": reason, **extra})

    def problem(
        self,
        check: str,
        severity: Severity,
        agent: str | None,
        message: str,
        *,
        key: str | None = None,
        path: str | None = None,
        fix: str | None = None,
        **data: JsonValue,
    ) -> None:
        if check in self.findings:
            self.problems.append(
                MappedFinding(
                    check,
                    severity,
                    agent,
                    message,
                    key=key,
                    path=path,
                    fix=fix,
                    data=data,
                    finding=self.findings[check],
                )
            )
        else:
            self.problems.append(
                Finding(check, severity, agent, message, key=key, path=path, fix=fix, data=data)
            )

    @property
    def needs_offline(self) -> bool:
        """True when an action is transcript surgery (needs every gateway stopped)."""
        return any(a.get("offline") for a in self.actions)

    def guard_nonempty(self) -> None:
        """Refuse every store edit that would leave a store with no entries."""
        by_store: dict[str, list[int]] = {}
        for i, a in enumerate(self.actions):
            if a["type"] in ("store.remove", "store.insert", "store.set"):
                by_store.setdefault(a["store"], []).append(i)
        drop: set[int] = set()
        for store_rel, idxs in by_store.items():
            n = self.store_sizes.get(store_rel)
            if not n:
                continue
            keys = set(self.store_keys.get(store_rel, ()))
            for i in idxs:
                a = self.actions[i]
                if a["type"] == "store.remove" or (a["type"] == "store.set" and a.get("after") is None):
                    keys.discard(a["key"])
                else:
                    keys.add(a["key"])
            if keys:
                continue
            agent = self.actions[idxs[0]].get("agent")
            drop.update(idxs)
            self.refusals.append(
                DataError(
                    f"{store_rel}: these changes would remove all {n} entries and leave an empty store, "
                    "which OpenClaw cannot tell from a lost one; nothing was removed from it",
                    path=store_rel,
                    hint="remove the entries by hand (or stop the agent) if that is really intended",
                )
            )
            self.problem(
                "store.would_be_empty",
                "warning",
                agent,
                f"not changed: the planned removals would leave {store_rel} with no entries",
                path=store_rel,
            )
        if drop:
            gone = {(self.actions[i]["store"], self.actions[i]["key"]) for i in drop}
            # and whatever only makes sense after one of the dropped removals (its transcript's archive)
            for i, a in enumerate(self.actions):
                if any((s, k) in gone for s, k in a.get("requires", ())):
                    drop.add(i)
            self.actions = [a for i, a in enumerate(self.actions) if i not in drop]

    def note_store(self, store_rel: str, keys: list[str]) -> None:
        self.store_sizes[store_rel] = len(keys)
        self.store_keys[store_rel] = keys


def tag_findings(plan: Plan, mapping: Mapping[str, str | None]) -> Plan:
    """Give every action, problem and kept item of `plan` the `finding` of its `check`
    (null for ids the mapping lacks). Actions keep it in their dict (the journal too);
    problems become MappedFindings, kept items get it right after `check`. Items that
    carry one already (the engine's own checks, e.g. `store.would_be_empty`) keep theirs."""
    for a in plan.actions:
        a.setdefault("finding", mapping.get(a["check"]))
    plan.problems = [
        f
        if isinstance(f, MappedFinding)
        else MappedFinding(
            f.check,
            f.severity,
            f.agent,
            f.message,
            key=f.key,
            path=f.path,
            fix=f.fix,
            data=f.data,
            finding=mapping.get(f.check),
        )
        for f in plan.problems
    ]
    plan.kept = [
        k if "finding" in k else {"check": k["check"], "finding": mapping.get(k["check"]), **k}
        for k in plan.kept
    ]
    return plan


# ---------------------------------------------------------------- what reports show

_SHOWN = ("id", "type", "check", "agent", "key", "store", "path", "from", "to", "what", "reason")
_SHOWN_AFTER = ("bytes", "bytes_cut", "lines_dropped", "entries", "origin", "from_run", "keys", "compress")


def public_action(
    a: JournalAction, findings: Mapping[str, str | None] | None = None, *, every_field: bool = False
) -> JsonObj:
    """An action as reports show it: never the verbatim entries (those are in the journal).

    `every_field` (gc's --json): every other field as journaled. Otherwise the fields a
    reader needs, in a fixed order, with `finding` right after `check`: the health check
    id it resolves (null when none) — set on the action by archive's and dedupe's
    planners (tag_findings), else looked up in `findings` (repair's REPAIR_TO_HEALTH)."""
    if every_field:
        return {k: v for k, v in a.items() if k != "entry"}
    out: JsonObj = {}
    for k in _SHOWN:
        if a.get(k) is not None:
            out[k] = a[k]
        if k == "check":
            if "finding" in a:
                out["finding"] = a["finding"]
            elif findings is not None and a.get("check") in findings:
                out["finding"] = findings[a["check"]]  # null too: no health check corresponds
    for k in _SHOWN_AFTER:
        if a.get(k) is not None:
            out[k] = a[k]
    out["state"] = a.get("state", "planned")
    if a.get("note"):
        out["note"] = a["note"]
    return out


# ---------------------------------------------------------------- executing a plan


@dataclass(kw_only=True)
class RunOutcome:
    """What a command that changes files did — or, in a dry run, would do: the one
    outcome of gc, repair, archive, dedupe, undo, restore and backup. The fields every
    such command has are here (and read the same way by every command's Result); a
    command's own are in its subclass (Outcome: a plan command's Plan; gc.GcOutcome).
    `summary()` is the `summary` object of the command's JSON output."""

    command: str
    dry_run: bool = False
    run_id: str | None = None  # the run made (None: a dry run, or nothing to do)
    run_dir: str | None = None
    gateways: list[str] = field(default_factory=list)  # running gateways, as described
    lock_held_ms: int = 0  # the longest a store lock was held
    pruned_runs: list[str] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)  # (level, message)
    backups: list[BackupRecord] = field(default_factory=list)
    actions: list[JournalAction] = field(default_factory=list)

    def started(self, run: Run) -> None:
        """Name the run as soon as it exists (an outcome names its run even when it fails)."""
        self.run_id, self.run_dir = run.run_id, str(run.dir)

    @property
    def applied(self) -> int:
        return sum(1 for a in self.actions if a.get("state") == "applied")

    @property
    def skipped(self) -> list[JournalAction]:
        return [a for a in self.actions if a.get("state") == "skipped"]

    def summary(self) -> JsonObj:
        """The counts of undo's and restore's JSON: actions, per state, the lock held."""
        return {
            "actions": len(self.actions),
            "applied": self.applied,
            "skipped": len(self.skipped),
            "planned": sum(1 for a in self.actions if a.get("state") == "planned"),
            "lock_held_ms": self.lock_held_ms,
        }


@dataclass(kw_only=True)
class Outcome(RunOutcome):
    """The outcome of a plan command (repair, archive, dedupe): its Plan, whose actions
    are the outcome's, and, for a dry run, why a real run would refuse."""

    plan: Plan
    would_refuse: str | None = None

    def __post_init__(self) -> None:
        self.actions = self.plan.actions

    def summary(self) -> JsonObj:
        by_check: dict[str, int] = {}
        for a in self.plan.actions:
            check = a["check"] if "check" in a else a["type"]
            by_check[check] = by_check.get(check, 0) + 1
        return {
            "planned": len(self.plan.actions),
            "applied": self.applied,
            "skipped": len(self.skipped),
            "kept": len(self.plan.kept),
            "problems": len(self.plan.problems),
            "refused": len(self.plan.refusals),
            "by_check": dict(sorted(by_check.items())),
        }


def _write_payloads(run: Run, plan: Plan) -> None:
    for a in plan.actions:
        data = a.pop("_payload", None)
        if data is None:
            continue
        rel = f"replacement/{a['store']}"
        dst = run.dir / rel
        makedirs(dst.parent)
        atomic_write(dst, data, mode=0o600)
        a["source"] = rel


def _execute(
    ctx: RunContext, plan: Plan, o: RunOptions, phases: list[Callable[[JournalAction], bool]] | None
) -> Outcome:
    """Run a plan: refuse under a gateway that cannot be excluded, back up, journal,
    apply (in `phases`, each a filter over the actions, in order; each store edit waits
    up to `lock_timeout_s` for its sessions.json.lock), finish. The caller holds the
    private lock (`exclusive`)."""
    gws = refuse_if_gateway_running(
        ctx.state_dir, force_online=o.force_online, allow_lock_era=not plan.needs_offline
    )
    out = Outcome(command=plan.command, plan=plan, gateways=[g.describe() for g in gws])

    def record(run: Run) -> None:
        run.at("writing the replacement stores into the run", run.dir)
        _write_payloads(run, plan)
        prepare(run, plan.actions)
        for a in plan.actions:
            run.add(a)

    def apply(run: Run) -> None:
        groups = phases or [lambda a: True]
        done: set[int] = set()
        for step, pick in enumerate(groups):
            ctx.tick(f"applying {len(plan.actions)} action(s)", step, len(groups))
            batch = [a for a in plan.actions if a["id"] not in done and pick(a)]
            done.update(a["id"] for a in batch)
            if batch:
                stats = apply_actions(run, batch, lock_timeout_s=o.lock_timeout_s)
                out.lock_held_ms = max(out.lock_held_ms, stats.get("lock_held_ms", 0))
        for a in plan.actions:
            if a.get("state") == "planned":
                skip(a, "not applied")

    def counts(run: Run) -> JsonObj:
        return {"planned": len(plan.actions), "applied": out.applied, "skipped": len(out.skipped)}

    run_journaled(
        ctx,
        plan.command,
        RunSteps(record, apply, counts),
        # no wait before the run: the plan is journaled first, and each store's edit
        # waits for its lock (up to lock_timeout_s) in its critical section, re-checking
        # there that the store is still what was planned on (tests/test_repair.py pins it)
        lock_timeout_s=o.lock_timeout_s,
        backup_dir=o.backup_dir,
        argv=o.argv,
        started=out.started,
    )
    return out


def run_plan(
    ctx: RunContext,
    make_plan: Callable[[], Plan],
    *,
    phases: list[Callable[[JournalAction], bool]] | None = None,
    **opts: Unpack[RunArgs],
) -> Outcome:
    """Plan and (unless dry_run) run the plan (_execute, in `phases`) under sessionctl's
    private lock. A dry run takes no lock and writes nothing."""
    o = RunOptions(**opts)
    if o.dry_run:
        plan = make_plan()
        out = Outcome(command=plan.command, plan=plan, dry_run=True)
        if plan.actions:
            out.gateways = [g.describe() for g in find_gateways(ctx.state_dir)]
            try:
                ctx.require_openclaw_config()
                refuse_if_gateway_running(
                    ctx.state_dir, force_online=o.force_online, allow_lock_era=not plan.needs_offline
                )
            except (BusyError, ConfigError) as exc:
                out.would_refuse = exc.message
        return out
    with exclusive(ctx, lock_timeout_s=o.lock_timeout_s):
        plan = make_plan()
        if not plan.actions:
            return Outcome(command=plan.command, plan=plan)
        ctx.require_openclaw_config()
        return _execute(ctx, plan, o, phases)
