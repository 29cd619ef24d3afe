"""Fixtures of the api's cross-service tests: a stack per test module, with its own NATS (so
hosts reported in one module never reach another module's scheduler) and database."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from polyvisor.common.embedded import EmbeddedNats
from tests.api.stack import Stack


@pytest.fixture(scope="module")
def module_root() -> Iterator[Path]:
    import os
    import shutil

    d = tempfile.mkdtemp(prefix="polyvisor-api-")
    yield Path(d)
    if not os.environ.get("POLYVISOR_TEST_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def module_nats(module_root: Path) -> Iterator[str]:
    nats = EmbeddedNats(module_root / "nats", die_with_parent=True)
    nats.start()
    try:
        assert nats.url is not None
        yield nats.url
    finally:
        nats.stop()


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    """Extra api settings of a module (override in the module)."""
    return {}


@pytest.fixture(scope="module")
async def stack(
    module_root: Path,
    module_nats: str,
    make_database: Callable[..., str],
    api_settings: dict[str, str],
) -> AsyncIterator[Stack]:
    s = Stack(module_root, make_database("api"), module_nats)
    try:
        await s.start_control_plane(api_settings)
        yield s
    finally:
        await s.stop()
