"""list: one row per session."""

from __future__ import annotations

from sessionctl.context import RunContext
from sessionctl.jsonjs import JsonObj
from sessionctl.resume import ResumeEra, detect_era, file_era, file_resume_keys
from sessionctl.snapshot import EntryView, snapshot_agent


def identity_columns(ev: EntryView) -> JsonObj:
    """The columns of a list row (either era) that name the session: its key, what the key
    says (kind, channel, account, peer, thread) and its sessionId."""
    p = ev.parsed
    return {
        "key": ev.key,
        "kind": p.kind,
        "channel": p.channel,
        "account": p.account,
        "peer": p.peer,
        "thread": p.thread or p.topic,
        "session_id": ev.session_id,
    }


def session_row(
    ev: EntryView,
    agent: str,
    now_ms: int,
    store_path: str | None = None,
    resumes: bool = False,
) -> JsonObj:
    started, started_src = ev.started_ms()
    active, active_src = ev.last_active_ms()
    facts = ev.facts
    flags: list[str] = []
    if ev.shape_problem:
        flags.append("invalid")
    if ev.ref.outside is not None:
        flags.append("out-of-dir")
    if ev.ref.path is None or facts is None:
        flags.append("missing-transcript")
    elif facts.error:
        flags.append("unreadable-transcript")
    else:
        if not facts.header_ok:
            flags.append("bad-header")
        if not facts.ends_with_newline:
            flags.append("truncated-tail")
    if ev.ref.path is not None and ev.ref.path.with_name(ev.ref.path.name + ".lock").exists():
        flags.append("locked")
    if resumes:
        flags.append("resume-on-start")
    return {
        "agent": agent,
        **identity_columns(ev),
        "started_at": started,
        "started_from": started_src,
        "last_active_at": active,
        "last_active_from": active_src,
        "age_ms": now_ms - started if started is not None else None,
        "idle_ms": now_ms - active if active is not None else None,
        "transcript": str(ev.ref.path) if ev.ref.path is not None else None,
        "transcript_bytes": facts.size if facts is not None and not facts.error else None,
        "tokens": ev.total_tokens(),
        "flags": flags,
        "layout": "file",
        "store": store_path,
        "archived_at": None,
    }


def list_sessions(ctx: RunContext, kinds: list[str] | None = None) -> tuple[list[JsonObj], list[JsonObj]]:
    """Rows for every session, and per-store problems that stopped listing a store."""
    rows: list[JsonObj] = []
    problems: list[JsonObj] = []
    wanted = set(kinds) if kinds else None
    stores = ctx.discovery.stores
    era: ResumeEra | None = None  # the resume rule of the release that will start (file era)
    for i, store in enumerate(stores):
        ctx.tick(f"agent {store.agent_id}", i, len(stores))
        if store.layout == "missing":
            continue
        if store.layout == "sqlite":
            from sessionctl.sqlite.listing import read_for_list, sqlite_rows

            adb = read_for_list(store)
            if not adb.ok:
                problems.append(
                    {
                        "agent": store.agent_id,
                        "path": str(adb.path),
                        "status": adb.status,
                        "message": adb.error or (adb.problem[1] if adb.problem else None),
                    }
                )
                continue
            rows.extend(sqlite_rows(store, adb, ctx.now_ms, ctx.openclaw.main_key, wanted))
            continue
        snap = snapshot_agent(store, ctx.state_dir, main_key=ctx.openclaw.main_key, read="cheap", slim=True)
        if snap.load.data is None:
            problems.append(
                {
                    "agent": store.agent_id,
                    "path": str(store.store_path),
                    "status": snap.load.status,
                    "message": snap.load.error,
                }
            )
            continue

        if era is None:
            era = file_era(detect_era(ctx.state_dir))
        resuming = {ev.key for ev in file_resume_keys(snap, era)}
        for ev in snap.entries:
            if wanted is not None and ev.parsed.kind not in wanted:
                continue
            rows.append(
                session_row(ev, store.agent_id, ctx.now_ms, str(store.store_path), ev.key in resuming)
            )
    return rows, problems
