"""docs/operations.md stays true: the commands it shows exist with the options it uses,
the sessionctl.toml it proposes is accepted by gc and prestart, and the exit codes it
documents for prestart are the ones ExitCode defines."""

from __future__ import annotations

import re

from support.helpers import NOW_ISO, NOW_MS, REPO, StateDir, help_options, run_json

DOC = REPO / "docs" / "operations.md"


def doc() -> str:
    return DOC.read_text()


def sessionctl_calls(text: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for m in re.finditer(r"(?<![\w./-])sessionctl\s+([a-z][a-z-]*)((?:[ \t]+[^\s`|;&)>]+)*)", text):
        opts = [t.split("=", 1)[0] for t in m.group(2).split() if t.startswith("--")]
        out.append((m.group(1), opts))
    return out


def test_every_sessionctl_command_line_in_the_doc_uses_documented_options() -> None:
    text = doc()
    spans = re.findall(r"```(?:sh|toml)?\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
    seen = 0
    for span in spans:
        for command, opts in sessionctl_calls(span):
            if command in ("prestart", "health", "gc", "runs", "undo", "restore", "backup", "repair", "list"):
                seen += 1
                unknown = set(opts) - help_options(command)
                assert not unknown, f"docs/operations.md: `sessionctl {command}` has no {sorted(unknown)}"
    assert seen >= 10


def test_the_proposed_sessionctl_toml_is_accepted_by_gc_and_prestart(state: StateDir) -> None:
    (toml,) = re.findall(r"```toml\n(.*?)```", doc(), re.S)
    (state.root / "sessionctl.toml").write_text(toml)
    state.add_session("main", "agent:main:main")
    state.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 3_600_000)
    state.add_session("main", "agent:main:telegram:direct:2", updated_at=NOW_MS - 6 * 86_400_000)
    state.add_session("main", "agent:main:cron:job:run:abc", updated_at=NOW_MS - 2 * 86_400_000)
    rc, env, err = run_json("gc", "--dry-run", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 0, err
    rc, env, err = run_json("prestart", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 0, err
    assert env["errors"] == []
    gc = next(s for s in env["steps"] if s["name"] == "gc")
    assert gc["status"] == "done", gc
    assert set(state.read_store("main")) == {"agent:main:main", "agent:main:telegram:direct:1"}


def test_the_documented_prestart_exit_codes_are_the_real_ones() -> None:
    from sessionctl.errors import ExitCode

    text = doc()
    section = text[text.index("### Exit codes of prestart") : text.index("### Logs and output")]
    rows = dict(re.findall(r"^\| (\d+)[^|]*\| ([^|]+)\|", section, re.M))
    assert set(rows) == {"0", "65", "64", "77", "130"}
    assert int(ExitCode.DATA) == 65 and int(ExitCode.USAGE) == 64 and int(ExitCode.PERMISSION) == 77
    assert "ExecStartPre=-" in section
