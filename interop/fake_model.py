#!/usr/bin/env python3
"""A tiny OpenAI-compatible model server for driving the real OpenClaw offline.

Standard library only. Endpoints:

* ``GET  /v1/models``             -> model list
* ``POST /v1/chat/completions``   -> streaming (SSE) or non-streaming chat completion
* ``GET  /_stats``                -> {"requests": N, "chat": N, "last": <last request body>}
* ``GET  /healthz``               -> "ok"

The reply is deterministic: ``"<prefix> <n>: <first 60 chars of the last user text>"``.

Run: ``python interop/fake_model.py --port 0`` - prints the chosen port as the first
stdout line, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "fake-model"


class _State:
    def __init__(self, models: list[str], prefix: str, delay: float, chunk_delay: float) -> None:
        self.models = models
        self.prefix = prefix
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.lock = threading.Lock()
        self.requests = 0
        self.chat = 0
        self.last: Any = None


def _last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for msg in reversed(messages):
        if not isinstance(msg, dict) or msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            parts = [
                p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            ]
            return " ".join(parts)
    return ""


def _words(text: str) -> list[str]:
    out: list[str] = []
    for i, w in enumerate(text.split(" ")):
        out.append(w if i == 0 else " " + w)
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-openai/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def st(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, fmt: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            sys.stderr.write("fake_model: " + (fmt % args) + "\n")

    # -- helpers ---------------------------------------------------------------
    def _send_json(self, code: int, obj: Any) -> None:
        body = json.dumps(obj).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    # -- routes ----------------------------------------------------------------
    def do_GET(self) -> None:
        with self.st.lock:
            self.st.requests += 1
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            now = int(time.time())
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": now, "owned_by": "fake"}
                        for m in self.st.models
                    ],
                },
            )
        elif path == "/_stats":
            with self.st.lock:
                self._send_json(
                    200, {"requests": self.st.requests, "chat": self.st.chat, "last": self.st.last}
                )
        elif path == "/healthz":
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self._read_body()
        with self.st.lock:
            self.st.requests += 1
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
            return
        with self.st.lock:
            self.st.chat += 1
            n = self.st.chat
            self.st.last = body
        model = body.get("model") or (self.st.models[0] if self.st.models else DEFAULT_MODEL)
        user = _last_user_text(body.get("messages")).replace("\n", " ").strip()
        text = f"{self.st.prefix} {n}: {user[:60]}".rstrip()
        prompt_tokens = max(1, sum(len(json.dumps(m)) for m in body.get("messages") or []) // 4)
        completion_tokens = max(1, len(text) // 4)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        if self.st.delay > 0:
            time.sleep(self.st.delay)

        if not body.get("stream"):
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(delta: dict[str, Any], finish: str | None, with_usage: bool = False) -> None:
            obj: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if with_usage:
                obj["usage"] = usage
            self.wfile.write(b"data: " + json.dumps(obj).encode("utf-8") + b"\n\n")
            self.wfile.flush()

        try:
            chunk({"role": "assistant", "content": ""}, None)
            for w in _words(text):
                chunk({"content": w}, None)
                if self.st.chunk_delay > 0:
                    time.sleep(self.st.chunk_delay)
            chunk({}, "stop", with_usage=True)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    models: list[str] | None = None,
    prefix: str = "fake reply",
    delay: float = 0.0,
    chunk_delay: float = 0.0,
    verbose: bool = False,
) -> ThreadingHTTPServer:
    srv = ThreadingHTTPServer((host, port), Handler)
    srv.daemon_threads = True
    srv.state = _State(models or [DEFAULT_MODEL], prefix, delay, chunk_delay)  # type: ignore[attr-defined]
    srv.verbose = verbose  # type: ignore[attr-defined]
    return srv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--model", action="append", dest="models", help="model id (repeatable)")
    ap.add_argument("--prefix", default="fake reply", help="reply text prefix")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    ap.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args(argv)

    srv = make_server(
        args.host, args.port, args.models, args.prefix, args.delay, args.chunk_delay, args.verbose
    )

    def _stop(signum: int, frame: Any) -> None:
        # shutdown() blocks until serve_forever returns, so call it from another thread.
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
