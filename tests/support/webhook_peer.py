"""A merchant's webhook endpoint: a real local HTTP server that keeps every request."""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class WebhookPeer:
    """Answers 204; `fail_next(n, status)` makes it answer the next n requests with an error.
    `requests` keeps the ones answered 204; `attempts` counts every request, failed too."""

    secret = "whsec_" + base64.b64encode(b"merchant-shop-123-signing-key-32").decode()

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.attempts = 0
        self._failures: list[int] = []
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with peer._lock:
                    peer.attempts += 1
                    status = peer._failures.pop(0) if peer._failures else 204
                    if status < 300:
                        peer.requests.append(Request(self.path, dict(self.headers.items()),
                                                     body, time.time()))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/parcelflow"

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} webhooks arrived"
            time.sleep(0.05)
        return list(self.requests)
