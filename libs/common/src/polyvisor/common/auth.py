"""Signed tokens: who is calling, in which project, with which roles.

The api (identity) signs tokens with an Ed25519 private key; every other service verifies
them with the public key alone and never calls back. A token is scoped to one project.

Roles: ``admin`` (cloud-wide administration), ``member`` (read and write inside the
project), ``reader`` (read only inside the project).

Kinds of caller (the ``kind`` claim), each allowed only the methods of its `MethodRules`:

- ``user``: a person or a user API key, with roles on one project;
- ``service``: a control-plane service calling another (the api calling the scheduler), named
  by its ``sub`` (``polyvisor-api``) and holding no role;
- ``agent``: one hypervisor agent, named by its ``host`` claim; it gets its token by
  presenting a per-agent key (`derived_keys.derive_agent_key`) that names its host, so a key
  stolen from one host cannot act for another.

Tokens are checked without a call to the identity service, and revoked through the
revocation feed (`polyvisor.common.revocation`), also without a call per RPC.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from polyvisor.common.errors import FailedPrecondition, PermissionDenied, Unauthenticated

ISSUER = "polyvisor"
ALGORITHM = "EdDSA"
ROLES = ("admin", "member", "reader")

KIND_USER = "user"
KIND_SERVICE = "service"
KIND_AGENT = "agent"
#: The api's own identity (``sub`` of its service tokens).
API_IDENTITY = "polyvisor-api"
#: The console proxy's identity: it may only redeem console tokens.
CONSOLE_IDENTITY = "polyvisor-console"
#: The services that get their token with a service key (`derive_service_key`).
KEYED_SERVICES = frozenset((CONSOLE_IDENTITY,))


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of one RPC."""

    user_id: str
    project_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    username: str = ""
    token_id: str = ""
    expires_at: float = 0.0
    kind: str = KIND_USER  # KIND_USER, KIND_SERVICE or KIND_AGENT
    #: The agent's host (agents only).
    host: str = ""
    #: When the token was issued (epoch seconds, ms precision): revocations cut by it.
    issued_at: float = 0.0
    #: The API key the token was obtained with, if any (deleting the key revokes it).
    api_key_id: str = ""

    @property
    def is_admin(self) -> bool:
        return self.kind == KIND_USER and "admin" in self.roles

    @property
    def is_service(self) -> bool:
        """A machine identity (a control-plane service or an agent), not a person."""
        return self.kind in (KIND_SERVICE, KIND_AGENT)

    @property
    def is_agent(self) -> bool:
        return self.kind == KIND_AGENT

    @property
    def can_write(self) -> bool:
        return self.is_admin or self.kind == KIND_SERVICE or "member" in self.roles

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("this operation needs the admin role")

    def require_write(self) -> None:
        if not self.can_write:
            raise PermissionDenied("the reader role cannot change resources")

    @property
    def labels(self) -> frozenset[str]:
        """What `MethodRules` match: ``user`` and ``admin`` for people, ``service:<name>`` for
        a control-plane service, ``agent`` for an agent."""
        if self.kind == KIND_USER:
            return frozenset(("user", "admin")) if self.is_admin else frozenset(("user",))
        if self.kind == KIND_SERVICE:
            return frozenset((f"service:{self.user_id}",))
        if self.kind == KIND_AGENT and self.host:
            return frozenset(("agent",))
        return frozenset()


def generate_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 keypair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def ensure_keypair(private_path: Path, public_path: Path) -> None:
    """Create the keypair files if they do not exist yet (dev stack and tests)."""
    if private_path.exists() and public_path.exists():
        return
    private, public = generate_keypair()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = private_path.with_suffix(".tmp")
    tmp.write_bytes(private)
    tmp.chmod(0o600)
    tmp.replace(private_path)
    public_path.write_bytes(public)


class TokenSigner:
    """Issues tokens. Only the identity service holds one."""

    def __init__(self, private_pem: bytes, ttl_s: float = 3600.0) -> None:
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the token signing key must be Ed25519")
        self._key = key
        self.ttl_s = ttl_s

    @classmethod
    def from_file(cls, path: Path, ttl_s: float = 3600.0) -> TokenSigner:
        return cls(Path(path).read_bytes(), ttl_s)

    def issue(
        self,
        *,
        user_id: str,
        project_id: str,
        roles: Iterable[str],
        username: str = "",
        kind: str = KIND_USER,
        ttl_s: float | None = None,
        host: str = "",
        api_key_id: str = "",
    ) -> tuple[str, Principal]:
        if kind == KIND_AGENT and not host:
            raise ValueError("an agent token names its host")
        now = round(time.time(), 3)
        exp = now + (self.ttl_s if ttl_s is None else ttl_s)
        jti = uuid.uuid4().hex
        role_list = sorted(set(roles))
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": user_id,
            "prj": project_id,
            "roles": role_list,
            "name": username,
            "kind": kind,
            "iat": now,
            "exp": int(exp),
            "jti": jti,
        }
        if host:
            claims["host"] = host
        if api_key_id:
            claims["akid"] = api_key_id
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        principal = Principal(
            user_id=user_id,
            project_id=project_id,
            roles=frozenset(role_list),
            username=username,
            token_id=jti,
            expires_at=float(int(exp)),
            kind=kind,
            host=host,
            issued_at=now,
            api_key_id=api_key_id,
        )
        return token, principal


class TokenVerifier:
    """Verifies tokens with the public key; never calls the identity service."""

    def __init__(self, public_pem: bytes, leeway_s: float = 5.0) -> None:
        key = serialization.load_pem_public_key(public_pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the token verification key must be Ed25519")
        self._key = key
        self._leeway = leeway_s

    @classmethod
    def from_file(cls, path: Path) -> TokenVerifier:
        """The verifier of the public key at `path` (FailedPrecondition if unreadable)."""
        try:
            return cls(Path(path).read_bytes())
        except (OSError, ValueError) as e:
            raise FailedPrecondition(
                f"cannot read the token public key {path} (POLYVISOR_TOKEN_PUBLIC_KEY): {e}"
            ) from e

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        try:
            return Principal(
                user_id=str(claims["sub"]),
                project_id=str(claims.get("prj", "")),
                roles=frozenset(str(r) for r in claims.get("roles", [])),
                username=str(claims.get("name", "")),
                token_id=str(claims.get("jti", "")),
                expires_at=float(claims["exp"]),
                kind=str(claims.get("kind", KIND_USER)),
                host=str(claims.get("host", "")),
                issued_at=float(claims["iat"]),
                api_key_id=str(claims.get("akid", "")),
            )
        except (TypeError, ValueError) as exc:
            raise Unauthenticated("invalid token: malformed claims") from exc


def bearer_token(metadata: Mapping[str, str] | Sequence[tuple[str, str | bytes]] | None) -> str:
    """The token from an ``authorization: Bearer <token>`` metadata entry."""
    if metadata is None:
        raise Unauthenticated("missing authorization metadata")
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    for key, value in items:
        if key.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("authorization must be 'Bearer <token>'")
            return token.strip()
    raise Unauthenticated(
        "missing authorization metadata (expected 'authorization: Bearer <token>')"
    )


# --------------------------------------------------------------------------- who may call what


class MethodRules:
    """Which callers may call which methods (checked after the token, before the handler).

    `rules` maps a full method name (``/pkg.Service/Method``) or a service prefix
    (``/pkg.Service/``) to the labels allowed (see `Principal.labels`: ``user``, ``admin``,
    ``agent``, ``service:<name>``); a method matching no rule allows `default`. The exact
    method wins over its service."""

    def __init__(self, rules: Mapping[str, Iterable[str]], default: Iterable[str] = ()) -> None:
        self._rules = {k: frozenset(v) for k, v in rules.items()}
        self._default = frozenset(default)
        self._resolved: dict[str, frozenset[str]] = {}
        self._decided: dict[tuple[str, str, bool, bool], bool] = {}

    def allowed(self, method: str) -> frozenset[str]:
        found = self._resolved.get(method)
        if found is None:
            found = self._rules.get(method)
            if found is None:
                service = method[: method.rfind("/") + 1]
                found = self._rules.get(service, self._default)
            self._resolved[method] = found
        return found

    def check(self, principal: Principal, method: str) -> None:
        # The answer depends on the method and the principal's labels alone: decided once per
        # (method, kind, admin, host named) and then looked up (this runs on every call).
        key = (method, principal.kind, "admin" in principal.roles, bool(principal.host))
        ok = self._decided.get(key)
        if ok is None:
            ok = self._decided[key] = not principal.labels.isdisjoint(self.allowed(method))
        if not ok:
            who = principal.kind if principal.kind != KIND_USER else "this user's"
            raise PermissionDenied(f"{method.rsplit('/', 1)[-1]} is not open to {who} tokens")


class JwtAuthenticator:
    """The gRPC auth hook: every RPC needs a valid, unrevoked token allowed by `rules`, except
    the exempt methods (health, reflection, and the token-issuing calls given).

    Verified tokens are cached (`cache_size`; 0: none), so a client's repeated calls do not
    pay the signature check; expiry and revocation are still checked on every call."""

    DEFAULT_EXEMPT = (
        "/grpc.health.v1.Health/",
        "/grpc.reflection.v1alpha.ServerReflection/",
        "/grpc.reflection.v1.ServerReflection/",
    )

    def __init__(
        self,
        verifier: TokenVerifier,
        exempt: Iterable[str] = (),
        *,
        rules: MethodRules | None = None,
        revoked: Callable[[Principal], bool] | None = None,
        cache_size: int = 4096,
    ) -> None:
        self._verifier = verifier
        self._exempt = tuple(self.DEFAULT_EXEMPT) + tuple(exempt)
        self._rules = rules
        self._revoked = revoked
        self._size = cache_size
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._exempt_methods: dict[str, bool] = {}

    def is_exempt(self, method: str) -> bool:
        found = self._exempt_methods.get(method)
        if found is None:
            found = any(
                method == e or (e.endswith("/") and method.startswith(e)) for e in self._exempt
            )
            self._exempt_methods[method] = found
        return found

    def verify(self, token: str) -> Principal:
        """The token's principal if valid and not revoked (no method rule applied)."""
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at <= time.time():
                del self._cache[token]
                raise Unauthenticated("token expired")
            self._cache.move_to_end(token)
            principal = cached
        else:
            principal = self._verifier.verify(token)
            if self._size:
                self._cache[token] = principal
                if len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        if self._revoked is not None and self._revoked(principal):
            raise Unauthenticated("token revoked: authenticate again")
        return principal

    async def authenticate(
        self, method: str, metadata: Mapping[str, str] | Sequence[tuple[str, str | bytes]] | None
    ) -> Principal | None:
        if self.is_exempt(method):
            return None
        principal = self.verify(bearer_token(metadata))
        if self._rules is not None:
            self._rules.check(principal, method)
        return principal
