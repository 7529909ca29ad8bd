"""The journal's actions as types: the state every action is in, the one way to skip
one, and the payload of each action type — what `journal.json` holds for it.

The payloads are TypedDicts over the journal's JSON objects, so the journal stays the
JSON every release wrote (tests/golden/legacy-runs-v1, -v2 undo unchanged); fields a
release added later are optional (`NotRequired`). Every action also carries the common
fields of `ActionBase`. How each type is applied, undone and backed up is its entry in
sessionctl.actions.ACTION_TYPES.
"""

from collections.abc import MutableMapping
from typing import Literal, NotRequired, TypeAlias, TypedDict

from sessionctl.jsonjs import JsonObj

# One journaled action as the journal holds it (journal.json's `actions[]`); the typed
# view of each type's fields is its payload below.
JournalAction: TypeAlias = JsonObj
# A file a run backed up: journal.json's `backups[]` (path, backup, kind, size, sha256, ...)
BackupRecord: TypeAlias = JsonObj

ActionState = Literal["planned", "applied", "skipped"]
ACTION_STATES: tuple[ActionState, ...] = ("planned", "applied", "skipped")


def skip(action: MutableMapping[str, object], why: str | None) -> None:
    """Mark an action skipped, and why (shown as its `note`): the one way an action is
    left undone — the state it planned against changed, or it must not be forced."""
    action["state"], action["note"] = "skipped", why


class ActionBase(TypedDict, total=False):
    """The fields every journaled action may carry besides its payload."""

    id: int  # its place in the journal (Run.add)
    type: str
    state: ActionState
    note: str  # why it was skipped
    agent: str | None
    check: str  # the command's check id (repair, archive, dedupe)
    finding: str | None  # the health check it resolves (archive, dedupe)
    what: str  # for humans
    reason: str
    offline: bool  # needs every gateway stopped (transcript surgery)
    requires: list[list[str]]  # [store, key] removals it only makes sense after
    undoes: str  # undo: the run it reverses
    from_run: str  # restore: the run whose backup it restores


# `from` is a Python keyword: the payloads that have it take it from these
_From = TypedDict("_From", {"from": str})


class StoreRemove(ActionBase):
    store: str
    key: str
    entry: NotRequired[object]  # verbatim; absent when `entry_in` names the backup holding it
    entry_in: NotRequired[str]
    order: NotRequired[list[str]]  # journal format 1: the store's key order
    # gc: why the policy expired it
    kind: NotRequired[str]
    rule: NotRequired[str]
    age_ms: NotRequired[int | None]
    idle_ms: NotRequired[int | None]
    transcript_bytes: NotRequired[int | None]


class StoreInsert(ActionBase):
    store: str
    key: str
    entry: object
    order: NotRequired[list[str]]  # journal format 1: the store's key order


class StoreSet(ActionBase):
    store: str
    key: str
    before: object
    after: object
    idle_ms: NotRequired[int | None]  # gc --defuse-resume


class StoreReplace(ActionBase):
    store: str
    source: str  # a file in the run folder
    backup: NotRequired[str]
    before_sha256: str
    after_sha256: str


class FileRename(ActionBase, _From):
    to: str
    keys: NotRequired[list[str]]
    bytes: NotRequired[int]
    lock: NotRequired[str]  # the transcript lock it took (gc)
    file_kind: NotRequired[str]  # gc: transcript, topic, checkpoint, ...


class FileMove(ActionBase, _From):
    moved: NotRequired[str]  # in the run folder (default moved/<from>)
    before_sha256: NotRequired[str | None]
    mode: NotRequired[int]
    bytes: NotRequired[int]
    archived_at: NotRequired[str]  # gc: a purged archive's stamp


class FileRewrite(ActionBase):
    path: str
    backup: NotRequired[str]
    edit: NotRequired[JsonObj]  # {drop_lines: [n…], tail: "cut" | "newline"}
    before_sha256: str
    after_sha256: str
    channel: NotRequired[str]  # binding files
    removed_bindings: NotRequired[list[JsonObj]]
    keys: NotRequired[list[str]]  # repair: the entries that use the transcript
    bytes_cut: NotRequired[int]
    lines_dropped: NotRequired[int]
    lock: NotRequired[str]  # the transcript lock it takes


class FileCopyIn(ActionBase):
    path: str
    source: str
    mode: NotRequired[int]


class FileExport(ActionBase, _From):
    to: str  # outside the state dir (--to)
    compress: str | None
    sha256: str | None
    bytes: int


class FileImport(ActionBase):
    path: str
    source: str
    compress: str | None
    sha256: str | None


class FileDelete(ActionBase):
    path: str
    bytes: int
    sha256: NotRequired[str | None]
    archived_at: NotRequired[str]


class FileRestore(ActionBase):
    path: str
    source: str | None
    kind: Literal["store", "file"]
    before_sha256: NotRequired[str | None]
    source_sha256: NotRequired[str | None]
    after_sha256: NotRequired[str | None]
    backup: NotRequired[str]
    source_may_not_parse: NotRequired[bool]


class Conflict(ActionBase):
    """Not an action: an undo that is not safe, journaled as skipped with its `note`."""

    path: str | None
    source: NotRequired[str | None]


class SqliteAction(ActionBase, total=False):
    """sqlite.delete / sqlite.archive / sqlite.unarchive / sqlite.restore: the SQLite era's
    changes, made by `openclaw` (sessionctl.sqlite.gc) or a whole-database restore
    (sessionctl.sqlite.backup); their fields are documented there."""

    db: str
    key: str
    path: str
    source: str
    backup: str
