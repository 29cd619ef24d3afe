from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from vmware_fixtures import Direct, make_images

from tests.fixtures.vcsim import Vcsim, VcsimEndpoint


@pytest.fixture(scope="session")
def vcsim() -> Iterator[Vcsim]:
    """One vcsim (2 clusters x 3 ESXi hosts) for the session; tests that kill it make their own."""
    root = Path(tempfile.mkdtemp(prefix="polyvisor-vcsim-"))
    sim = Vcsim(root, die_with_parent=True)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
        shutil.rmtree(root, ignore_errors=True)  # its log: nothing of a test run stays behind


@pytest.fixture(scope="session")
def vcsim_endpoint(vcsim: Vcsim) -> VcsimEndpoint:
    ep = vcsim.endpoint
    assert ep is not None
    return ep


@pytest.fixture
def direct(vcsim_endpoint: VcsimEndpoint) -> Iterator[Direct]:
    d = Direct(vcsim_endpoint)
    try:
        yield d
    finally:
        d.close()


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_images(tmp_path_factory.mktemp("images"))


@pytest.fixture
def folder() -> str:
    """A VM folder of this test's own, so tests never see each other's VMs."""
    return f"t-{uuid.uuid4().hex[:10]}"
