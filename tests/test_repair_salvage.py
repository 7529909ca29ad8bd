"""salvage.py: recovering complete entries from damaged store text (truncation, garbage in
the middle, invalid UTF-8, minified or hand-indented stores)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from support.helpers import make_entry, store_bytes

from sessionctl.salvage import salvage_store


def big_store(n: int = 6) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(n):
        out[f"agent:main:telegram:direct:{i}"] = make_entry(
            f"00000000-0000-4000-8000-{i:012d}",
            1_777_000_000_000 + i,
            origin={"provider": "telegram", "from": f"telegram:{i}", "nested": {"a": [1, {"b": '"}{'}]}},
            systemPromptReport={"tools": [{"name": "x", "chars": 10}], "text": "line\nbreak \\ }"},
            label=f"Ünïcødé {i} 🙂",
        )
    return out


def test_intact_store_is_recovered_completely() -> None:
    store = big_store()
    res = salvage_store(store_bytes(store))
    assert res.entries == store and list(res.entries) == list(store)
    assert (res.recovered, res.lost, res.exact) == (6, 0, True)


def test_truncation_inside_an_entry_loses_exactly_that_entry() -> None:
    store = big_store()
    raw = store_bytes(store)
    cut = raw.index(b'"agent:main:telegram:direct:4"') + 200
    res = salvage_store(raw[:cut])
    assert list(res.entries) == [f"agent:main:telegram:direct:{i}" for i in range(4)]
    assert res.lost_keys == ["agent:main:telegram:direct:4"]
    assert res.lost == 1


def test_truncation_inside_a_key_counts_one_unknown_loss() -> None:
    raw = store_bytes(big_store())
    cut = raw.index(b'"agent:main:telegram:direct:2"') + 8
    res = salvage_store(raw[:cut])
    assert res.recovered == 2 and res.lost_keys == [] and res.lost_unknown == 1


def test_garbage_in_the_middle_costs_only_the_entry_it_hits() -> None:
    store = big_store()
    raw = store_bytes(store)
    i = raw.index(b'"sessionId": "00000000-0000-4000-8000-000000000002"')
    damaged = raw[:i] + b"\x00\x00 #### {{{ [[ garbage" + raw[i + 20 :]
    res = salvage_store(damaged)
    assert sorted(res.entries) == sorted(k for k in store if not k.endswith(":2"))
    assert all(res.entries[k] == store[k] for k in res.entries)
    assert res.lost_keys == ["agent:main:telegram:direct:2"]


def test_garbage_between_entries_loses_nothing() -> None:
    store = big_store(3)
    raw = store_bytes(store)
    i = raw.index(b'  "agent:main:telegram:direct:1"')
    damaged = raw[:i] + b"@@@@ stray bytes @@@@\n" + raw[i:]
    res = salvage_store(damaged)
    assert res.entries == store and res.lost == 0 and res.garbage_bytes > 0


def test_invalid_utf8_inside_a_string_is_replaced_not_lost() -> None:
    store = big_store(3)
    raw = store_bytes(store)
    i = raw.index("Ünïcødé 1".encode())
    damaged = raw[:i] + b"\xff\xfe" + raw[i + 2 :]
    res = salvage_store(damaged)
    assert res.recovered == 3 and res.lost == 0
    assert res.utf8_replaced == ["agent:main:telegram:direct:1"]
    label = res.entries["agent:main:telegram:direct:1"]["label"]
    assert isinstance(label, str) and label.startswith("\ufffd")


def test_minified_store_is_scanned_and_counted_as_estimate() -> None:
    store = big_store()
    raw = json.dumps(store, ensure_ascii=False, separators=(",", ":")).encode()
    i = raw.index(b'"agent:main:telegram:direct:3"')
    damaged = raw[: i + 60] + b"<<<garbage>>>" + raw[i + 90 :]
    res = salvage_store(damaged)
    assert res.exact is False
    assert sorted(res.entries) == sorted(k for k in store if not k.endswith(":3"))
    assert all(res.entries[k] == store[k] for k in res.entries)
    assert res.lost == 1


def test_nothing_to_recover() -> None:
    for raw in (
        b"",
        b"   ",
        b"[]",
        b"null",
        b"\xff\xfe\xfd",
        b'{\n  "agent:main:main": {\n    "sessionId": "a',
    ):
        assert salvage_store(raw).recovered == 0


@given(st.integers(min_value=0, max_value=20_000))
def test_any_truncation_recovers_every_entry_that_ended_before_the_cut(cut: int) -> None:
    store = big_store(4)
    raw = store_bytes(store)
    cut = min(cut, len(raw))
    res = salvage_store(raw[:cut])
    # every recovered entry is exactly an original one, in order
    assert all(res.entries[k] == store[k] for k in res.entries)
    assert list(res.entries) == list(store)[: res.recovered]
    # every entry whose closing line is before the cut is recovered
    complete = sum(1 for k in store if raw.find(b"\n  }", raw.index(json.dumps(k).encode())) + 4 <= cut)
    assert res.recovered >= complete
