"""Fixtures of the client's tests: an isolated environment and the in-process fake cloud."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from libs.client.tests.fake_cloud import FakeCloud, FakeEndpoints, start_fake_cloud
from polyvisor.client.cli import main


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No POLYVISOR_* from the caller, a private config file, and a working directory with
    no dev stack's endpoints.json above it."""
    import os

    for key in list(os.environ):
        if key.startswith("POLYVISOR_"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("COLUMNS", raising=False)
    config = tmp_path / "home" / "config.yaml"
    monkeypatch.setenv("POLYVISOR_CONFIG", str(config))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return config


@pytest.fixture
def fake() -> Iterator[FakeEndpoints]:
    endpoints = start_fake_cloud(FakeCloud())
    try:
        yield endpoints
    finally:
        endpoints.stop()


@pytest.fixture
def cloud(fake: FakeEndpoints) -> FakeCloud:
    return fake.cloud


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(fake: FakeEndpoints, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """cli("server", "list", "-f", "json") -> CliResult, against the fake cloud."""

    def run(*args: str, endpoints: bool = True) -> CliResult:
        argv = ["--api-url", fake.api_url, "--image-url", fake.image_url] if endpoints else []
        argv += ["--poll-interval", "0.02", *args]
        code = main(argv)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def logged_in(cli: Callable[..., CliResult]) -> Callable[..., CliResult]:
    from libs.client.tests.fake_cloud import ADMIN_PASSWORD, ADMIN_USER, PROJECT

    r = cli("login", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD, "--project", PROJECT)
    assert r.code == 0, r.err
    return cli
