"""vCenter hung (vcsim stopped with SIGSTOP: connections are accepted, nothing is answered):
noticed by the session's liveness probe, the cluster reported down and its VMs UNKNOWN (never
SHUTDOWN), calls failing fast (also those already waiting on it), then recovery on its own."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pytest
from vmware_fixtures import eventually, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.faults import is_connection_error
from polyvisor.agent_vmware.session import VcenterNotAnswering
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
        pid = sim.pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)  # a stopped process does not stop on SIGTERM
        sim.stop()


def test_a_hung_vcenter_is_noticed_fails_fast_and_recovers(
    own_vcsim: Vcsim, images: dict[str, Path]
) -> None:
    endpoint = own_vcsim.endpoint
    pid = own_vcsim.pid
    assert endpoint is not None and pid is not None
    # A call with nobody to cut it off would wait for vCenter up to call_timeout_s: far
    # longer than the bounds on the waits below.
    options = options_for(
        endpoint, folder="polyvisor", probe_interval_s=0.5, probe_timeout_s=1.0,
        call_timeout_s=600.0,
    )  # fmt: skip
    driver = VmwareDriver(options)
    driver.start(wait=30)
    seen: list[InstanceChange] = []
    lock = threading.Lock()

    def emit(change: InstanceChange) -> None:
        with lock:
            seen.append(change)

    def states(sid: str) -> list[PowerState]:
        with lock:
            return [c.power_state for c in seen if c.server_id == sid]

    unwatch = driver.watch(emit)
    calls = ThreadPoolExecutor(2)
    try:
        spec = InstanceSpec(
            server_id=str(uuid.uuid4()), name="h", hostname="h", vcpus=1, memory_mb=64,
            disk_gb=0, image=local_image(images["streamOptimized"], "img-hung"),
        )  # fmt: skip
        assert driver.spawn(spec).power_state == PowerState.RUNNING
        assert driver.host_info().connected
        conn = driver.session.current()
        eventually(lambda: driver.session.probes > 0)  # the probe answers while all is well

        os.kill(pid, signal.SIGSTOP)
        try:
            # A call on the session when vCenter stops answering: waiting on it already (its
            # connection is cut off) or, on a busy machine, starting after the hang was noticed
            # (it opens no connection): a connection error either way, never a wait.
            waiting = calls.submit(conn.si.CurrentTime)
            eventually(lambda: not driver.connected, timeout=60)
            assert not driver.session.answering
            report = driver.host_info()
            assert not report.connected  # the cluster is reported down
            assert report.vcpus.total > 0  # with its last known inventory
            eventually(lambda: states(spec.server_id)[-1:] == [PowerState.UNKNOWN])
            # Calls fail at once while it does not answer; so does the one that was waiting.
            with pytest.raises(VcenterNotAnswering, match="not answering"):
                driver.power_on(spec.server_id)
            with pytest.raises(HypervisorUnavailable):
                driver.list_instances()
            # (Not waiting.result(timeout=...): its TimeoutError is a connection error too.)
            assert wait([waiting], timeout=60).done, "the waiting call was never cut off"
            cut = waiting.exception()
            assert cut is not None and is_connection_error(cut), repr(cut)
            assert own_vcsim.pid == pid  # still stopped, never restarted: all that was us
        finally:
            os.kill(pid, signal.SIGCONT)

        eventually(lambda: driver.connected and driver.session.answering, timeout=120)
        eventually(lambda: driver.host_info().connected, timeout=30)
        eventually(lambda: states(spec.server_id)[-1:] == [PowerState.RUNNING], timeout=30)
        assert PowerState.SHUTDOWN not in states(spec.server_id)
        assert [i.power_state for i in driver.list_instances()] == [PowerState.RUNNING]
        assert driver.power_off(spec.server_id).power_state == PowerState.SHUTDOWN
        driver.destroy(spec.server_id)
    finally:
        calls.shutdown(wait=False, cancel_futures=True)
        unwatch()
        driver.close()
