"""The session cookie: the user's token and a CSRF token, encrypted (AES-GCM) so that the
browser holds them without reading them, and every replica with the same key reads them.

The cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends
it); every form and htmx request also carries the session's CSRF token, checked on every
POST.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["COOKIE", "Session", "SessionBox"]

COOKIE = "polyvisor_session"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    username: str
    user_id: str
    project_id: str
    project_name: str
    is_admin: bool
    csrf: str
    expires_at: float

    def csrf_ok(self, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(presented, self.csrf)


class SessionBox:
    def __init__(self, key: str = "") -> None:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)) if key else os.urandom(32)
        if len(raw) != 32:
            raise ValueError("POLYVISOR_SESSION_KEY must be 32 bytes (urlsafe base64)")
        self._aead = AESGCM(raw)

    def seal(self, s: Session) -> str:
        nonce = os.urandom(12)
        data = json.dumps({f: getattr(s, f) for f in Session.__dataclass_fields__}).encode()
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, data, b"pv1")).decode()

    def open(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            raw = base64.urlsafe_b64decode(cookie.encode())
            data = self._aead.decrypt(raw[:12], raw[12:], b"pv1")
            s = Session(**json.loads(data))
        except (ValueError, InvalidTag, TypeError):
            return None
        return s if s.expires_at > time.time() else None

    @staticmethod
    def new_csrf() -> str:
        return secrets.token_urlsafe(24)
