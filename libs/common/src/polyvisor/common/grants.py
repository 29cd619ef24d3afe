"""Image grants: which images the agent of a host was told to fetch.

    grants = ImageGrants()
    feed = ImageGrantFeed(bus, grants)
    await feed.start()                         # the image service: replay, then follow
    await feed.grant(host, image_id, ttl_s)    # the api, before it sends a spawn command
    await grants.require(principal, image_id)  # NotFound unless granted (agents only)

An agent's token lets it read images at all (GetImage, DownloadImage), but only those the api
told it to fetch: before publishing a spawn command for host H, the api publishes a grant
(H, image, until) on the stream ``IMAGE_GRANTS`` (subject ``grants.image.<host>.<image>``); the
image service follows the stream into memory. A grant lasts as long as a build may (the api's
build timeout), then the image is closed to that agent again. A grant the agent outruns (the
command arrived before the image service saw the grant) is waited for a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.errors import NotFound
from polyvisor.common.logging import get_logger
from polyvisor.common.revocation import StreamFollower

if TYPE_CHECKING:
    from polyvisor.common.auth import Principal

__all__ = ["STREAM", "ImageGrantFeed", "ImageGrants"]

log = get_logger(__name__)

STREAM = "IMAGE_GRANTS"
SUBJECT_PREFIX = "grants.image"
#: The longest grant the stream keeps (a build that takes longer is out of its deadline).
MAX_GRANT_S = 24 * 3600.0


class ImageGrants:
    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}
        self._changed = asyncio.Event()

    def add(self, host: str, image_id: str, until: float) -> None:
        key = (host, image_id)
        if until > self._until.get(key, 0.0):
            self._until[key] = until
        self._changed.set()
        self._changed = asyncio.Event()
        if len(self._until) % 1024 == 0:
            now = time.time()
            for k in [k for k, u in self._until.items() if u < now]:
                del self._until[k]

    def allowed(self, host: str, image_id: str) -> bool:
        return self._until.get((host, image_id), 0.0) > time.time()

    async def require(self, p: Principal | None, image_id: str, wait_s: float = 5.0) -> None:
        """Agents only: NotFound unless their host was granted `image_id` (waiting up to
        `wait_s` for a grant still on its way). Other callers pass through."""
        if p is None or not p.is_agent:
            return
        deadline = time.monotonic() + wait_s
        while not self.allowed(p.host, image_id):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotFound(f"image {image_id} not found", {"image_id": image_id})
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue


class ImageGrantFeed(StreamFollower):
    stream = STREAM
    subjects = f"{SUBJECT_PREFIX}.>"
    what = "image grant feed"

    def __init__(self, bus: Bus, grants: ImageGrants, *, replay_timeout_s: float = 10.0):
        super().__init__(bus, replay_timeout_s=replay_timeout_s)
        self.grants = grants

    @property
    def max_age_s(self) -> float:
        return MAX_GRANT_S

    async def grant(self, host: str, image_id: str, ttl_s: float) -> None:
        """Let the agent of `host` read `image_id` for `ttl_s` (Unavailable if NATS refuses:
        the command must then not be sent, the agent could not fetch its image)."""
        until = round(time.time() + min(ttl_s, MAX_GRANT_S), 3)
        body = json.dumps({"host": host, "image_id": image_id, "until": until}).encode()
        subject = f"{SUBJECT_PREFIX}.{subject_token(host)}.{subject_token(image_id)}"
        await self.bus.publish(subject, body, stream=STREAM)
        self.grants.add(host, image_id, until)

    def _apply(self, subject: str, data: bytes) -> None:
        try:
            body = json.loads(data)
            host, image_id, until = str(body["host"]), str(body["image_id"]), float(body["until"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable image grant ignored", subject=subject)
            return
        self.grants.add(host, image_id, until)
        self.applied += 1
