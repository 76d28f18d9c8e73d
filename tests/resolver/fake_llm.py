"""A local fake of an OpenAI-compatible chat-completions endpoint (a third-party API)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLlm:
    """``mode``: answer | error | timeout | malformed; ``requests`` counts what arrived."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.answer: dict[str, Any] = {"same": True, "confidence": 0.95, "reason": "same talk"}
        self.requests: list[dict[str, Any]] = []
        self.delay = 2.0
        self.url = ""


@contextmanager
def fake_llm() -> Iterator[FakeLlm]:
    state = FakeLlm()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"body": body, "auth": self.headers.get("Authorization")})
            if state.mode == "error":
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"upstream exploded")
                return
            if state.mode == "timeout":
                time.sleep(state.delay)
            content = (
                "this is not JSON {same: yes}"
                if state.mode == "malformed"
                else json.dumps(state.answer)
            )
            reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
            data = json.dumps(reply).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
