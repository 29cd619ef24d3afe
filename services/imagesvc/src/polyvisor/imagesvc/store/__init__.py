"""All SQL of the image service (schema `imagesvc`).

State changes that other processes race on are conditional updates, so they hold across
replicas: an upload claims an image with `queued -> saving`, a conversion claims a rendition
with a conditional insert (or takes over a failed or abandoned one), and each finishes only
if it still holds its claim. Events go to the outbox in the same transaction as the change.
"""

from __future__ import annotations

from polyvisor.imagesvc.store.images import ImageQueries
from polyvisor.imagesvc.store.outbox import OutboxQueries
from polyvisor.imagesvc.store.renditions import RenditionQueries
from polyvisor.imagesvc.store.uploads import UploadQueries
from polyvisor.imagesvc.store.usage import UsageQueries


class Store(UploadQueries, ImageQueries, RenditionQueries, UsageQueries, OutboxQueries):
    """All SQL of the service over one pool: one query class per table family."""
