"""Dozens of VMware creates at once end ACTIVE/RUNNING: no observation of a VM still powered
off while it was being created is ever published after its SPAWNED (which the api would turn
into SHUTOFF, and the reconciler into a real power-off). ``bench/agent_vmware/creates.py``
runs the same with hundreds."""

from __future__ import annotations

from pathlib import Path

import pytest
from many_creates import run_creates

from tests.fixtures.vcsim import Vcsim

pytestmark = pytest.mark.slow

CREATES = 40


async def test_concurrent_creates_all_end_running(
    nats_url: str, vcsim: Vcsim, images: dict[str, Path], tmp_path: Path
) -> None:
    endpoint = vcsim.endpoint
    assert endpoint is not None
    outcome = await run_creates(
        CREATES,
        endpoint=endpoint,
        nats_url=nats_url,
        root=tmp_path,
        stream_vmdk=images["streamOptimized"].read_bytes(),
        marker_wait_s=60.0,
    )
    assert outcome.spawn_failed == []
    assert outcome.spawned_running == CREATES
    assert outcome.shut_off == {}, f"{len(outcome.shut_off)} servers reported SHUTDOWN"
    assert outcome.powered_on_in_vcenter == CREATES
