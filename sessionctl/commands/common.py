"""What the commands share: option aliases (so an option reads the same in every command
that takes it, and can be given after the command name) and the small pieces of body
logic they have in common (parsing a duration option, checking --backup-dir, building
the Result, the warnings every command gives the same way).

Importing this module costs typer and nothing more: the helpers import the core inside
their bodies, as the command bodies do.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from typer.models import OptionInfo

if TYPE_CHECKING:
    from pathlib import Path

    from _typeshed import DataclassInstance

    from sessionctl.context import RunContext
    from sessionctl.execute import Outcome
    from sessionctl.jsonjs import JsonObj, JsonValue
    from sessionctl.result import Result

# ------------------------------------------------------------ every command

StateDirOpt = Annotated[
    str | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="OpenClaw state dir (default: $OPENCLAW_STATE_DIR, else ~/.openclaw, else legacy ~/.clawdbot).",
        show_default=False,
    ),
]
AgentOpt = Annotated[
    list[str] | None,
    typer.Option("--agent", "-a", metavar="ID", help="Only this agent (repeatable).", show_default=False),
]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        metavar="ISO-TIME",
        help="Pretend the time is this ISO-8601 instant (reproducible runs).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the versioned JSON envelope on stdout.")]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="sessionctl.toml to use (default: <state>/sessionctl.toml if present).",
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show per-session detail.")]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print exactly one summary line (status, counts, run id): for timers, cron and the journal.",
    ),
]

# ------------------------------------------------------------ commands that change files

MetricsOpt = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        metavar="FILE",
        help="Also write the run's exit code, time and removals as node_exporter textfile metrics "
        "to FILE (atomically; e.g. /var/lib/node_exporter/textfile/sessionctl-gc.prom).",
        show_default=False,
    ),
]

ForceOnlineOpt = Annotated[
    bool,
    typer.Option(
        "--force-online",
        help="Mutate even while a gateway that takes no store lock (v5.2+) is running. Risky.",
    ),
]
# gc and undo: the OpenClaw executable for SQLite-era changes (sessionctl/sqlite/openclaw.py)
OpenClawOpt = Annotated[
    str | None,
    typer.Option(
        "--openclaw",
        metavar="PATH",
        help="The `openclaw` executable for SQLite-era agents (default: `openclaw` on PATH); "
        "sessionctl changes their sessions only through OpenClaw's own commands.",
        show_default=False,
    ),
]
# gc, repair, archive, dedupe (undo and restore say "what would be done": revert.py)
DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show the plan, change nothing (exit 0).")]


def _backup_dir_option(metavar: str | None) -> OptionInfo:
    option: OptionInfo = typer.Option(  # typer declares it Any, for `x: int = typer.Option(...)`
        "--backup-dir",
        metavar=metavar,
        help="Folder of the run folders (default: <state>/sessionctl/runs); must be outside every sessions folder.",
        show_default=False,
    )
    return option


# gc, backup, runs, undo, restore, repair, archive, dedupe: `--backup-dir DIR`
BackupDirOpt = Annotated[str | None, _backup_dir_option("DIR")]
# every command that changes files (its run waits this long for each lock)
LockTimeoutOpt = Annotated[
    str,
    typer.Option(
        "--lock-timeout",
        metavar="DURATION",
        help="How long to wait for sessions.json.lock and sessionctl's own lock.",
    ),
]
# gc, backup and prestart: run retention afterwards (runs.prune_runs)
KeepRunsOpt = Annotated[
    int | None,
    typer.Option(
        "--keep-runs",
        metavar="N",
        help="Afterwards, keep only the newest N run folders (default: [gc] keep-runs, else 20; the newest is always kept).",
        show_default=False,
    ),
]
KeepWithinOpt = Annotated[
    str | None,
    typer.Option(
        "--keep-within",
        metavar="DURATION",
        help="Afterwards, delete run folders older than DURATION (e.g. 30d); with --keep-runs, a run is kept if either keeps it.",
        show_default=False,
    ),
]

# ------------------------------------------------------------ gc's policy (gc, prestart)

# option → (metavar, help); prestart hands the same options to its gc step and shows
# them as "gc: <help>", without a metavar
_GC_POLICY = {
    "--max-age": (
        "DURATION",
        "expire sessions older than DURATION (30s, 15min, 120h, 5d, 1w, 2d12h; 'off').",
    ),
    "--idle": ("DURATION", "expire sessions idle longer than DURATION ('off' disables a configured one)."),
    "--failed-idle": (
        "DURATION",
        "expire sessions whose last run failed, was killed, timed out or was aborted, once idle longer "
        "than DURATION (never a running one).",
    ),
    "--max-entries": ("N", "per agent, after age/idle, keep the N most recently active."),
    "--kind": ("KIND", "only sessions of this kind (repeatable): cron-run, subagent, hook, ..."),
    "--protect": ("GLOB", "never expire keys matching this glob (repeatable)."),
}


def _gc_policy_option(*decls: str, prestart: bool = False) -> OptionInfo:
    metavar, text = _GC_POLICY[decls[0]]
    option: OptionInfo = typer.Option(  # typer declares it Any
        *decls,
        metavar=metavar,
        help=f"gc: {text}" if prestart else text[0].upper() + text[1:],
        show_default=False,
    )
    return option


MaxAgeOpt = Annotated[str | None, _gc_policy_option("--max-age")]
IdleOpt = Annotated[str | None, _gc_policy_option("--idle")]
FailedIdleOpt = Annotated[str | None, _gc_policy_option("--failed-idle")]
MaxEntriesOpt = Annotated[int | None, _gc_policy_option("--max-entries")]
KindOpt = Annotated[list[str] | None, _gc_policy_option("--kind", "-k")]  # list's filter too
ProtectOpt = Annotated[list[str] | None, _gc_policy_option("--protect")]
PrestartMaxAgeOpt = Annotated[str | None, _gc_policy_option("--max-age", prestart=True)]
PrestartIdleOpt = Annotated[str | None, _gc_policy_option("--idle", prestart=True)]
PrestartFailedIdleOpt = Annotated[str | None, _gc_policy_option("--failed-idle", prestart=True)]
# the restart resume set (gc --defuse-resume, prestart): docs/operations.md
MaxResumeOpt = Annotated[
    int | None,
    typer.Option(
        "--max-resume",
        metavar="N",
        help="Resume set: keep at most the N most recently active sessions for the gateway start to "
        "resume; defuse the rest (default: [prestart] max-resume, else 4).",
        show_default=False,
    ),
]
ResumeWithinOpt = Annotated[
    str | None,
    typer.Option(
        "--resume-within",
        metavar="DURATION",
        help="Resume set: defuse sessions idle longer than DURATION (lastInteractionAt, else updatedAt; "
        "default: [prestart] resume-within, else 1h).",
        show_default=False,
    ),
]
PrestartMaxEntriesOpt = Annotated[int | None, _gc_policy_option("--max-entries", prestart=True)]
PrestartKindOpt = Annotated[list[str] | None, _gc_policy_option("--kind", "-k", prestart=True)]
PrestartProtectOpt = Annotated[list[str] | None, _gc_policy_option("--protect", prestart=True)]

# ------------------------------------------------------------ option groups


@dataclasses.dataclass(frozen=True)
class ScopeOpts:
    """The options most commands end with, in this order: which state dir, agents and
    clock, and how to print."""

    state_dir: StateDirOpt = None
    agent: AgentOpt = None
    now: NowOpt = None
    config: ConfigOpt = None
    json: JsonOpt = False
    quiet: QuietOpt = False

    def context(self) -> RunContext:
        """The RunContext these options name."""
        from sessionctl.context import make_context

        return make_context(state_dir=self.state_dir, agents=self.agent, now=self.now, config=self.config)

    @property
    def progress(self) -> bool:
        """Show progress on stderr: not with --json or --quiet."""
        return not self.json and not self.quiet


@dataclasses.dataclass(frozen=True)
class VerboseScopeOpts(ScopeOpts):
    """ScopeOpts and --verbose (gc, health, repair, archive, dedupe)."""

    verbose: VerboseOpt = False


@dataclasses.dataclass(frozen=True)
class RunOpts:
    """How a journaled run of repair, archive, dedupe, undo and restore goes, in this order."""

    dry_run: DryRunOpt = False
    backup_dir: BackupDirOpt = None
    lock_timeout: LockTimeoutOpt = "10s"
    force_online: ForceOnlineOpt = False

    @property
    def lock_timeout_s(self) -> float:
        """--lock-timeout in seconds (a usage error naming the option when it is not a duration)."""
        return lock_timeout_s(self.lock_timeout)


def option_groups(func: Callable[..., None]) -> Callable[..., None]:
    """Let a command take a group of options (ScopeOpts, RunOpts, ...) as one parameter: typer
    sees the group's fields as options, in the group's order at the parameter's place, and
    the command gets the group built from them. So the options a group holds read the same
    (name, help, default, metavar) in every command that takes it."""
    sig = inspect.signature(func)
    hints = typing.get_type_hints(func, include_extras=True)
    groups: dict[str, type] = {}
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        hint = hints.get(p.name, p.annotation)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            groups[p.name] = hint
            field_hints = typing.get_type_hints(hint, include_extras=True)
            params.extend(
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=field_hints[f.name]
                )
                for f in dataclasses.fields(hint)
            )
        else:
            params.append(p.replace(annotation=hint))

    def command(**kwargs: object) -> None:
        for name, cls in groups.items():
            kwargs[name] = cls(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(cls)})
        func(**kwargs)

    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(command, attr, getattr(func, attr))
    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return command


# ------------------------------------------------------------ body helpers


def run_body(
    command: str,
    scope: ScopeOpts,
    body: Callable[[], object],
    *,
    metrics: str | None = None,
    state_dir: str | None = None,
) -> None:
    """Run a command's body through cli.run_command: its Result (or error) rendered as the
    scope's --json / --quiet say, the exit code left for main() (`metrics`, `state_dir`:
    gc's and prestart's --metrics file, written by run_command)."""
    from sessionctl.cli import run_command

    run_command(command, scope.json, body, quiet=scope.quiet, metrics=metrics, state_dir=state_dir)


def parse_duration_opt(option: str, text: str) -> int:
    """A duration option's value in ms; a bad one is a usage error naming the option."""
    from sessionctl.errors import UsageError
    from sessionctl.timeutil import parse_duration

    try:
        return parse_duration(text)
    except UsageError as exc:
        raise UsageError(f"{option}: {exc.message}") from None


def lock_timeout_s(text: str) -> float:
    """--lock-timeout in seconds."""
    return parse_duration_opt("--lock-timeout", text) / 1000


def check_metrics_path(path: str, state_dir: str | None) -> Path:
    """`gc --metrics`, `prestart --metrics`: the one path check (fsio.check_output_path)
    before the run starts, when there is no context yet: against the state dir as it
    resolves (if it does) and its sessions folders. Returns the real path; UsageError (64)
    when the path must not be written."""

    from sessionctl.config import resolve_state_dir
    from sessionctl.errors import SessionctlError

    try:
        sd: Path | None = resolve_state_dir(state_dir)
    except SessionctlError:
        sd = None
    return check_output_option(path, sd, option="--metrics", kind="file")


def check_output_option(path: str, state_dir: Path | None, *, option: str, kind: str) -> Path:
    """A path option checked without a RunContext (`runs --backup-dir`, `--metrics`):
    fsio.check_output_path against the state dir (None: not known) and its sessions
    folders. Returns the real path; UsageError (64) when the path must not be written."""
    from sessionctl.config import load_openclaw_config
    from sessionctl.context import all_sessions_dirs
    from sessionctl.fsio import check_output_path

    dirs = all_sessions_dirs(state_dir, load_openclaw_config(state_dir)) if state_dir is not None else []
    return check_output_path(path, option=option, kind=kind, state_dir=state_dir, sessions_dirs=dirs)


def check_backup_dir(ctx: RunContext, backup_dir: str | None) -> None:
    """--backup-dir: outside every sessions folder and the state dir's live data, no
    symlink in it (fsio.check_output_path)."""
    from sessionctl.context import check_path_option

    check_path_option(ctx, backup_dir, "--backup-dir", "dir")


def context_result(command: str, ctx: RunContext) -> Result:
    """An empty Result of `command` for the state dir and clock of `ctx`."""
    from sessionctl.result import Result

    return Result(command, state_dir=str(ctx.state_dir), now=ctx.now_iso)


def add_logs(res: Result, logs: Iterable[tuple[str, str]]) -> None:
    """The (level, message) logs the core returned, in order."""
    for level, msg in logs:
        res.log(level, msg)  # type: ignore[arg-type]


def warn_discovery_skips(res: Result, ctx: RunContext) -> None:
    """One warning per agent, folder or store discovery left out: an --agent that names
    no agent ("agent nosuch: no such agent in openclaw.json or on disk"), a symlinked
    agent or sessions folder, a store outside the state dir — and an openclaw.json that
    cannot be used (a real mutation refuses it: RunContext.require_openclaw_config).
    Exit code and status stay as they are: what exists was handled."""
    if ctx.openclaw.error is not None:
        res.log("warning", f"{ctx.openclaw.error}: going on without it (no bindings, agents from disk)")
    for sk in ctx.discovery.skipped:
        res.log("warning", f"{sk.what} {sk.path}: {sk.reason}")


def note_gateways(res: Result, gateways: Sequence[str]) -> None:
    if gateways:
        res.log("notice", "running gateway(s): " + ", ".join(gateways))


def warn_skipped(
    res: Result,
    skipped: Sequence[JsonObj],
    *,
    label: str = "skipped",
    names: tuple[str, ...] = ("key", "from", "path"),
) -> None:
    """One warning per action the run skipped — "<label> <type> <what>: <note>", <what>
    the first of the action's `names` fields that is set — and status warning."""
    for a in skipped:
        what = None
        for name in names:
            what = a.get(name)
            if what:
                break
        res.log("warning", f"{label} {a['type']} {what}: {a.get('note')}")
    if skipped:
        res.status = "warning"


def run_planned(
    command: str,
    run: RunOpts,
    scope: VerboseScopeOpts,
    make_options: Callable[[RunContext], DataclassInstance],
    execute: Callable[..., Outcome],
    **extra: JsonValue,
) -> Result:
    """The body of a plan → run command (repair, archive, dedupe) once its own options are
    checked: the context, the --backup-dir check, the command's options for that context
    (a dataclass with `backup_dir` and `lock_timeout_s`, which RunOpts sets), the run with
    progress on stderr, and its Result (outcome_result, `extra` added)."""
    from sessionctl.views.progress import stderr_progress

    timeout_s = run.lock_timeout_s
    ctx = scope.context()
    check_backup_dir(ctx, run.backup_dir)
    opts = dataclasses.replace(make_options(ctx), backup_dir=run.backup_dir, lock_timeout_s=timeout_s)
    with stderr_progress(command, enabled=scope.progress) as hook:
        ctx.progress = hook
        out = execute(ctx, opts, dry_run=run.dry_run, force_online=run.force_online)
    return outcome_result(command, ctx, out, verbose=scope.verbose, **extra)


def outcome_result(
    command: str, ctx: RunContext, out: Outcome, *, verbose: bool, **extra: JsonValue
) -> Result:
    """The Result of a plan → run command (repair, archive, dedupe): the same envelope
    fields for all three, then the command's own (`extra`)."""
    from sessionctl.errors import ExitCode
    from sessionctl.execute import public_action

    res = context_result(command, ctx)
    res.view["verbose"] = verbose
    plan = out.plan
    res.data = {
        "dry_run": out.dry_run,
        "run_id": out.run_id,
        "run_dir": out.run_dir,
        **extra,
        "actions": [public_action(a, plan.findings) for a in plan.actions],
        "problems": [f.to_json() for f in plan.problems],
        "kept": plan.kept,
        "refused": [e.to_json() for e in plan.refusals],
        "gateways": out.gateways,
        "would_refuse": out.would_refuse,
        "summary": out.summary(),
        **plan.details,
    }
    warn_discovery_skips(res, ctx)
    note_gateways(res, out.gateways)
    if out.would_refuse:
        res.log("warning", f"a real run would refuse: {out.would_refuse}")
    skipped = out.skipped
    warn_skipped(res, skipped, names=("key", "from", "path", "store"))
    if any(f.severity != "info" for f in plan.problems):
        res.status = "warning"
    if plan.refusals:
        res.status, res.exit_code = "error", ExitCode.DATA
        res.errors.extend(e.to_json() for e in plan.refusals)
    elif skipped and not out.applied:
        res.status, res.exit_code = "error", ExitCode.BUSY
        res.errors.append(
            {
                "code": "busy",
                "message": f"nothing was applied: {len(skipped)} change(s) were skipped because the files "
                "changed since planning",
                "hint": "run the command again",
            }
        )
    return res
