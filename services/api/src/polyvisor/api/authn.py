"""The api's authenticator: JWT verification (Ed25519, public key only) with a small cache of
verified tokens, so a client's repeated calls do not pay the signature check each time."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from polyvisor.common.auth import Principal, TokenVerifier, bearer_token
from polyvisor.common.errors import Unauthenticated

IDENTITY_AUTHENTICATE = "/polyvisor.identity.v1.IdentityService/Authenticate"


class CachingAuthenticator:
    def __init__(
        self, verifier: TokenVerifier, exempt: Iterable[str] = (), size: int = 4096
    ) -> None:
        self._verifier = verifier
        self._exempt = tuple(exempt)
        self._size = size
        self._cache: OrderedDict[str, Principal] = OrderedDict()

    async def authenticate(
        self,
        method: str,
        metadata: Mapping[str, str] | Sequence[tuple[str, str | bytes]] | None,
    ) -> Principal | None:
        if method in self._exempt:
            return None
        token = bearer_token(metadata)
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None:
            if cached.expires_at > now:
                self._cache.move_to_end(token)
                return cached
            del self._cache[token]
            raise Unauthenticated("token expired")
        principal = self._verifier.verify(token)
        self._cache[token] = principal
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return principal
