"""`health --format prometheus`: node_exporter textfile-collector metrics.

The text exposition format (version 0.0.4): `# HELP`/`# TYPE` once per metric family,
label values escaped (backslash, double quote, newline). Every agent gets every
severity series (zeros included) so alert rules never see a series vanish. Every series
carries `state_dir` (the state dir's path), so the files of several gateways on one host
never collide in the textfile collector. `gc --metrics` / `prestart --metrics` write
`run_metrics`. Metric names are part of the public contract (docs/health.md); the shipped
rules and dashboard (contrib/prometheus, contrib/grafana) are tested against them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from sessionctl.config import resolve_state_dir
from sessionctl.errors import CantCreateError, SessionctlError
from sessionctl.fsio import atomic_write
from sessionctl.jsonjs import JsonValue

SEVERITIES = ("critical", "warning", "info")
STATUS_VALUE = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_esc(str(v))}"' for k, v in labels.items()) + "}"


def _num(v: float | int) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


class _Families:
    def __init__(self, state_dir: str) -> None:
        self._state_dir = state_dir
        self._order: list[str] = []
        self._meta: dict[str, tuple[str, str]] = {}
        self._samples: dict[str, list[str]] = {}

    def add(self, name: str, help_: str, typ: str, value: float | int, **labels: str) -> None:
        if name not in self._meta:
            self._order.append(name)
            self._meta[name] = (help_, typ)
            self._samples[name] = []
        self._samples[name].append(f"{name}{_labels({'state_dir': self._state_dir, **labels})} {_num(value)}")

    def text(self) -> str:
        lines: list[str] = []
        for name in self._order:
            help_, typ = self._meta[name]
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {typ}")
            lines.extend(self._samples[name])
        return "\n".join(lines) + "\n"


def health_metrics(
    *,
    state_dir: str,
    status: str,
    exit_code: int,
    now_ms: int,
    agents: Iterable[Mapping[str, JsonValue]],
    findings: Iterable[Mapping[str, JsonValue]],
    runs: Mapping[str, JsonValue] | None = None,
    resume_budget: int | None = None,
) -> str:
    """Render the health JSON data (agents[], findings[], runs) as textfile-collector metrics."""
    m = _Families(state_dir)
    m.add(
        "sessionctl_health_status",
        "Overall health: 0 ok, 1 warning, 2 critical, 3 unknown.",
        "gauge",
        STATUS_VALUE.get(status, 3),
    )
    m.add("sessionctl_health_exit_code", "Exit code of the health run.", "gauge", exit_code)
    m.add(
        "sessionctl_health_timestamp_seconds",
        "The run's clock (--now or the time of the run), seconds since the epoch.",
        "gauge",
        now_ms / 1000,
    )
    if runs is not None:
        m.add(
            "sessionctl_runs",
            "Run folders (backups and journals) in <state>/sessionctl/runs.",
            "gauge",
            int(runs.get("count") or 0),
        )
        m.add(
            "sessionctl_runs_bytes",
            "Bytes of every file in the run folders.",
            "gauge",
            int(runs.get("bytes") or 0),
        )
    if resume_budget is not None:
        m.add(
            "sessionctl_resume_on_start_budget",
            "resume_budget of [health]: sessions.resume_on_start warns above this many.",
            "gauge",
            resume_budget,
        )
    findings = list(findings)
    sev_by_agent: Counter[tuple[str, str]] = Counter()
    check_by_agent: Counter[tuple[str, str, str]] = Counter()
    for f in findings:
        agent = f.get("agent") or ""
        sev_by_agent[(agent, f["severity"])] += 1
        check_by_agent[(agent, f["check"], f["severity"])] += 1
    agent_list = list(agents)
    names = [a["agent"] for a in agent_list]
    if any(a == "" for a, _s in sev_by_agent):
        names.append("")
    for sev in SEVERITIES:
        for name in names:
            m.add(
                "sessionctl_health_findings",
                'Findings by severity per agent (agent="" for state-wide findings).',
                "gauge",
                sev_by_agent.get((name, sev), 0),
                agent=name,
                severity=sev,
            )
    for (agent, check, sev), n in sorted(check_by_agent.items()):
        m.add(
            "sessionctl_health_check_findings",
            "Findings per check id, agent and severity (only checks that found something).",
            "gauge",
            n,
            agent=agent,
            check=check,
            severity=sev,
        )
    per_agent = (
        ("sessionctl_agent_info", "Agent layout (file, sqlite, missing) and store status; value 1.", None),
        (
            "sessionctl_store_entries",
            "Sessions in the agent's store (sessions.json, or the SQLite database).",
            "entries",
        ),
        (
            "sessionctl_store_bytes",
            "Size of sessions.json, or of the SQLite database file, in bytes.",
            "store_bytes",
        ),
        (
            "sessionctl_transcripts",
            "Transcripts: files in the sessions folder, or SQLite transcript generations.",
            "transcripts",
        ),
        (
            "sessionctl_transcript_bytes",
            "Bytes of transcripts (files, or SQLite event bytes).",
            "transcript_bytes",
        ),
        (
            "sessionctl_archives",
            "Archives: .deleted/.reset/.bak files, or SQLite transcript archive rows.",
            "archives",
        ),
        ("sessionctl_archive_bytes", "Bytes of archives.", "archive_bytes"),
    )
    for metric, help_, field in per_agent:
        for a in agent_list:
            if field is None:
                m.add(
                    metric,
                    help_,
                    "gauge",
                    1,
                    agent=a["agent"],
                    layout=str(a.get("layout")),
                    store_status=str(a.get("store_status")),
                )
            else:
                m.add(metric, help_, "gauge", int(a.get(field) or 0), agent=a["agent"])
    for a in agent_list:
        for kind, n in sorted((a.get("entries_by_kind") or {}).items()):
            m.add(
                "sessionctl_store_entries_by_kind",
                "Entries per session kind.",
                "gauge",
                n,
                agent=a["agent"],
                kind=kind,
            )
    for a in agent_list:
        if a.get("resume_on_start") is not None:
            m.add(
                "sessionctl_resume_on_start_sessions",
                "Sessions the next gateway start resumes (status running; docs/health.md).",
                "gauge",
                int(a["resume_on_start"]),
                agent=a["agent"],
            )
    _sqlite_metrics(m, agent_list)
    for a in agent_list:
        if a.get("oldest_idle_ms") is not None:
            m.add(
                "sessionctl_oldest_idle_seconds",
                "Idle time of the longest-idle session, in seconds.",
                "gauge",
                a["oldest_idle_ms"] / 1000,
                agent=a["agent"],
            )
    return m.text()


# SQLite-era agents: agents[].sqlite of the health JSON → metric (docs/health.md)
_SQLITE_GAUGES = (
    ("sessionctl_sqlite_db_bytes", "Size of the agent's SQLite database file in bytes.", "db_bytes"),
    ("sessionctl_sqlite_wal_bytes", "Size of the database's -wal file in bytes.", "wal_bytes"),
    (
        "sessionctl_sqlite_disk_bytes",
        "Database + -wal + sessions/ bytes, what OpenClaw measures against maxDiskBytes.",
        "disk_bytes",
    ),
    (
        "sessionctl_sqlite_max_disk_bytes",
        "session.maintenance.maxDiskBytes as OpenClaw resolves it.",
        "max_disk_bytes",
    ),
    (
        "sessionctl_sqlite_archived_entries",
        "Sessions archived in place (archivedAt set).",
        "archived_entries",
    ),
    ("sessionctl_sqlite_invalid_entries", "Rows whose entry_valid is not 1.", "invalid_entries"),
    (
        "sessionctl_sqlite_historical_transcripts",
        "Transcript generations no session points at any more.",
        "historical_transcripts",
    ),
    (
        "sessionctl_sqlite_unpublished_archives",
        "Transcript archives not yet written as a file.",
        "unpublished_archives",
    ),
    ("sessionctl_sqlite_schema_version", "The database's user_version.", "schema_version"),
)


def _sqlite_metrics(m: _Families, agent_list: list[Mapping[str, JsonValue]]) -> None:
    rows = [(a["agent"], a["sqlite"]) for a in agent_list if isinstance(a.get("sqlite"), Mapping)]
    for metric, help_, field in _SQLITE_GAUGES:
        for agent, sq in rows:
            if sq.get(field) is not None:
                m.add(metric, help_, "gauge", int(sq[field]), agent=agent)
    for agent, sq in rows:
        if sq.get("integrity") is not None:
            m.add(
                "sessionctl_sqlite_integrity_ok",
                "1 when PRAGMA quick_check (integrity_check with --deep) said ok, else 0.",
                "gauge",
                1 if sq["integrity"] == "ok" else 0,
                agent=agent,
                mode=str(sq.get("integrity_mode")),
            )


def unknown_metrics(now_ms: int, state_dir: str) -> str:
    """The metrics written when health could not run at all (status 3 UNKNOWN)."""
    m = _Families(state_dir)
    m.add("sessionctl_health_status", "Overall health: 0 ok, 1 warning, 2 critical, 3 unknown.", "gauge", 3)
    m.add("sessionctl_health_exit_code", "Exit code of the health run.", "gauge", 3)
    m.add(
        "sessionctl_health_timestamp_seconds",
        "The run's clock (--now or the time of the run), seconds since the epoch.",
        "gauge",
        now_ms / 1000,
    )
    return m.text()


def run_metrics(
    *,
    command: str,
    state_dir: str,
    exit_code: int,
    now_ms: int,
    data: Mapping[str, JsonValue],
) -> str:
    """`gc --metrics FILE` / `prestart --metrics FILE`: how the run ended and what it removed,
    from the command's JSON data (gc: summary; prestart: steps[])."""
    m = _Families(state_dir)
    m.add(
        "sessionctl_run_exit_code",
        "Exit code of the last run of the command.",
        "gauge",
        exit_code,
        command=command,
    )
    m.add(
        "sessionctl_run_timestamp_seconds",
        "The last run's clock (--now or the time of the run), seconds since the epoch.",
        "gauge",
        now_ms / 1000,
        command=command,
    )
    if command == "prestart" and isinstance(data.get("steps"), list):
        failed = sum(1 for st in data["steps"] if isinstance(st, Mapping) and st.get("status") == "failed")
        m.add(
            "sessionctl_run_failed_steps",
            "prestart steps that failed (the run can still exit 0: every store was left valid).",
            "gauge",
            failed,
            command=command,
        )
    expired: dict[str, int] = {}
    archived: dict[str, int] = {}
    summary = data.get("summary")
    if command == "gc" and isinstance(summary, Mapping) and isinstance(summary.get("agents"), Mapping):
        for agent, s in summary["agents"].items():
            expired[agent] = int(s.get("expired") or 0)
            archived[agent] = int(s.get("archived_files") or 0)
    for st in data.get("steps") or [] if command == "prestart" else []:
        detail = st.get("detail") if isinstance(st, Mapping) else None
        if st.get("name") == "gc" and isinstance(detail, Mapping):
            for agent, s in (detail.get("by_agent") or {}).items():
                expired[agent] = int(s.get("expired") or 0)
    for name, text, by_agent in (
        ("sessionctl_run_expired_sessions", "Sessions the run's gc removed from the agent's store.", expired),
        (
            "sessionctl_run_archived_files",
            "Transcript files the run's gc archived (renamed to .deleted.<stamp>).",
            archived,
        ),
    ):
        for agent, n in by_agent.items():
            m.add(name, text, "gauge", n, command=command, agent=agent)
    return m.text()


def state_dir_label(explicit: str | None) -> str:
    """The `state_dir` label of a run that failed before its context was made: the state
    dir as sessionctl resolves it (--state-dir, $OPENCLAW_STATE_DIR, ~/.openclaw), so the
    failure lands on the same series as the successful runs; the path as given when it
    does not resolve (it does not exist), "" when none was given."""
    import os

    try:
        return str(resolve_state_dir(explicit))
    except (SessionctlError, OSError):
        given = explicit if explicit is not None else os.environ.get("OPENCLAW_STATE_DIR")
        return os.path.abspath(os.path.expanduser(given)) if given else ""


def write_textfile(path: Path, text: str) -> None:
    """Write metrics atomically (node_exporter must never read a half-written file).
    The temp file is `.<name>.<pid>.<uuid>.tmp` in the same folder, which the textfile
    collector ignores (it reads only `*.prom`)."""

    try:
        atomic_write(path, text.encode("utf-8"), mode=0o644)
    except OSError as exc:
        raise CantCreateError(
            f"cannot write metrics to {path}: {exc.strerror or exc}",
            path=str(path),
            hint="check that the folder exists and is writable by this user",
        ) from None
