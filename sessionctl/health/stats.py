"""health: what each agent holds (AgentStats, the numbers of `agents[]`) and the file
kinds the checks group files by."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sessionctl.jsonjs import JsonObj
from sessionctl.snapshot import AgentSnapshot

# file kinds that belong to a session and are orphaned when nothing references them
TRANSCRIPT_KINDS = frozenset({"transcript", "topic", "fork"})
SESSION_FILE_KINDS = frozenset({"transcript", "topic", "fork", "checkpoint", "trajectory", "acp_stream"})
ARCHIVE_KINDS = frozenset({"archive", "store_bak"})


@dataclass
class AgentStats:
    agent: str
    layout: str
    store_path: str
    store_status: str
    store_bytes: int = 0
    entries: int = 0
    entries_by_kind: dict[str, int] = field(default_factory=dict)
    transcripts: int = 0
    transcript_bytes: int = 0
    archives: int = 0
    archive_bytes: int = 0
    oldest_idle_ms: int | None = None
    findings: dict[str, int] = field(default_factory=lambda: {"critical": 0, "warning": 0, "info": 0})
    # sessions the next gateway start resumes (sessionctl/resume.py); None where not computed
    resume_on_start: int | None = None
    sqlite: JsonObj | None = None  # SQLite-era agents: sessionctl/sqlite/health.py sqlite_stats

    def to_json(self) -> JsonObj:
        d = dict(self.__dict__)
        d["entries_by_kind"] = dict(sorted(self.entries_by_kind.items()))
        return d


def stats_for(snap: AgentSnapshot, now_ms: int) -> AgentStats:
    st = snap.store
    s = AgentStats(st.agent_id, st.layout, str(st.store_path), snap.load.status, store_bytes=snap.load.size)
    s.entries = len(snap.entries)
    s.entries_by_kind = dict(Counter(e.parsed.kind for e in snap.entries))
    for fi in snap.inventory.files:
        if fi.kind in TRANSCRIPT_KINDS:
            s.transcripts += 1
            s.transcript_bytes += fi.size
        elif fi.kind in ARCHIVE_KINDS:
            s.archives += 1
            s.archive_bytes += fi.size
    idles = [t for e in snap.entries if (t := e.last_active_ms()[0]) is not None]
    if idles:
        s.oldest_idle_ms = max(0, now_ms - min(idles))
    return s
