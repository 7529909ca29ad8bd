"""Thread-binding files of the Discord and Telegram channels (format doc §10).

Read-only here: health reports expired and dangling bindings; gc removes expired ones
through this reader. Each BindingFile keeps the parsed object as read (`data`) so a
rewrite can drop bindings and keep everything else exactly as it was.

`webhookToken` is a secret: nothing built here carries it except `raw`/`data`, and
`redact()` replaces it everywhere before anything is printed or serialised.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from sessionctl import jsonjs
from sessionctl.config import normalize_agent_id
from sessionctl.errors import NotRegularFile
from sessionctl.fsio import read_bytes
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.keys import parse_key
from sessionctl.store import num
from sessionctl.timeutil import format_duration

Channel = Literal["discord", "telegram"]
SECRET_FIELDS = frozenset({"webhookToken"})
REDACTED = "[redacted]"
_TELEGRAM_FILE = re.compile(r"^thread-bindings-(?P<account>.+)\.json$")


@dataclass
class ThreadBinding:
    """One binding, with the fields that matter for expiry and routing.

    `raw` is the binding object exactly as parsed (it still holds webhookToken: never
    print it; use `to_json()` or `redact()`).
    """

    channel: Channel
    file: Path
    ident: str  # discord: "<accountId>:<threadId>" (the dict key); telegram: conversationId
    raw: JsonObj
    index: int | None = None  # position in a telegram "bindings" list
    account_id: str | None = None
    conversation_id: str | None = None  # discord threadId / telegram conversationId
    target_session_key: str | None = None
    target_kind: str | None = None
    agent_id: str | None = None
    label: str | None = None
    bound_at: int | None = None
    last_activity_at: int | None = None
    idle_timeout_ms: int | None = None
    max_age_ms: int | None = None  # maxAgeMs, or a legacy expiresAt read as a max age from boundAt

    def to_json(self) -> JsonObj:
        """A printable view (no secrets)."""
        return {
            "channel": self.channel,
            "file": str(self.file),
            "id": self.ident,
            "account_id": self.account_id,
            "conversation_id": self.conversation_id,
            "target_session_key": self.target_session_key,
            "target_kind": self.target_kind,
            "agent_id": self.agent_id,
            "label": self.label,
            "bound_at": self.bound_at,
            "last_activity_at": self.last_activity_at,
            "idle_timeout_ms": self.idle_timeout_ms,
            "max_age_ms": self.max_age_ms,
        }


@dataclass
class BindingFile:
    channel: Channel
    path: Path
    account_id: str | None = None  # telegram: from the file name
    data: JsonValue = None  # the parsed file as read (holds secrets: never print)
    raw: bytes | None = None
    size: int = 0
    error: str | None = None  # unreadable / not JSON / not the expected shape
    bindings: list[ThreadBinding] = field(default_factory=list)


def _str(v: JsonValue) -> str | None:
    if isinstance(v, str) and v.strip():
        return v.strip()
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def _binding(channel: Channel, path: Path, ident: str, obj: JsonObj, index: int | None) -> ThreadBinding:
    bound_at = num(obj.get("boundAt"))
    max_age = num(obj.get("maxAgeMs"))
    if max_age is None or max_age <= 0:
        expires = num(obj.get("expiresAt"))
        if expires is not None and expires > 0 and bound_at is not None:
            max_age = max(1, expires - bound_at)
    return ThreadBinding(
        channel=channel,
        file=path,
        ident=ident,
        raw=obj,
        index=index,
        account_id=_str(obj.get("accountId")),
        conversation_id=_str(obj.get("threadId" if channel == "discord" else "conversationId")),
        target_session_key=_str(obj.get("targetSessionKey")),
        target_kind=_str(obj.get("targetKind")),
        agent_id=_str(obj.get("agentId")),
        label=_str(obj.get("label")),
        bound_at=bound_at,
        last_activity_at=num(obj.get("lastActivityAt")),
        idle_timeout_ms=num(obj.get("idleTimeoutMs")),
        max_age_ms=max_age,
    )


def load_binding_file(path: Path, channel: Channel) -> BindingFile:
    """Read one binding file. Never raises for bad content (sets `error`)."""
    bf = BindingFile(channel, path)
    if channel == "telegram" and (m := _TELEGRAM_FILE.match(path.name)):
        bf.account_id = m.group("account")
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        bf.error = "file does not exist"
        return bf
    except NotRegularFile as exc:
        bf.error = f"{exc.strerror}"
        return bf
    except OSError as exc:
        bf.error = f"cannot read: {exc.strerror or exc}"
        return bf
    bf.raw, bf.size = raw, len(raw)

    try:
        data = jsonjs.loads(raw)  # as the gateway reads it (JSON.parse semantics)
    except jsonjs.JSONError as exc:
        bf.error = f"not valid JSON ({exc.msg.split(':')[0]})"
        return bf
    bf.data = data
    bindings = data.get("bindings") if isinstance(data, dict) else None
    if channel == "discord":
        if not isinstance(bindings, dict):
            bf.error = 'expected {"version": 1, "bindings": {...}}'
            return bf
        for ident, obj in bindings.items():
            if isinstance(obj, dict):
                bf.bindings.append(_binding(channel, path, str(ident), obj, None))
    else:
        if not isinstance(bindings, list):
            bf.error = 'expected {"version": 1, "bindings": [...]}'
            return bf
        for i, obj in enumerate(bindings):
            if isinstance(obj, dict):
                b = _binding(channel, path, "", obj, i)
                b.ident = b.conversation_id or f"#{i}"
                if b.account_id is None:
                    b.account_id = bf.account_id
                bf.bindings.append(b)
    return bf


def binding_file_paths(state_dir: Path) -> list[tuple[Channel, Path]]:
    """The binding files of a state dir, in a stable order. Symlinks are not followed."""
    out: list[tuple[Channel, Path]] = []
    discord = state_dir / "discord" / "thread-bindings.json"
    if os.path.lexists(discord):
        out.append(("discord", discord))
    tdir = state_dir / "telegram"
    if tdir.is_dir() and not tdir.is_symlink():
        try:
            names = sorted(n for n in os.listdir(tdir) if _TELEGRAM_FILE.match(n))
        except OSError:
            names = []
        out.extend(("telegram", tdir / n) for n in names)
    return out


def load_bindings(state_dir: Path) -> list[BindingFile]:
    """Every binding file of the state dir, parsed."""
    return [load_binding_file(p, ch) for ch, p in binding_file_paths(state_dir)]


# ---------------------------------------------------------------- predicates


def expired(b: ThreadBinding, now_ms: int) -> str | None:
    """Why the gateway's sweeper would unbind this thread at `now_ms`, or None.

    Idle: idleTimeoutMs > 0 and now − lastActivityAt (else boundAt) > idleTimeoutMs.
    Max age: maxAgeMs > 0 (or a legacy expiresAt) and now − boundAt > maxAgeMs.
    0 or absent means no limit.
    """

    idle = b.idle_timeout_ms
    last = b.last_activity_at if b.last_activity_at is not None else b.bound_at
    if idle is not None and idle > 0 and last is not None and now_ms - last > idle:
        return f"idle for {format_duration(now_ms - last)} (limit {format_duration(idle)})"
    age = b.max_age_ms
    if age is not None and age > 0 and b.bound_at is not None and now_ms - b.bound_at > age:
        return f"bound {format_duration(now_ms - b.bound_at)} ago (max age {format_duration(age)})"
    return None


def target_agent(b: ThreadBinding, default_agent: str = "main") -> str:
    """The agent whose store should hold the target session."""

    if b.agent_id:
        return normalize_agent_id(b.agent_id)
    if b.target_session_key:
        p = parse_key(b.target_session_key)
        if p.agent:
            return normalize_agent_id(p.agent)
    return default_agent


StoreKeys = Mapping[str, Collection[str] | None]


def dangling(
    b: ThreadBinding, stores: StoreKeys | Callable[[str], Collection[str] | None], default_agent: str = "main"
) -> bool:
    """True when the binding's target session no longer exists in its agent's store.

    `stores` maps agent id → the lowercased keys of its store, or None when the store
    could not be read (then nothing is dangling: we cannot tell). An agent absent from
    the mapping also counts as unknown. A binding without a target key is dangling.
    """
    if not b.target_session_key:
        return True
    agent = target_agent(b, default_agent)
    keys = stores(agent) if callable(stores) else stores.get(agent)
    if keys is None:
        return False
    return b.target_session_key.strip().lower() not in keys


# ---------------------------------------------------------------- output & rewrite


def redact(obj: JsonValue) -> JsonValue:
    """A deep copy of `obj` with every secret field (webhookToken) replaced."""
    if isinstance(obj, dict):
        return {k: (REDACTED if k in SECRET_FIELDS and v is not None else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def without(bf: BindingFile, remove: Iterable[ThreadBinding]) -> JsonValue:
    """The file's parsed object with `remove` dropped and everything else kept as read
    (key order, unknown fields, version). The caller serialises it with `serialize()`."""
    if bf.data is None or bf.error is not None:
        raise ValueError(f"{bf.path}: cannot rewrite a binding file that did not parse ({bf.error})")
    data = copy.deepcopy(bf.data)
    drop = list(remove)
    if bf.channel == "discord":
        for b in drop:
            data["bindings"].pop(b.ident, None)
    else:
        idx = {b.index for b in drop if b.index is not None}
        data["bindings"] = [x for i, x in enumerate(data["bindings"]) if i not in idx]
    return data


def serialize(bf: BindingFile, data: JsonValue) -> bytes:
    """Serialise like the gateway (JSON.stringify(…, null, 2)), keeping the original's
    trailing-newline convention."""
    out = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    if bf.raw is not None and bf.raw.endswith(b"\n"):
        out += b"\n"
    return out
