"""The Prometheus HTTP endpoint (`/metrics`) of a service.

    metrics = MetricsServer(settings.metrics_host, settings.metrics_port)
    port = metrics.start()        # port 0 -> an ephemeral port, returned and in .port
    ...
    metrics.close()               # idempotent

The server runs in a daemon thread (prometheus_client's WSGI app on a threading WSGI server);
scraping never touches the event loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from polyvisor.common.logging import get_logger

__all__ = ["MetricsServer"]

log = get_logger(__name__)

#: How often the server's thread looks whether it should stop: close() waits up to this long.
#: (prometheus_client's start_http_server polls each 0.5 s: 0.25 s more on average for every
#: process to stop.)
POLL_INTERVAL_S = 0.05


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape on stderr."""


class MetricsServer:
    def __init__(
        self, host: str = "0.0.0.0", port: int = 0, registry: CollectorRegistry = REGISTRY
    ) -> None:
        self.host = host
        self.requested_port = port
        self.registry = registry
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> int:
        if self._httpd is None:
            family = socket.getaddrinfo(
                self.host, self.requested_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0][0]

            class Server(ThreadingWSGIServer):
                address_family = family

            httpd = make_server(
                self.host,
                self.requested_port,
                make_wsgi_app(self.registry),
                Server,
                handler_class=_QuietHandler,
            )
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL_S},
                name="metrics",
                daemon=True,
            )
            thread.start()
            self._httpd, self._thread = httpd, thread
            self.port = int(httpd.server_port)
            log.info("metrics endpoint up", host=self.host, port=self.port)
        assert self.port is not None
        return self.port

    def close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    async def aclose(self) -> None:
        """close() for an AsyncExitStack (shutdown waits up to one poll interval)."""
        await asyncio.to_thread(self.close)
