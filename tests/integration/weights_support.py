"""A local file server for model-sync tests: Range requests, and transfers cut short on cue.

``FileServer`` serves ``files`` (URL path → bytes) on a free loopback port from a thread.
It answers ``Range: bytes=N-`` with 206 and ``Content-Range`` (RFC 9110 §14) unless
``honour_range`` is off, and ``cut_after[path] = n`` makes the next GET of ``path`` send its
headers (the full length) and only ``n`` body bytes, then drop the connection: a transfer
that fails mid-way. Every request's path and Range header is recorded in ``requests``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FileServer:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)
    honour_range: bool = True
    delay_s: float = 0.0
    """Pause before each body, so that concurrent syncs overlap."""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    base: str = ""

    def gets(self, path: str) -> list[str | None]:
        """The Range header of each GET of ``path``, in order (``None``: no Range)."""
        return [r for p, r in self.requests if p == path]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            requested = self.headers.get("Range")
            server.requests.append((path, requested))
            body = server.files.get(path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if requested and server.honour_range:
                start = int(requested.removeprefix("bytes=").partition("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            time.sleep(server.delay_s)
            cut = server.cut_after.pop(path, None)
            if cut is not None:
                self.wfile.write(body[start : start + cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@contextmanager
def file_server(files: dict[str, bytes] | None = None) -> Iterator[FileServer]:
    state = FileServer(files=dict(files or {}))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
