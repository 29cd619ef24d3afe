"""Where the client finds its endpoints and credentials, and the file `polyvisor login` writes.

Endpoints, first found wins:
1. arguments (`AsyncClient(api_url=...)`, `polyvisor --api-url`);
2. the environment: `POLYVISOR_API_URL`, `POLYVISOR_IMAGE_URL`;
3. the config file written by `polyvisor login`;
4. `.polyvisor/endpoints.json` written by `./dev up` (in `$POLYVISOR_DEV_HOME`, or in the
   current directory or one of its parents);
5. `127.0.0.1:50051` (api), `127.0.0.1:50052` (image) and `127.0.0.1:50054` (network).

The network service's endpoint is found the same way (`POLYVISOR_NETWORK_URL`, the config
file's `network_url`, endpoints.json's `networksvc`): `resolve_network_endpoint`; the volume
service's too (`POLYVISOR_VOLUME_URL`, endpoints.json's `volumesvc`, else `127.0.0.1:50058`):
`resolve_volume_endpoint`.

`polyvisor login --dev` puts 4 before 2 and 3 (`dev_endpoints`): it logs into the stack that
runs now, whose ports may have changed since the last login (`./dev down && ./dev up` with
ephemeral ports).

Credentials, first found wins: arguments; the environment (`POLYVISOR_TOKEN`, or
`POLYVISOR_API_KEY`, or `POLYVISOR_USERNAME` + `POLYVISOR_PASSWORD` [+ `POLYVISOR_PROJECT`]);
the config file.

The config file is `$POLYVISOR_CONFIG`, else `$XDG_CONFIG_HOME/polyvisor/config.yaml`, else
`~/.config/polyvisor/config.yaml`. It holds the credentials given to `login` and the last token
with its expiry, so later calls skip authentication until the token is about to expire. It is
written with mode 0600 (like the openstack CLI's clouds.yaml, it holds a secret).

An endpoint is `host:port`, optionally with a scheme: `grpc://` or `http://` (plaintext),
`grpcs://` or `https://` (TLS with the system roots).

One concern: resolving the client's endpoints and credentials, and the config file that
keeps them; each service's endpoint follows the same order.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from polyvisor.client.errors import ConfigError

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_IMAGE_URL",
    "DEFAULT_NETWORK_URL",
    "CachedToken",
    "ClientConfig",
    "Credentials",
    "Endpoint",
    "config_path",
    "credentials_from_env",
    "dev_admin_credentials",
    "dev_endpoints",
    "find_endpoints_file",
    "parse_endpoint",
    "resolve_endpoints",
    "resolve_network_endpoint",
    "resolve_volume_endpoint",
]

DEFAULT_API_URL = "127.0.0.1:50051"
DEFAULT_IMAGE_URL = "127.0.0.1:50052"
DEFAULT_NETWORK_URL = "127.0.0.1:50054"
DEFAULT_VOLUME_URL = "127.0.0.1:50058"

ENV_API_URL = "POLYVISOR_API_URL"
ENV_IMAGE_URL = "POLYVISOR_IMAGE_URL"
ENV_NETWORK_URL = "POLYVISOR_NETWORK_URL"
ENV_VOLUME_URL = "POLYVISOR_VOLUME_URL"
ENV_CONFIG = "POLYVISOR_CONFIG"
ENV_DEV_HOME = "POLYVISOR_DEV_HOME"
ENV_TOKEN = "POLYVISOR_TOKEN"
ENV_API_KEY = "POLYVISOR_API_KEY"
ENV_USERNAME = "POLYVISOR_USERNAME"
ENV_PASSWORD = "POLYVISOR_PASSWORD"
ENV_PROJECT = "POLYVISOR_PROJECT"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed endpoint: `target` for grpc, and whether to use TLS."""

    target: str
    tls: bool = False

    def __str__(self) -> str:
        return f"grpcs://{self.target}" if self.tls else self.target


def parse_endpoint(text: str) -> Endpoint:
    raw = text.strip()
    tls = False
    for scheme, secure in (
        ("grpcs://", True),
        ("https://", True),
        ("grpc://", False),
        ("http://", False),
    ):
        if raw.lower().startswith(scheme):
            raw, tls = raw[len(scheme) :], secure
            break
    raw = raw.rstrip("/")
    if not raw or "/" in raw:
        raise ConfigError(
            f"bad endpoint {text!r}: expected host:port (optionally grpc:// or grpcs://)"
        )
    if ":" not in raw.rsplit("]", 1)[-1]:
        raw = f"{raw}:{443 if tls else 80}"
    return Endpoint(raw, tls)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the client authenticates with: an API key, or a user name and password scoped to a
    project ("" means the user's default project), or a ready token."""

    username: str = ""
    password: str = ""
    project: str = ""
    api_key: str = ""
    token: str = ""

    @property
    def usable(self) -> bool:
        return bool(self.token or self.api_key or (self.username and self.password))

    @property
    def kind(self) -> str:
        if self.token:
            return "token"
        if self.api_key:
            return "api_key"
        if self.username:
            return "password"
        return "none"

    def identity(self) -> tuple[str, str, str, str]:
        """What a cached token was issued for (a token for other credentials is never reused)."""
        return (self.kind, self.username, self.project, self.api_key[:8])


@dataclass(frozen=True, slots=True)
class CachedToken:
    token: str
    expires_at: float  # unix time
    user: str = ""
    project: str = ""
    project_id: str = ""
    roles: tuple[str, ...] = ()

    def valid(self, margin_s: float = 30.0, now: float | None = None) -> bool:
        return bool(self.token) and self.expires_at - margin_s > (
            time.time() if now is None else now
        )


def config_path() -> Path:
    explicit = os.environ.get(ENV_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "polyvisor" / "config.yaml"


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The contents of the config file (every field optional)."""

    api_url: str = ""
    image_url: str = ""
    network_url: str = ""
    credentials: Credentials = field(default_factory=Credentials)
    token: CachedToken | None = None
    path: Path | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> ClientConfig:
        """The config at `path` (default: `config_path()`); empty when the file is missing."""
        path = path or config_path()
        try:
            text = path.read_text()
        except FileNotFoundError:
            return cls(path=path)
        except OSError as e:
            raise ConfigError(f"cannot read {path}: {e}") from e
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        auth = data.get("auth") or {}
        tok = data.get("token") or {}
        if not isinstance(auth, dict) or not isinstance(tok, dict):
            raise ConfigError(f"{path}: 'auth' and 'token' must be mappings")
        creds = Credentials(
            username=str(auth.get("username") or ""),
            password=str(auth.get("password") or ""),
            project=str(auth.get("project") or ""),
            api_key=str(auth.get("api_key") or ""),
        )
        cached = None
        if tok.get("value"):
            cached = CachedToken(
                token=str(tok["value"]),
                expires_at=_parse_time(tok.get("expires_at")),
                user=str(tok.get("user") or ""),
                project=str(tok.get("project") or ""),
                project_id=str(tok.get("project_id") or ""),
                roles=tuple(str(r) for r in tok.get("roles") or ()),
            )
        return cls(
            api_url=str(data.get("api_url") or ""),
            image_url=str(data.get("image_url") or ""),
            network_url=str(data.get("network_url") or ""),
            credentials=creds,
            token=cached,
            path=path,
        )

    def to_yaml(self) -> str:
        data: dict[str, Any] = {}
        if self.api_url:
            data["api_url"] = self.api_url
        if self.image_url:
            data["image_url"] = self.image_url
        if self.network_url:
            data["network_url"] = self.network_url
        c = self.credentials
        auth = {k: v for k, v in (("project", c.project), ("username", c.username),
                                  ("password", c.password), ("api_key", c.api_key)) if v}  # fmt: skip
        if auth:
            data["auth"] = auth
        if self.token is not None:
            data["token"] = {
                "value": self.token.token,
                "expires_at": iso_time(self.token.expires_at),
                "user": self.token.user,
                "project": self.token.project,
                "project_id": self.token.project_id,
                "roles": list(self.token.roles),
            }
        return str(yaml.safe_dump(data, sort_keys=False))

    def save(self, path: Path | None = None) -> Path:
        """Write atomically, mode 0600 (it holds credentials)."""
        target = path or self.path or config_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.to_yaml())
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def with_token(self, token: CachedToken | None) -> ClientConfig:
        return replace(self, token=token)


def credentials_from_env(env: dict[str, str] | None = None) -> Credentials | None:
    env = dict(os.environ) if env is None else env
    if env.get(ENV_TOKEN):
        return Credentials(token=env[ENV_TOKEN])
    if env.get(ENV_API_KEY):
        return Credentials(api_key=env[ENV_API_KEY])
    if env.get(ENV_USERNAME) and env.get(ENV_PASSWORD):
        return Credentials(
            username=env[ENV_USERNAME],
            password=env[ENV_PASSWORD],
            project=env.get(ENV_PROJECT, ""),
        )
    return None


def find_endpoints_file(start: Path | None = None) -> Path | None:
    """`.polyvisor/endpoints.json` of the dev stack, if one is around."""
    home = os.environ.get(ENV_DEV_HOME)
    if home:
        candidate = Path(home) / "endpoints.json"
        return candidate if candidate.is_file() else None
    here = (start or Path.cwd()).absolute()
    for d in (here, *here.parents):
        candidate = d / ".polyvisor" / "endpoints.json"
        if candidate.is_file():
            return candidate
    return None


def _from_endpoints_file(path: Path) -> tuple[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return "", ""

    def grpc_of(name: str) -> str:
        entry = data.get(name) if isinstance(data, dict) else None
        if isinstance(entry, dict) and entry.get("state", "running") == "running":
            return str(entry.get("grpc") or "")
        return ""

    return grpc_of("api"), grpc_of("imagesvc")


def dev_endpoints(cwd: Path | None = None) -> tuple[str, str]:
    """(api, image) of the running dev stack from its endpoints.json; "" for a service that is
    not running or not found."""
    found = find_endpoints_file(cwd)
    return ("", "") if found is None else _from_endpoints_file(found)


def dev_admin_credentials(cwd: Path | None = None) -> Credentials | None:
    """The admin `./dev up` bootstrapped (endpoints.json's "admin"), if a dev stack is around."""
    found = find_endpoints_file(cwd)
    if found is None:
        return None
    try:
        admin = json.loads(found.read_text()).get("admin")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(admin, dict) or not admin.get("username") or not admin.get("password"):
        return None
    return Credentials(
        username=str(admin["username"]),
        password=str(admin["password"]),
        project=str(admin.get("project") or ""),
    )


def resolve_endpoints(
    api_url: str | None = None,
    image_url: str | None = None,
    config: ClientConfig | None = None,
    *,
    cwd: Path | None = None,
) -> tuple[Endpoint, Endpoint]:
    """(api, image) endpoints, in the order the module docstring gives."""
    api = api_url or os.environ.get(ENV_API_URL) or (config.api_url if config else "")
    image = image_url or os.environ.get(ENV_IMAGE_URL) or (config.image_url if config else "")
    if not api or not image:
        found = find_endpoints_file(cwd)
        if found is not None:
            dev_api, dev_image = _from_endpoints_file(found)
            api = api or dev_api
            image = image or dev_image
    return parse_endpoint(api or DEFAULT_API_URL), parse_endpoint(image or DEFAULT_IMAGE_URL)


def resolve_network_endpoint(
    network_url: str | None = None,
    config: ClientConfig | None = None,
    *,
    cwd: Path | None = None,
) -> Endpoint:
    """The network service's endpoint, in the order the module docstring gives."""
    url = network_url or os.environ.get(ENV_NETWORK_URL) or (config.network_url if config else "")
    if not url:
        found = find_endpoints_file(cwd)
        if found is not None:
            try:
                entry = json.loads(found.read_text()).get("networksvc")
            except (OSError, ValueError, AttributeError):
                entry = None
            if isinstance(entry, dict) and entry.get("state", "running") == "running":
                url = str(entry.get("grpc") or "")
    return parse_endpoint(url or DEFAULT_NETWORK_URL)


def resolve_volume_endpoint(volume_url: str | None = None, *, cwd: Path | None = None) -> Endpoint:
    """The volume service's endpoint: the argument, `POLYVISOR_VOLUME_URL`, endpoints.json's
    `volumesvc`, else the default."""
    url = volume_url or os.environ.get(ENV_VOLUME_URL) or ""
    if not url:
        found = find_endpoints_file(cwd)
        if found is not None:
            try:
                entry = json.loads(found.read_text()).get("volumesvc")
            except (OSError, ValueError, AttributeError):
                entry = None
            if isinstance(entry, dict) and entry.get("state", "running") == "running":
                url = str(entry.get("grpc") or "")
    return parse_endpoint(url or DEFAULT_VOLUME_URL)
