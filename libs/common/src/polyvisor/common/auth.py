"""Signed tokens: who is calling, in which project, with which roles.

The api (identity) signs tokens with an Ed25519 private key; every other service verifies
them with the public key alone and never calls back. A token is scoped to one project.

Roles: ``admin`` (cloud-wide administration), ``member`` (read and write inside the
project), ``reader`` (read only inside the project). ``service`` is the kind of token an
agent holds; it is not a user role.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from polyvisor.common.errors import PermissionDenied, Unauthenticated

ISSUER = "polyvisor"
ALGORITHM = "EdDSA"
ROLES = ("admin", "member", "reader")


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of one RPC."""

    user_id: str
    project_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    username: str = ""
    token_id: str = ""
    expires_at: float = 0.0
    kind: str = "user"  # "user" or "service"

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    @property
    def can_write(self) -> bool:
        return self.is_admin or self.is_service or "member" in self.roles

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("this operation needs the admin role")

    def require_write(self) -> None:
        if not self.can_write:
            raise PermissionDenied("the reader role cannot change resources")

    def sees_project(self, project_id: str) -> bool:
        return self.is_admin or self.is_service or project_id == self.project_id


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
        kind: str = "user",
        ttl_s: float | None = None,
    ) -> tuple[str, Principal]:
        now = time.time()
        exp = now + (self.ttl_s if ttl_s is None else ttl_s)
        jti = uuid.uuid4().hex
        role_list = sorted(set(roles))
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "prj": project_id,
            "roles": role_list,
            "name": username,
            "kind": kind,
            "iat": int(now),
            "exp": int(exp),
            "jti": jti,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        principal = Principal(
            user_id=user_id,
            project_id=project_id,
            roles=frozenset(role_list),
            username=username,
            token_id=jti,
            expires_at=float(int(exp)),
            kind=kind,
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
        return cls(Path(path).read_bytes())

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
        return Principal(
            user_id=str(claims["sub"]),
            project_id=str(claims.get("prj", "")),
            roles=frozenset(str(r) for r in claims.get("roles", [])),
            username=str(claims.get("name", "")),
            token_id=str(claims.get("jti", "")),
            expires_at=float(claims["exp"]),
            kind=str(claims.get("kind", "user")),
        )


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
    raise Unauthenticated("missing authorization metadata (expected 'authorization: Bearer <token>')")


class JwtAuthenticator:
    """The gRPC auth hook: every RPC needs a valid token except the exempt methods."""

    DEFAULT_EXEMPT = (
        "/grpc.health.v1.Health/",
        "/grpc.reflection.v1alpha.ServerReflection/",
        "/grpc.reflection.v1.ServerReflection/",
    )

    def __init__(self, verifier: TokenVerifier, exempt: Iterable[str] = ()) -> None:
        self._verifier = verifier
        self._exempt = tuple(self.DEFAULT_EXEMPT) + tuple(exempt)

    def is_exempt(self, method: str) -> bool:
        return any(method == e or (e.endswith("/") and method.startswith(e)) for e in self._exempt)

    async def authenticate(
        self, method: str, metadata: Mapping[str, str] | Sequence[tuple[str, str | bytes]] | None
    ) -> Principal | None:
        if self.is_exempt(method):
            return None
        return self._verifier.verify(bearer_token(metadata))
