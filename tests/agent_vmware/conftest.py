from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services/agent_vmware/tests"))
sys.path.insert(0, str(Path(__file__).parent))

from vmware_fixtures import make_images

from tests.fixtures.vcsim import Vcsim


@pytest.fixture(scope="module")
def vcsim() -> Iterator[Vcsim]:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-vcsim-"))
    sim = Vcsim(root, die_with_parent=True)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
        shutil.rmtree(root, ignore_errors=True)  # its log: nothing of a test run stays behind


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_images(tmp_path_factory.mktemp("images"))
