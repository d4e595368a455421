"""A scripted OpenAI-compatible server over real HTTP on 127.0.0.1 for tests and benchmarks.

Answers are derived from the prompt by a function (deterministic), with a configurable latency
and a queue of scripted failures (HTTP statuses, garbage bodies, hangs past the client timeout).
Every request body is recorded so tests can check what the explainer or scorer sent.

    with ScriptedLLM(answer=lambda messages: "[EXPLANATION]: cats") as llm:
        llm.url  # -> "http://127.0.0.1:PORT/v1"
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def default_answer(messages: list[dict]) -> str:
    """A deterministic answer for any prompt: explanation-shaped for explainers, a list of
    ones for eleuther classifiers, a JSON verdict for recall_alt."""
    last = messages[-1]["content"] if messages else ""
    if "[EXPLANATION]" in json.dumps(messages) or "Explanation of neuron" in last:
        return "[EXPLANATION]: scripted explanation"
    if '"match"' in json.dumps(messages):
        return '{"match": true, "reason": "scripted"}'
    return "[1]"


class ScriptedLLM:
    def __init__(
        self,
        answer: Callable[[list[dict]], str] = default_answer,
        *,
        latency_s: float = 0.0,
        embed: Callable[[str], list[float]] | None = None,
    ):
        self.answer = answer
        self.latency_s = latency_s
        self.embed = embed
        self.requests: list[dict] = []
        self.failures: deque = deque()  # items: int status | "garbage" | "hang" | "no-choices"
        self.hang = threading.Event()  # set on close, so hanging handlers return
        self._lock = threading.Lock()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK
            # add ~40 ms to every keep-alive response.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                with scripted._lock:
                    scripted.requests.append(
                        {"path": self.path, "body": payload, "auth": self.headers.get("Authorization")}
                    )
                    failure = scripted.failures.popleft() if scripted.failures else None
                if scripted.latency_s:
                    time.sleep(scripted.latency_s)
                if failure == "hang":
                    scripted.hang.wait(30)
                    return
                if failure == "garbage":
                    return self._send(200, b"<html>not json</html>", "text/html")
                if failure == "no-choices":
                    return self._send(200, b'{"choices": []}')
                if isinstance(failure, int):
                    body = json.dumps({"error": {"message": f"scripted failure {failure}", "code": failure}})
                    return self._send(
                        failure, body.encode(), headers={"Retry-After": "0"} if failure == 429 else None
                    )
                if self.path.endswith("/embeddings"):
                    inputs = payload.get("input") or []
                    inputs = [inputs] if isinstance(inputs, str) else inputs
                    data = [{"index": i, "embedding": scripted.embed(t)} for i, t in enumerate(inputs)]
                    return self._send(200, json.dumps({"data": data}).encode())
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, b'{"error": {"message": "no such path"}}')
                messages = payload.get("messages") or []
                text = scripted.answer(messages)
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
                body = {
                    "id": f"scripted-{len(scripted.requests)}",
                    "object": "chat.completion",
                    "model": payload.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split())},
                }
                self._send(200, json.dumps(body).encode())

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 drops bursts of new connections (1 s SYN retry)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def fail_next(self, *failures) -> None:
        with self._lock:
            self.failures.extend(failures)

    def chat_requests(self) -> list[dict]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def start(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def close(self) -> None:
        self.hang.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
