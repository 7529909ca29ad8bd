"""Odd JSON as OpenClaw may have written (or a crash, a cut, a hand edit may have left)
it, with what Node's `JSON.parse` says of each — the corpus of the JavaScript-semantics
tests.

- ``LINES``: name → (bytes, valid). `valid` is Node 24's verdict on
  ``JSON.parse(buffer.toString("utf8"))``, recorded here so the unit tests
  (tests/test_jsonjs.py) run without Node; tests/interop/test_interop_json.py asks the
  real Node again for every case and fails when Node, this table and sessionctl do not
  all agree (and compares the parsed values too).
- ``TRANSCRIPTS``: name → (file bytes, header_valid, bad_lines): how OpenClaw's transcript
  reader (pi-coding-agent's `loadEntriesFromFile`: `content.trim().split("\\n")`, blank
  lines skipped, unparseable lines skipped, the first parsed entry must be
  `{type: "session", id: <string>}`) sees a whole file.
"""

from __future__ import annotations

DEEP_OK = 100_000  # V8's JSON.parse is iterative: far deeper than Python's json recurses


def _deep_array(n: int) -> bytes:
    return b"[" * n + b"]" * n


def _deep_object(n: int) -> bytes:
    return b'{"a":' * n + b"1" + b"}" * n


LINES: dict[str, tuple[bytes, bool]] = {
    # ---- what orjson rejects and JSON.parse accepts
    "lone-high-surrogate": (b'{"t":"cut inside an emoji \\ud83d"}', True),
    "lone-low-surrogate": (b'{"t":"\\ude00"}', True),
    "reversed-surrogates": (b'{"t":"\\ude00\\ud83d"}', True),
    "surrogate-key": (b'{"\\ud800":1}', True),
    "number-1e400": (b'{"n":1e400}', True),
    "number-minus-1e400": (b'{"n":-1e400}', True),
    "number-1e-400": (b'{"n":1e-400}', True),
    "number-huge-exponent": (b'{"n":1e999999999999}', True),
    "number-just-over-max": (b'{"n":1.7976931348623159e308}', True),
    "int-30-digits": (b'{"n":123456789012345678901234567890}', True),
    "int-5000-digits": (b'{"n":' + b"9" * 5000 + b"}", True),
    "int-u64-max": (b'{"n":18446744073709551615}', True),
    "int-u64-max-plus-1": (b'{"n":18446744073709551616}', True),
    "int-i64-min-minus-1": (b'{"n":-9223372036854775809}', True),
    "utf8-ff-in-string": (b'{"t":"a\xffb"}', True),
    "utf8-overlong": (b'{"t":"\xc0\xaf"}', True),
    "utf8-encoded-surrogate": (b'{"t":"\xed\xa0\x80"}', True),
    "utf8-truncated-4byte": (b'{"t":"\xf0\x9f\x98"}', True),
    "utf8-beyond-10ffff": (b'{"t":"\xf4\x90\x80\x80"}', True),
    "utf8-lone-continuation": (b'{"t":"\x80\x80"}', True),
    "utf8-5byte": (b'{"t":"\xf8\x88\x80\x80\x80"}', True),
    "utf8-in-key": (b'{"k\xfe":1}', True),
    "deep-arrays-2000": (_deep_array(2000), True),
    "deep-arrays-100000": (_deep_array(DEEP_OK), True),
    "deep-objects-5000": (_deep_object(5000), True),
    "deep-in-a-message": (b'{"type":"message","d":' + _deep_array(3000) + b"}", True),
    # ---- what both accept, but worth pinning
    "duplicate-keys-last-wins": (b'{"a":1,"b":2,"a":3}', True),
    "integer-like-keys": (b'{"b":1,"10":2,"2":3}', True),
    "proto-key": (b'{"__proto__":{"x":1},"y":2}', True),
    "trailing-cr": (b'{"a":1}\r', True),
    "crlf-inside": (b'{"a":\r\n1}', True),
    "minus-zero": (b"-0", True),
    "minus-zero-float": (b"-0.0", True),
    "exp-forms": (b"[1E5,1e-5,1e+5,0.1,1.0,-1.5E-3]", True),
    "escape-solidus": (b'"\\/"', True),
    "escape-nul": (b'"\\u0000"', True),
    "escape-pair": (b'"\\ud83d\\ude00"', True),
    "raw-del": (b'"\x7f"', True),
    "raw-u2028": ('"\u2028\u2029"'.encode(), True),
    "noncharacters": ('"\ufffe\uffff"'.encode(), True),
    "top-true": (b"true", True),
    "top-null": (b"null", True),
    "top-string": (b'"s"', True),
    "top-number": (b"123", True),
    "surrounding-json-whitespace": (b' \t\r\n{"a":1} \t\r\n', True),
    "long-string": (b'{"t":"' + b"x" * 200_000 + b'"}', True),
    # ---- what JSON.parse rejects (and so must sessionctl)
    "bom": (b'\xef\xbb\xbf{"a":1}', False),
    "bom-after": (b'{"a":1}\xef\xbb\xbf', False),
    "nbsp-before": (b'\xc2\xa0{"a":1}', False),
    "vertical-tab": (b'\x0b{"a":1}', False),
    "form-feed": (b'\x0c{"a":1}', False),
    "ideographic-space": ('\u3000{"a":1}'.encode(), False),
    "utf8-outside-string": (b'{"a":\xff1}', False),
    "nan": (b'{"n":NaN}', False),
    "infinity": (b'{"n":Infinity}', False),
    "minus-infinity": (b'{"n":-Infinity}', False),
    "leading-zero": (b'{"n":01}', False),
    "minus-leading-zero": (b'{"n":-01}', False),
    "trailing-dot": (b'{"n":1.}', False),
    "leading-dot": (b'{"n":.5}', False),
    "plus-sign": (b'{"n":+1}', False),
    "bare-exponent": (b'{"n":1e}', False),
    "hex": (b'{"n":0x10}', False),
    "raw-control": (b'{"t":"a\x01b"}', False),
    "raw-tab": (b'{"t":"a\tb"}', False),
    "raw-newline-escaped-wrongly": (b'{"t":"a\\\nb"}', False),
    "raw-nul": (b'{"t":"a\x00b"}', False),
    "bad-escape": (b'{"t":"\\x41"}', False),
    "short-unicode-escape": (b'{"t":"\\u12"}', False),
    "upper-u-escape": (b'{"t":"\\U0041"}', False),
    "single-quotes": (b"{'a':1}", False),
    "unquoted-key": (b"{a:1}", False),
    "trailing-comma-object": (b'{"a":1,}', False),
    "trailing-comma-array": (b"[1,]", False),
    "comment": (b'{"a":1}//x', False),
    "empty": (b"", False),
    "blank": (b"  \t ", False),
    "two-values": (b"{} {}", False),
    "truncated": (b'{"type":"message","id":"1","x":"ab', False),
    "unterminated-string": (b'"abc', False),
    "unclosed-deep": (_deep_array(3000)[:-1], False),
    "undefined": (b"undefined", False),
    "true-prefix": (b"tru", False),
}


def _hdr(extra: bytes = b"") -> bytes:
    return (
        b'{"type":"session","version":3,"id":"a1b2c3d4-0000-4000-8000-000000000001",'
        b'"timestamp":"2026-04-30T12:00:00.000Z","cwd":"/home/u"' + extra + b"}"
    )


def _msg(i: int, parent: int | None, extra: bytes = b"") -> bytes:
    p = b"null" if parent is None else b'"%08x"' % parent
    return (
        b'{"type":"message","id":"%08x","parentId":%s,"timestamp":"2026-04-30T12:0%d:00.000Z",'
        b'"message":{"role":"user","content":[{"type":"text","text":"m%d"}]}%s}' % (i, p, i % 10, i, extra)
    )


def _lines(*lines: bytes, end: bytes = b"\n") -> bytes:
    return b"\n".join(lines) + end


TRANSCRIPTS: dict[str, tuple[bytes, bool, int]] = {
    "plain": (_lines(_hdr(), _msg(1, None), _msg(2, 1)), True, 0),
    "bom-header": (b"\xef\xbb\xbf" + _lines(_hdr(), _msg(1, None)), True, 0),
    "leading-blank-lines": (b"\n\n \n" + _lines(_hdr(), _msg(1, None)), True, 0),
    "leading-nbsp-line": ("\u00a0\n".encode() + _lines(_hdr(), _msg(1, None)), True, 0),
    "header-lone-surrogate": (_lines(_hdr(b',"cwd2":"\\ud83d"'), _msg(1, None)), True, 0),
    "header-invalid-utf8": (_lines(_hdr(b',"cwd2":"\xff"'), _msg(1, None)), True, 0),
    "header-1e400": (_lines(_hdr(b',"n":1e400'), _msg(1, None)), True, 0),
    "header-empty-id": (
        _lines(
            b'{"type":"session","version":3,"id":"","timestamp":"2026-04-30T12:00:00.000Z"}', _msg(1, None)
        ),
        True,
        0,
    ),
    "garbage-then-header": (_lines(b'{"type":"sess', _hdr(), _msg(1, None)), True, 1),
    "message-lone-surrogate": (_lines(_hdr(), _msg(1, None, b',"t":"\\ud83d"'), _msg(2, 1)), True, 0),
    "message-1e400": (_lines(_hdr(), _msg(1, None, b',"usage":{"cost":1e400}'), _msg(2, 1)), True, 0),
    "message-invalid-utf8": (_lines(_hdr(), _msg(1, None, b',"t":"\xc3\x28"'), _msg(2, 1)), True, 0),
    "message-deep": (_lines(_hdr(), _msg(1, None, b',"d":' + _deep_array(5000)), _msg(2, 1)), True, 0),
    "crlf-lines": (_hdr() + b"\r\n" + _msg(1, None) + b"\r\n", True, 0),
    "blank-middle-lines": (_lines(_hdr(), b"", b"   ", "\u3000".encode(), _msg(1, None)), True, 0),
    "bad-middle-lines": (_lines(_hdr(), b"{not json", _msg(1, None), b"NaN", b"\xef\xbb\xbf{}"), True, 3),
    "non-object-middle-line": (_lines(_hdr(), b"123", _msg(1, None)), True, 1),
    "unterminated-last-lone-surrogate": (
        _lines(_hdr(), _msg(1, None)) + _msg(2, 1, b',"t":"\\ude00"'),
        True,
        0,
    ),
    "no-header": (_lines(_msg(1, None), _msg(2, 1)), False, 0),
    "header-not-object": (_lines(b'["session"]', _msg(1, None)), False, 0),
    "header-numeric-id": (_lines(b'{"type":"session","id":7}', _msg(1, None)), False, 0),
    "nothing-parses": (_lines(b"{a", b"{b"), False, 0),
    "header-nan": (_lines(_hdr(b',"n":NaN'), _msg(1, None)), False, 0),
}
