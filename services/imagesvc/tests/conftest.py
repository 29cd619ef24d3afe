from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from imagesvc_client import Service, running_service
from imagesvc_forge import Forge

GiB = 1 << 30


@pytest.fixture
def forge(tmp_path: Path) -> Forge:
    return Forge(tmp_path / "forge")


@pytest.fixture(scope="module")
async def service(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """The image service with the tests' settings (see `running_service`)."""
    async with running_service(pg_url, nats_url, tmp_path_factory.mktemp("imagesvc")) as svc:
        yield svc
