"""Login throttling: failed logins counted per user name and per source address.

After `limit` failures within `window_s`, further attempts for that key are refused with
RESOURCE_EXHAUSTED (saying when to retry) until the oldest failure leaves the window; the
password is not even checked, so guessing costs the attacker time and the api no hashing.
A successful login clears its user's count. Counts are per api replica (in memory): with N
replicas an attacker gets at most N times the budget, still a handful per minute.
"""

from __future__ import annotations

import math
import time
from collections import deque
from urllib.parse import unquote

from polyvisor.common.errors import ResourceExhausted


class FailureWindow:
    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        q = self._failures.get(key)
        if q is None:
            return None
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
            return None
        return q

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again (0: now)."""
        now = time.monotonic() if now is None else now
        q = self._recent(key, now)
        if q is None or len(q) < self.limit:
            return 0.0
        return q[-self.limit] + self.window_s - now

    def fail(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        q = self._recent(key, now)
        if q is None:
            if len(self._failures) >= self.max_keys:
                self._failures.pop(next(iter(self._failures)))
            q = self._failures[key] = deque(maxlen=self.limit)
        q.append(now)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginThrottle:
    def __init__(
        self,
        per_user: int = 5,
        per_source: int = 30,
        window_s: float = 60.0,
    ) -> None:
        self.users = FailureWindow(per_user, window_s)
        self.sources = FailureWindow(per_source, window_s)

    def check(self, username: str, source: str) -> None:
        """Raise ResourceExhausted if this user or this source must wait."""
        if username:
            wait = self.users.retry_after(username.lower())
            if wait > 0:
                raise ResourceExhausted(
                    f"too many failed logins for user {username}: retry in {math.ceil(wait)} s",
                    {"retry_after_s": math.ceil(wait), "scope": "user"},
                )
        if source:
            wait = self.sources.retry_after(source)
            if wait > 0:
                raise ResourceExhausted(
                    f"too many failed logins from {source}: retry in {math.ceil(wait)} s",
                    {"retry_after_s": math.ceil(wait), "scope": "source"},
                )

    def failed(self, username: str, source: str) -> None:
        if username:
            self.users.fail(username.lower())
        if source:
            self.sources.fail(source)

    def succeeded(self, username: str) -> None:
        if username:
            self.users.clear(username.lower())


def peer_address(peer: str) -> str:
    """The address part of a gRPC peer string ('ipv4:1.2.3.4:5678' -> '1.2.3.4')."""
    kind, _, rest = unquote(peer).partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        host = rest.rsplit(":", 1)[0]
        return host.strip("[]")
    return peer
