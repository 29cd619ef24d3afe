"""Endpoint and credential resolution, and the config file `polyvisor login` writes."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from polyvisor.client.config import (
    CachedToken,
    ClientConfig,
    Credentials,
    Endpoint,
    credentials_from_env,
    parse_endpoint,
    resolve_endpoints,
)
from polyvisor.client.errors import ConfigError


def test_parse_endpoint_accepts_the_usual_spellings() -> None:
    assert parse_endpoint("127.0.0.1:50051") == Endpoint("127.0.0.1:50051", tls=False)
    assert parse_endpoint("grpc://api.example:7000/") == Endpoint("api.example:7000", tls=False)
    assert parse_endpoint("http://api.example:7000") == Endpoint("api.example:7000", tls=False)
    assert parse_endpoint("grpcs://api.example") == Endpoint("api.example:443", tls=True)
    assert parse_endpoint("[::1]:50051") == Endpoint("[::1]:50051", tls=False)
    assert str(parse_endpoint("https://x:1")) == "grpcs://x:1"
    with pytest.raises(ConfigError):
        parse_endpoint("http://host:1/path")
    with pytest.raises(ConfigError):
        parse_endpoint("")


def _write_endpoints(root: Path, api: str, image: str, image_state: str = "running") -> Path:
    d = root / ".polyvisor"
    d.mkdir(parents=True)
    path = d / "endpoints.json"
    path.write_text(json.dumps({
        "api": {"grpc": api, "state": "running"},
        "imagesvc": {"grpc": image, "state": image_state},
        "scheduler": {"grpc": "127.0.0.1:1", "state": "running"},
    }))  # fmt: skip
    return path


def test_resolution_order_args_env_config_devstack_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "repo"
    (project / "sub").mkdir(parents=True)
    _write_endpoints(project, "127.0.0.1:6001", "127.0.0.1:6002")
    monkeypatch.chdir(project / "sub")  # found in a parent directory

    api, image = resolve_endpoints()
    assert (api.target, image.target) == ("127.0.0.1:6001", "127.0.0.1:6002")

    cfg = ClientConfig(api_url="cfg:1", image_url="cfg:2")
    api, image = resolve_endpoints(config=cfg)
    assert (api.target, image.target) == ("cfg:1", "cfg:2")

    monkeypatch.setenv("POLYVISOR_API_URL", "env:1")
    api, image = resolve_endpoints(config=cfg)
    assert (api.target, image.target) == ("env:1", "cfg:2")

    api, image = resolve_endpoints("arg:1", "arg:2", cfg)
    assert (api.target, image.target) == ("arg:1", "arg:2")

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYVISOR_API_URL")
    api, image = resolve_endpoints()
    assert (api.target, image.target) == ("127.0.0.1:50051", "127.0.0.1:50052")


def test_dev_home_endpoints_and_services_not_running_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_endpoints(tmp_path / "stack", "127.0.0.1:7001", "127.0.0.1:7002", image_state="failed")
    monkeypatch.setenv("POLYVISOR_DEV_HOME", str(tmp_path / "stack" / ".polyvisor"))
    api, image = resolve_endpoints()
    assert api.target == "127.0.0.1:7001"
    assert image.target == "127.0.0.1:50052"  # the failed one falls through to the default


def test_config_round_trip_is_private_and_keeps_the_token_expiry(isolated_env: Path) -> None:
    expires = time.time() + 1800
    cfg = ClientConfig(
        api_url="127.0.0.1:50051",
        image_url="127.0.0.1:50052",
        credentials=Credentials(username="alice", password="pw", project="demo"),
        token=CachedToken(
            "tok", expires, user="alice", project="demo", project_id="p1", roles=("member",)
        ),
    )
    path = cfg.save(isolated_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = ClientConfig.load(isolated_env)
    assert loaded.api_url == "127.0.0.1:50051"
    assert loaded.credentials == Credentials(username="alice", password="pw", project="demo")
    assert loaded.token is not None
    assert loaded.token.token == "tok"
    assert abs(loaded.token.expires_at - expires) < 1.0  # stored with second precision
    assert loaded.token.roles == ("member",)
    assert loaded.token.valid()
    assert not loaded.token.valid(now=expires)


def test_missing_config_is_empty_and_bad_config_is_a_config_error(isolated_env: Path) -> None:
    empty = ClientConfig.load(isolated_env)
    assert empty.api_url == "" and not empty.credentials.usable and empty.token is None
    isolated_env.parent.mkdir(parents=True, exist_ok=True)
    isolated_env.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError):
        ClientConfig.load(isolated_env)
    isolated_env.write_text("api_url: [unclosed\n")
    with pytest.raises(ConfigError):
        ClientConfig.load(isolated_env)


def test_credentials_from_env_prefers_token_then_api_key_then_password() -> None:
    assert credentials_from_env({}) is None
    assert credentials_from_env({"POLYVISOR_USERNAME": "u"}) is None  # no password: not usable
    pw = credentials_from_env(
        {"POLYVISOR_USERNAME": "u", "POLYVISOR_PASSWORD": "p", "POLYVISOR_PROJECT": "x"}
    )
    assert pw == Credentials(username="u", password="p", project="x")
    key = credentials_from_env(
        {"POLYVISOR_API_KEY": "k", "POLYVISOR_USERNAME": "u", "POLYVISOR_PASSWORD": "p"}
    )
    assert key == Credentials(api_key="k")
    tok = credentials_from_env({"POLYVISOR_TOKEN": "t", "POLYVISOR_API_KEY": "k"})
    assert tok == Credentials(token="t")
