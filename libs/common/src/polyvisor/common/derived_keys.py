"""Keys derived from the master secret the identity service holds: an agent's key names its
host (``pva1.<host>.<mac>``) and a control-plane service's names the service
(``pvs1.<name>.<mac>``); each is a MAC of that name, so a key cannot be turned into another
host's or service's without the secret. Presented to the identity service for a token."""

from __future__ import annotations

import base64
import hashlib
import hmac

from polyvisor.common.auth import KEYED_SERVICES
from polyvisor.common.errors import Unauthenticated

__all__ = [
    "AGENT_KEY_PREFIX",
    "SERVICE_KEY_PREFIX",
    "agent_key_host",
    "derive_agent_key",
    "derive_service_key",
    "is_agent_key",
    "is_service_key",
    "verify_agent_key",
    "verify_service_key",
]

AGENT_KEY_PREFIX = "pva1"
_AGENT_KEY_CONTEXT = b"polyvisor agent key v1\x00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_agent_key(master_secret: str, host: str) -> str:
    """The key of the agent of `host`: ``pva1.<host>.<mac>``, a MAC of the host name under the
    agent key secret that only the identity service holds. It names its host; it cannot be
    turned into another host's key without the secret."""
    if not master_secret:
        raise ValueError("the agent key secret is empty")
    if not host:
        raise ValueError("an agent key names its host")
    mac = hmac.new(
        master_secret.encode(), _AGENT_KEY_CONTEXT + host.encode(), hashlib.sha256
    ).digest()
    return f"{AGENT_KEY_PREFIX}.{_b64(host.encode())}.{_b64(mac)}"


def is_agent_key(secret: str) -> bool:
    return secret.startswith(AGENT_KEY_PREFIX + ".")


def agent_key_host(secret: str) -> str:
    """The host an agent key names (not verified: for the agent's own sanity check)."""
    parts = secret.split(".")
    if len(parts) != 3 or parts[0] != AGENT_KEY_PREFIX:
        raise ValueError("not an agent key (pva1.<host>.<mac>)")
    try:
        return _unb64(parts[1]).decode()
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError("not an agent key (pva1.<host>.<mac>)") from e


def verify_agent_key(master_secret: str, secret: str) -> str:
    """The host of a valid agent key; Unauthenticated otherwise."""
    try:
        host = agent_key_host(secret)
    except ValueError as e:
        raise Unauthenticated("invalid agent key") from e
    if not master_secret or not host:
        raise Unauthenticated("invalid agent key")
    if not hmac.compare_digest(derive_agent_key(master_secret, host), secret):
        raise Unauthenticated("invalid agent key")
    return host


SERVICE_KEY_PREFIX = "pvs1"
_SERVICE_KEY_CONTEXT = b"polyvisor service key v1\x00"


def derive_service_key(master_secret: str, name: str) -> str:
    """The key of the control-plane service `name` (one of `KEYED_SERVICES`):
    ``pvs1.<name>.<mac>``, like an agent key but naming a service, under another context so
    that neither kind of key can be turned into the other."""
    if not master_secret:
        raise ValueError("the key secret is empty")
    if name not in KEYED_SERVICES:
        raise ValueError(f"no service key for {name!r}")
    mac = hmac.new(
        master_secret.encode(), _SERVICE_KEY_CONTEXT + name.encode(), hashlib.sha256
    ).digest()
    return f"{SERVICE_KEY_PREFIX}.{_b64(name.encode())}.{_b64(mac)}"


def is_service_key(secret: str) -> bool:
    return secret.startswith(SERVICE_KEY_PREFIX + ".")


def verify_service_key(master_secret: str, secret: str) -> str:
    """The service name of a valid service key; Unauthenticated otherwise."""
    parts = secret.split(".")
    try:
        if len(parts) != 3 or parts[0] != SERVICE_KEY_PREFIX:
            raise ValueError(secret)
        name = _unb64(parts[1]).decode()
    except (ValueError, UnicodeDecodeError) as e:
        raise Unauthenticated("invalid service key") from e
    if not master_secret or name not in KEYED_SERVICES:
        raise Unauthenticated("invalid service key")
    if not hmac.compare_digest(derive_service_key(master_secret, name), secret):
        raise Unauthenticated("invalid service key")
    return name
