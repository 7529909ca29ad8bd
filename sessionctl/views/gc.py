from __future__ import annotations

from rich.console import Console

from sessionctl.jsonjs import JsonObj
from sessionctl.render import terminal_width
from sessionctl.result import Result
from sessionctl.views.fmt import Column, bytes_h, dur_h, table_lines

PLAN_COLUMNS = (
    Column("action"),
    Column("agent", drop=5),
    Column("key"),
    Column("kind", drop=4),
    Column("age", right=True, drop=2),
    Column("idle", right=True, drop=3),
    Column("size", right=True, drop=1),
    Column("reason", drop=6, shrink=20),
)


def _rules(by_rule: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items()))


def _agent_line(agent: str, s: JsonObj, dry: bool) -> str:
    verb = "would expire" if dry else "expired"
    parts = [f"{s['entries']} entries", f"{s['kept']} kept", f"{verb} {s['expired']}"]
    if s.get("expired_by_rule"):
        parts[-1] += f" ({_rules(s['expired_by_rule'])})"
    if s.get("protected"):
        parts.append(f"{s['protected']} protected")
    if s.get("skipped"):
        parts.append(f"{s['skipped']} skipped (changed since planning)")
    arch = "would archive" if dry else "archived"
    if s.get("archived_files"):
        parts.append(f"{arch} {s['archived_files']} files ({bytes_h(s['archived_bytes'])})")
    if s.get("files_still_referenced"):
        parts.append(f"{s['files_still_referenced']} files kept (still referenced)")
    oc = s.get("openclaw")
    if oc:
        v_del, v_arch = ("would delete", "would archive") if dry else ("deleted", "archived")
        parts.append(f"through OpenClaw: {v_del} {oc.get('delete', 0)}, {v_arch} {oc.get('archive', 0)}")
    if s.get("archives_purged"):
        purge = "would purge" if dry else "purged"
        parts.append(f"{purge} {s['archives_purged']} old archives ({bytes_h(s['archives_purged_bytes'])})")
    if s.get("resume_set") or s.get("defused"):
        dverb = "would defuse" if dry else "defused"
        parts.append(f"resume set {s.get('resume_set', 0)}: {dverb} {s.get('defused', 0)}")
    if s.get("defuse_skipped"):
        parts.append(f"{s['defuse_skipped']} defuse(s) skipped (changed since planning)")
    if s.get("refused"):
        parts.append(
            f"LEFT UNTOUCHED: the policy would expire all {s.get('would_expire', 0)} of its sessions "
            "(--allow-empty allows it)"
        )
    return f"agent {agent}: " + ", ".join(parts)


def render(result: Result, console: Console) -> None:
    d = result.data
    dry = bool(d.get("dry_run"))
    verbose = bool(result.view.get("verbose"))
    pol = d.get("policy") or {}
    console.print(f"policy: {pol.get('description', '-')}", markup=False, soft_wrap=True)
    console.print(f"source: {pol.get('source', '-')}", markup=False, soft_wrap=True)
    scope = pol.get("scope") or {}
    if scope.get("kinds") or scope.get("match"):
        bits = []
        if scope.get("kinds"):
            bits.append("kinds " + ", ".join(scope["kinds"]))
        if scope.get("match"):
            bits.append("keys " + ", ".join(scope["match"]))
        console.print("scope: " + "; ".join(bits), markup=False, soft_wrap=True)
    rows = d.get("sessions") or []
    if (dry or verbose) and rows:
        cells = []
        for r in rows:
            reason = r["reason"]
            if r.get("notes"):
                reason += " [" + "; ".join(r["notes"]) + "]"
            cells.append(
                (
                    r["decision"],
                    r["agent"],
                    r["key"],
                    r["kind"],
                    dur_h(r.get("age_ms")),
                    dur_h(r.get("idle_ms")),
                    bytes_h(r.get("transcript_bytes")),
                    reason,
                )
            )
        console.print("plan:" if dry else "sessions:", markup=False)
        for line in table_lines(PLAN_COLUMNS, cells, terminal_width(console)):
            console.out(line, highlight=False)
    acts = d.get("actions") or []
    files = [a for a in acts if a["type"] in ("file.rename", "file.move", "file.delete", "file.rewrite")]
    if (dry or verbose) and files:
        verb = {
            "file.rename": "archive",
            "file.move": "purge",
            "file.delete": "DELETE",
            "file.rewrite": "rewrite",
        }
        for a in files:
            what = a.get("from") or a.get("path")
            tail = f" → {a['to']}" if a["type"] == "file.rename" else f" ({a.get('reason', '')})"
            state = "" if dry else f" [{a.get('state')}]"
            console.print(
                f"  {verb[a['type']]} {what}{tail}{state}", markup=False, highlight=False, soft_wrap=True
            )
    sq = [a for a in acts if a["type"] in ("sqlite.delete", "sqlite.archive")]
    if (dry or verbose) and sq:
        for a in sq:
            op = "delete" if a["type"] == "sqlite.delete" else "archive"
            state = "" if dry else f" [{a.get('state')}" + (f": {a['note']}" if a.get("note") else "") + "]"
            console.print(
                f"  {op} {a['key']} via openclaw sessions {op} --agent {a['agent']}{state}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    defuse = [a for a in acts if a["type"] == "store.set" and a.get("check") == "resume.defuse"]
    if (dry or verbose) and defuse:
        for a in defuse:
            state = "" if dry else f" [{a.get('state')}]"
            console.print(
                f"  defuse {a['agent']} {a['key']}: {a.get('reason', '')}{state}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    summary = d.get("summary") or {}
    for agent, s in (summary.get("agents") or {}).items():
        console.print(_agent_line(agent, s, dry), markup=False, highlight=False, soft_wrap=True)
    if summary.get("bindings_removed"):
        bverb = "would remove" if dry else "removed"
        console.print(f"thread bindings: {bverb} {summary['bindings_removed']}", markup=False, soft_wrap=True)
    if summary.get("pruned_runs"):
        console.print(f"pruned {len(summary['pruned_runs'])} old run folder(s)", markup=False, soft_wrap=True)
    if dry:
        console.print("dry run: nothing was changed", markup=False, soft_wrap=True)
    elif d.get("run_id"):
        b = d.get("backup") or {}
        console.print(
            f"run {d['run_id']} (lock held {summary.get('lock_held_ms', 0)} ms); backup and journal in {b.get('path')}",
            markup=False,
            soft_wrap=True,
        )
        console.print(f"undo with: sessionctl undo {d['run_id']}", markup=False, soft_wrap=True)
    else:
        console.print("nothing to do", markup=False, soft_wrap=True)


def summary(result: Result) -> str:
    d = result.data
    dry = bool(d.get("dry_run"))
    total = (d.get("summary") or {}).get("total") or {}
    verb = "would expire" if dry else "expired"
    arch = "would archive" if dry else "archived"
    text = (
        f"{verb} {total.get('expired', 0)} of {total.get('entries', 0)} sessions, "
        f"{arch} {total.get('archived_files', 0)} file(s)"
    )
    if total.get("skipped"):
        text += f", {total['skipped']} skipped"
    if total.get("defused"):
        text += f", {'would defuse' if dry else 'defused'} {total['defused']} resume(s)"
    refused = (d.get("summary") or {}).get("refused_agents") or []
    if refused:
        text += f"; left untouched (would be emptied): agent {', '.join(refused)}"
    if dry:
        text += "; dry run, nothing changed"
    elif d.get("run_id"):
        text += f"; run {d['run_id']} (undo: sessionctl undo {d['run_id']})"
    return text
