"""Token revocation: a feed on NATS JetStream, held in memory by every service.

    revocations = Revocations(max_token_ttl_s=3600)
    feed = RevocationFeed(bus, revocations)
    await feed.start()                 # replays what is still relevant, then follows
    auth = JwtAuthenticator(verifier, revoked=revocations.revoked)
    ...
    await feed.revoke("user", user_id) # the identity service, before deleting the user

Tokens are verified with the public key alone, so revoking one needs every verifier to learn
about it. The identity service publishes one message per revocation on the stream
``REVOCATIONS`` (subject ``revoked.<scope>.<id>``, body: the cut-off time); every service
follows the stream with an ordered consumer into a dict per scope. A token is refused when a
cut-off for its user, its project, its API key or itself is later than the time it was issued.
Checking is a few dict lookups per RPC: no database, no call to the identity service.

Messages live as long as the longest token (`max_token_ttl_s` plus the verifier's leeway):
every token issued before an older cut-off has expired anyway, so the stream and the dicts
stay as small as the revocations of the last hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token, subject_token_decode
from polyvisor.common.bus.watch import StreamWatch
from polyvisor.common.errors import InvalidArgument, PolyvisorError
from polyvisor.common.logging import get_logger

if TYPE_CHECKING:
    from polyvisor.common.auth import Principal

__all__ = ["SCOPES", "STREAM", "RevocationFeed", "Revocations", "StreamFollower"]

log = get_logger(__name__)

STREAM = "REVOCATIONS"
SUBJECT_PREFIX = "revoked"
#: user: every token of a user; project: every token scoped to a project; api_key: every token
#: obtained with an API key; token: one token (its jti).
SCOPES = ("user", "project", "api_key", "token")
#: Tokens are accepted this long past their expiry by the verifiers (TokenVerifier's leeway).
_LEEWAY_S = 5.0


class Revocations:
    """The cut-offs currently in force, by scope and id (in memory, one per process)."""

    def __init__(self, max_token_ttl_s: float = 3600.0) -> None:
        self.max_token_ttl_s = max_token_ttl_s
        self._by_scope: dict[str, dict[str, float]] = {s: {} for s in SCOPES}
        self._users = self._by_scope["user"]
        self._projects = self._by_scope["project"]
        self._keys = self._by_scope["api_key"]
        self._tokens = self._by_scope["token"]
        self._count = 0

    def __len__(self) -> int:
        return sum(len(d) for d in self._by_scope.values())

    def add(self, scope: str, ident: str, not_before: float) -> None:
        """Tokens of `scope`/`ident` issued at or before `not_before` are revoked."""
        if scope not in self._by_scope:
            raise InvalidArgument(f"unknown revocation scope {scope!r}")
        entries = self._by_scope[scope]
        if not_before > entries.get(ident, 0.0):
            entries[ident] = not_before
        self._count += 1
        if self._count % 256 == 0:
            self.prune()

    def prune(self, now: float | None = None) -> None:
        """Forget cut-offs older than the longest token: nothing they cover is still valid."""
        horizon = (time.time() if now is None else now) - self.max_token_ttl_s - _LEEWAY_S
        for entries in self._by_scope.values():
            for ident in [i for i, nb in entries.items() if nb < horizon]:
                del entries[ident]

    def revoked(self, p: Principal) -> bool:
        """True if a cut-off covers this token (the hot path: four dict lookups at most)."""
        iat = p.issued_at
        nb = self._users.get(p.user_id)
        if nb is not None and iat <= nb:
            return True
        if self._projects:
            nb = self._projects.get(p.project_id)
            if nb is not None and iat <= nb:
                return True
        if self._keys and p.api_key_id:
            nb = self._keys.get(p.api_key_id)
            if nb is not None and iat <= nb:
                return True
        return bool(self._tokens) and p.token_id in self._tokens


def _subject(scope: str, ident: str) -> str:
    return f"{SUBJECT_PREFIX}.{scope}.{subject_token(ident)}"


class StreamFollower(ABC):
    """Replays a stream into memory, then follows it (an ordered consumer per process).

    Subclasses name the stream and its subjects and `_apply` each message; `start()` returns
    once what the stream held at start is applied."""

    stream = ""
    subjects = ""
    what = "feed"

    def __init__(self, bus: Bus, *, replay_timeout_s: float = 10.0) -> None:
        self.bus = bus
        self._replay_timeout = replay_timeout_s
        self._watch: StreamWatch | None = None
        self._task: asyncio.Task[None] | None = None
        self.applied = 0  # messages applied, for metrics and tests

    @property
    @abstractmethod
    def max_age_s(self) -> float:
        """How long the stream keeps a message."""

    async def ensure_stream(self) -> None:
        await self.bus.ensure_stream(
            self.stream, [self.subjects], max_age=self.max_age_s, duplicate_window=60.0
        )

    @abstractmethod
    def _apply(self, subject: str, data: bytes) -> None:
        """Take one message into memory (never raises: a bad message is logged and skipped)."""

    async def start(self) -> None:
        """Create the stream if needed, replay what it holds, then follow it in the background.
        Returns once the replay is done: a service should not answer before it knows what is
        revoked."""
        await self.ensure_stream()
        last = await self.bus.stream_last_seq(self.stream)
        watch = await self.bus.watch(self.stream, self.subjects, deliver="all")
        self._watch = watch
        seen = 0
        deadline = time.monotonic() + self._replay_timeout
        while seen < last:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning(f"{self.what} replay incomplete; following on", seen=seen, last=last)
                break
            try:
                msg = await watch.next(timeout=remaining)
            except PolyvisorError:
                break
            self._apply(msg.subject, msg.data)
            seen = msg.stream_seq
            if msg.pending == 0:
                break
        self._task = asyncio.create_task(self._follow(watch), name=self.what)
        log.info(f"{self.what} following", replayed=self.applied)

    async def _follow(self, watch: StreamWatch) -> None:
        # The ordered consumer re-creates itself after a gap or a reconnect; should the view
        # end anyway, a new one replays the stream (applying a cut-off twice is harmless).
        while True:
            try:
                async for msg in watch:
                    self._apply(msg.subject, msg.data)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning(f"{self.what} interrupted", error=repr(e))
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await watch.close()
            try:
                watch = await self.bus.watch(self.stream, self.subjects, deliver="all")
                self._watch = watch
            except Exception as e:
                log.warning(f"{self.what} not resumed yet", error=repr(e))

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        watch, self._watch = self._watch, None
        if watch is not None:
            await watch.close()


class RevocationFeed(StreamFollower):
    """Publishes revocations (identity service) and follows them (every service)."""

    stream = STREAM
    subjects = f"{SUBJECT_PREFIX}.>"
    what = "revocation feed"

    def __init__(self, bus: Bus, revocations: Revocations, *, replay_timeout_s: float = 10.0):
        super().__init__(bus, replay_timeout_s=replay_timeout_s)
        self.revocations = revocations

    @property
    def max_age_s(self) -> float:
        return self.revocations.max_token_ttl_s + _LEEWAY_S + 60.0

    async def revoke(self, scope: str, ident: str, not_before: float | None = None) -> None:
        """Publish a cut-off (now by default) and apply it here at once. Raises Unavailable when
        NATS does not take it: the caller must then not go on as if it were revoked."""
        if scope not in SCOPES or not ident:
            raise InvalidArgument(f"bad revocation {scope!r}/{ident!r}")
        nb = round(time.time(), 3) if not_before is None else not_before
        body = json.dumps({"scope": scope, "id": ident, "not_before": nb}).encode()
        await self.bus.publish(_subject(scope, ident), body, stream=STREAM)
        self.revocations.add(scope, ident, nb)
        log.info("revoked", scope=scope, id=ident)

    def _apply(self, subject: str, data: bytes) -> None:
        try:
            body = json.loads(data)
            scope, ident, nb = str(body["scope"]), str(body["id"]), float(body["not_before"])
        except (ValueError, KeyError, TypeError):
            # An unreadable message must not stop the feed; its subject still names what to
            # cut: revoke from the time it was read (the safe side).
            parts = subject.split(".", 2)
            if len(parts) != 3 or parts[1] not in SCOPES:
                log.warning("unreadable revocation ignored", subject=subject)
                return
            scope, ident, nb = parts[1], subject_token_decode(parts[2]), time.time()
        try:
            self.revocations.add(scope, ident, nb)
        except InvalidArgument:
            log.warning("revocation of an unknown scope ignored", subject=subject)
            return
        self.applied += 1
