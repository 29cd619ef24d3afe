"""The console log on vcsim: a spawned VM has a serial port backed by a file in its directory
on the datastore; what the guest writes there is read back over vCenter's /folder endpoint,
its last bytes only (the agent's query turns them into the last N lines)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVim.task import WaitForTask
from pyVmomi import vim
from vmware_fixtures import Direct, datastore_dir, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.driver_console import serial_log_path
from polyvisor.agent_vmware.driver_spawn import SERIAL_LOG
from polyvisor.agentkit.capabilities import ConsoleLog
from polyvisor.agentkit.driver import DriverError, InstanceNotFound, InstanceSpec
from polyvisor.agentkit.queries import last_lines
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint


@pytest.fixture
def driver(vcsim_endpoint: VcsimEndpoint, folder: str) -> Iterator[VmwareDriver]:
    d = VmwareDriver(
        options_for(vcsim_endpoint, folder=folder, image_cache_folder=f"cache-{folder}")
    )
    d.start(wait=30)
    try:
        yield d
    finally:
        for inst in d.list_instances():
            d.destroy(inst.server_id)
        d.close()


def test_a_spawned_vm_logs_its_serial_port_to_a_datastore_file_read_back_by_its_tail(
    driver: VmwareDriver, direct: Direct, vcsim: Vcsim, images: dict[str, Path]
) -> None:
    assert isinstance(driver, ConsoleLog)
    image = local_image(images["streamOptimized"], "img-console")
    inst = driver.spawn(InstanceSpec(str(uuid.uuid4()), "log-1", "log-1", 1, 256, 0, image=image))
    vm = direct.vm_by_tag(inst.server_id)
    assert vm is not None
    path = serial_log_path(vm.config.hardware.device)
    assert path.endswith(f"] {inst.server_id}/{SERIAL_LOG}"), path
    port = next(
        d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualSerialPort)
    )
    assert port.connectable.startConnected

    # Nothing written yet: an empty log, not an error.
    datastore = path[1 : path.index("]")]
    log_file = datastore_dir(vcsim.data_dir, datastore) / inst.server_id / SERIAL_LOG
    log_file.unlink(missing_ok=True)
    assert driver.console_output(inst.server_id, 4096) == b""

    # What the guest wrote (the file ESXi keeps for the port): the tail comes back.
    lines = [f"boot line {i}" for i in range(2000)]
    log_file.write_text("\n".join(lines) + "\n")
    tail = driver.console_output(inst.server_id, 1024)
    assert 0 < len(tail) <= 1024
    assert tail.decode().endswith("boot line 1998\nboot line 1999\n")
    assert last_lines(tail, 3) == "boot line 1997\nboot line 1998\nboot line 1999\n"
    whole = driver.console_output(inst.server_id, 1 << 20)
    assert whole.decode().splitlines() == lines

    with pytest.raises(InstanceNotFound):
        driver.console_output(str(uuid.uuid4()), 1024)


def test_a_vm_without_a_serial_log_says_so(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    image = local_image(images["streamOptimized"], "img-console-2")
    inst = driver.spawn(InstanceSpec(str(uuid.uuid4()), "log-2", "log-2", 1, 256, 0, image=image))
    vm = direct.vm_by_tag(inst.server_id)
    assert vm is not None
    port = next(
        d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualSerialPort)
    )
    task = vm.ReconfigVM_Task(
        vim.vm.ConfigSpec(
            deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="remove", device=port)]
        )
    )
    WaitForTask(task, si=direct.si)
    with pytest.raises(DriverError, match="no serial port log"):
        driver.console_output(inst.server_id, 1024)
