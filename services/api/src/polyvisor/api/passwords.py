"""Password and secret hashing.

Passwords are hashed with argon2id (argon2-cffi, memory-hard; parameters from the library's
RFC 9106 low-memory profile). Hashing and verifying take tens of milliseconds of CPU, so they
run in a worker thread, never on the event loop.

API-key secrets are 256 random bits: brute force is not a concern, so they are stored as
SHA-256 digests, which lets a key be found by its digest with an index.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

API_KEY_PREFIX = "pvk_"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches. A missing hash (API-key-only user) never matches, but
    still costs one hash so timing does not reveal which users have passwords."""
    if not stored_hash:
        await asyncio.to_thread(_hasher.hash, password)
        return False
    try:
        return await asyncio.to_thread(_hasher.verify, stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_api_key_secret() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A random opaque token (console tokens)."""
    return secrets.token_urlsafe(24)
