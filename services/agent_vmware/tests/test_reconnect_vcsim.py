"""vCenter killed and started again: UNKNOWN meanwhile (never SHUTDOWN), reconnect, resync."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from vmware_fixtures import Direct, eventually, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agentkit.driver import (
    HypervisorUnavailable,
    InstanceChange,
    InstanceSpec,
    PowerState,
)
from tests.fixtures.vcsim import Vcsim

pytestmark = pytest.mark.slow


@pytest.fixture
def own_vcsim(tmp_path: Path) -> Iterator[Vcsim]:
    sim = Vcsim(tmp_path / "vcsim", die_with_parent=True)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def test_vcenter_restart(own_vcsim: Vcsim, images: dict[str, Path]) -> None:
    endpoint = own_vcsim.endpoint
    assert endpoint is not None
    driver = VmwareDriver(options_for(endpoint, folder="polyvisor"))
    driver.start(wait=30)
    seen: list[InstanceChange] = []
    lock = threading.Lock()

    def emit(change: InstanceChange) -> None:
        with lock:
            seen.append(change)

    def last(sid: str) -> InstanceChange | None:
        with lock:
            mine = [c for c in seen if c.server_id == sid]
        return mine[-1] if mine else None

    unwatch = driver.watch(emit)
    try:
        image = local_image(images["streamOptimized"], "img-restart")
        spec = InstanceSpec(
            server_id=str(uuid.uuid4()), name="r", hostname="r", vcpus=1, memory_mb=64,
            disk_gb=0, image=image,
        )  # fmt: skip
        driver.spawn(spec)
        host_id = driver.host_id
        assert driver.host_info().connected

        own_vcsim.kill()
        # The agent notices (keepalive or the watcher's long poll) and says "unknown".
        eventually(lambda: not driver.connected)
        report = driver.host_info()
        assert not report.connected
        assert report.vcpus.total > 0  # the last known inventory, marked disconnected
        with pytest.raises(HypervisorUnavailable):
            driver.list_instances()  # nothing is observable: never an empty list
        change = eventually(lambda: last(spec.server_id))
        assert change.power_state == PowerState.UNKNOWN
        with lock:
            assert not any(c.power_state == PowerState.SHUTDOWN for c in seen)
        with pytest.raises(HypervisorUnavailable):
            driver.power_on(spec.server_id)

        own_vcsim.start()  # same port, an empty inventory: as after a vCenter rebuild
        eventually(lambda: driver.connected, timeout=30)
        eventually(lambda: driver.host_info().connected, timeout=30)
        assert driver.host_id == host_id  # stable across reconnects
        # Full resync: the VM is not there any more, and the agent says so.
        gone = eventually(lambda: (c := last(spec.server_id)) is not None and c.vanished and c)
        assert gone.vanished
        assert driver.list_instances() == []

        # And it works again: a new spawn uploads the image anew to the fresh datastore.
        again = InstanceSpec(
            server_id=str(uuid.uuid4()), name="r2", hostname="r2", vcpus=1, memory_mb=64,
            disk_gb=0, image=image,
        )  # fmt: skip
        assert driver.spawn(again).power_state == PowerState.RUNNING
        direct = Direct(own_vcsim.endpoint)  # type: ignore[arg-type]
        try:
            assert direct.vm_by_tag(again.server_id) is not None
        finally:
            direct.close()
    finally:
        unwatch()
        driver.close()


def test_vms_that_survive_a_reconnect_are_reported_again(
    own_vcsim: Vcsim, images: dict[str, Path]
) -> None:
    """A dropped session (vCenter still there): UNKNOWN, then the real state again."""
    endpoint = own_vcsim.endpoint
    assert endpoint is not None
    driver = VmwareDriver(options_for(endpoint, folder="polyvisor"))
    driver.start(wait=30)
    seen: list[InstanceChange] = []
    lock = threading.Lock()

    def emit(change: InstanceChange) -> None:
        with lock:
            seen.append(change)

    unwatch = driver.watch(emit)
    try:
        image = local_image(images["streamOptimized"], "img-drop")
        spec = InstanceSpec(
            server_id=str(uuid.uuid4()), name="d", hostname="d", vcpus=1, memory_mb=64,
            disk_gb=0, image=image,
        )  # fmt: skip
        driver.spawn(spec)
        conn = driver.session.current()
        conn.si.content.sessionManager.Logout()  # vCenter drops our session
        driver.session.broken(conn.generation)  # as a call failing NotAuthenticated does
        eventually(lambda: driver.session.generation > conn.generation and driver.connected)

        def states() -> list[PowerState]:
            with lock:
                return [c.power_state for c in seen if c.server_id == spec.server_id]

        eventually(lambda: states()[-2:] == [PowerState.UNKNOWN, PowerState.RUNNING])
        assert [i.power_state for i in driver.list_instances()] == [PowerState.RUNNING]
        assert driver.power_off(spec.server_id).power_state == PowerState.SHUTDOWN
        driver.destroy(spec.server_id)
    finally:
        unwatch()
        driver.close()
