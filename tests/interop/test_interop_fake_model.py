"""The stdlib fake OpenAI-compatible server that OpenClaw talks to in interop runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from typing import Any

from interop import harness as h


def _post(port: int, body: dict[str, Any]) -> bytes:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        data: bytes = r.read()
        return data


def test_models_streaming_and_plain() -> None:
    with h.fake_model() as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as r:
            models = json.load(r)
        assert [m["id"] for m in models["data"]] == [h.MODEL_ID]

        msgs = [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]
        raw = _post(port, {"model": h.MODEL_ID, "messages": msgs, "stream": True}).decode()
        events = [ln[len("data: ") :] for ln in raw.split("\n") if ln.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert text == "fake reply 1: hello there"
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert chunks[-1]["usage"]["total_tokens"] > 0

        plain = json.loads(_post(port, {"model": h.MODEL_ID, "messages": msgs}))
        assert plain["choices"][0]["message"]["content"] == "fake reply 2: hello there"
        assert plain["choices"][0]["finish_reason"] == "stop"

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as r:
            assert json.load(r)["chat"] == 2


def test_cli_prints_port_and_exits_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(h.FAKE_MODEL_PY), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        assert port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            assert r.read() == b"ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
