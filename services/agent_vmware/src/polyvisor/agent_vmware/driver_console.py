"""The serial console log of a VM: a serial port backed by a file on the VM's datastore,
added at spawn (`specs.serial_log_device`), read back over vCenter's /folder HTTP endpoint
(the last bytes only: a suffix Range request, or the tail of the stream where the server
ignores ranges). A VM spawned before it had one (or without it) says so."""

from __future__ import annotations

from pyVmomi import vim

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.driver_registry import Registry
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agentkit.driver import DriverError

__all__ = ["ConsoleLogging", "serial_log_path"]


def serial_log_path(devices: object) -> str:
    """The datastore path ("[ds] dir/file") of the first file-backed serial port, or ""."""
    for device in devices or ():  # type: ignore[attr-defined]
        if isinstance(device, vim.vm.device.VirtualSerialPort):
            backing = device.backing
            if isinstance(backing, vim.vm.device.VirtualSerialPort.FileBackingInfo):
                return str(backing.fileName or "")
    return ""


class ConsoleLogging(Registry):
    def console_output(self, server_id: str, max_bytes: int) -> bytes:
        """The last `max_bytes` the guest wrote to its serial port (b"" before any)."""
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            props = retrieve_one(conn.content, vm, ["config.hardware.device"]) or {}
            path = serial_log_path(props.get("config.hardware.device"))
            if not path:
                raise DriverError(
                    f"server {server_id} has no serial port log (spawned without one)"
                )
            datastore, relative = specs.split_datastore_path(path)
            data = self._http(conn).tail(place.datacenter_path, datastore, relative, max_bytes)
        return data or b""
