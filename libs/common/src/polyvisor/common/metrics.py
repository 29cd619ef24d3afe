"""The Prometheus HTTP endpoint (`/metrics`) of a service.

    metrics = MetricsServer(settings.metrics_host, settings.metrics_port)
    port = metrics.start()        # port 0 -> an ephemeral port, returned and in .port
    ...
    metrics.close()               # idempotent

The server runs in a daemon thread (prometheus_client's WSGI server); scraping never touches
the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from polyvisor.common.logging import get_logger

__all__ = ["MetricsServer"]

log = get_logger(__name__)


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
            httpd, thread = start_http_server(
                self.requested_port, addr=self.host, registry=self.registry
            )
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
