"""The agent's small HTTP server BMCs fetch virtual media from (as Ironic's conductor serves
its ISO images): each published file under a random path, for as long as it is published."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["MediaServer"]


class MediaServer:
    def __init__(self, host: str, port: int = 0, url_host: str = "") -> None:
        self._files: dict[str, Path] = {}
        self._lock = threading.Lock()
        files, lock = self._files, self._lock

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _file(self) -> Path | None:
                with lock:
                    return files.get(self.path.lstrip("/"))

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, *, body: bool) -> None:
                path = self._file()
                if path is None or not path.is_file():
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(path.stat().st_size))
                self.end_headers()
                if body:
                    with path.open("rb") as f, contextlib.suppress(ConnectionError):
                        shutil.copyfileobj(f, self.wfile, 1 << 20)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.url_host = url_host or host
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="media-server", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def publish(self, path: Path, name: str) -> str:
        """Serve ``path``; returns its URL (``name`` ends it, for the BMC's logs)."""
        key = f"{secrets.token_urlsafe(16)}/{name}"
        with self._lock:
            self._files[key] = path
        return f"http://{self.url_host}:{self.port}/{key}"

    def withdraw(self, url: str) -> None:
        key = url.split("/", 3)[-1] if url.count("/") >= 3 else url
        with self._lock:
            self._files.pop(key, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
