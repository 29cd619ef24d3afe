"""The image service's Prometheus metrics (served by the common metrics endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CONVERSIONS",
    "CONVERSIONS_RUNNING",
    "CONVERSION_SECONDS",
    "DOWNLOAD_BYTES",
    "UPLOADS",
    "UPLOAD_BYTES",
]

UPLOADS = Counter(
    "polyvisor_imagesvc_uploads_total",
    "Uploads by outcome (active, killed, interrupted)",
    ["outcome"],
)
UPLOAD_BYTES = Counter("polyvisor_imagesvc_upload_bytes_total", "Bytes of accepted uploads")
DOWNLOAD_BYTES = Counter("polyvisor_imagesvc_download_bytes_total", "Bytes streamed to downloads")
CONVERSIONS = Counter(
    "polyvisor_imagesvc_conversions_total",
    "qemu-img conversions run by this process, by result",
    ["result"],
)
CONVERSIONS_RUNNING = Gauge(
    "polyvisor_imagesvc_conversions_running", "qemu-img conversions running now"
)
CONVERSION_SECONDS = Histogram(
    "polyvisor_imagesvc_conversion_seconds",
    "Duration of a conversion (qemu-img, inspection, hashing, commit)",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)
