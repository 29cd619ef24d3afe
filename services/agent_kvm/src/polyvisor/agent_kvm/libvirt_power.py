"""Power verbs on libvirt: on, off (cleanly first when configured), reboot, and the optional
capabilities pause/unpause (libvirt suspend: vCPUs stop, memory stays) and suspend/resume
(libvirt managed save: memory to a file, the domain stops).
"""

from __future__ import annotations

import time

import libvirt

from polyvisor.agent_kvm.libvirt_errors import mapped_errors
from polyvisor.agent_kvm.libvirt_host import LibvirtHost
from polyvisor.agentkit.driver import (
    DriverError,
    Instance,
)

__all__ = ["PowerVerbs"]


class PowerVerbs(LibvirtHost):
    """Driver verbs power_on, power_off, reboot; capabilities pause and suspend."""

    def power_on(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            return self._ensure_running(server_id, self._get(server_id))

    def power_off(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"power off server {server_id}"):
                if dom.isActive():
                    if self.config.clean_shutdown_timeout_s > 0:
                        self._shutdown_cleanly(dom, self.config.clean_shutdown_timeout_s)
                    if dom.isActive():
                        dom.destroy()
            return self._instance(server_id, dom, console=False)

    @staticmethod
    def _shutdown_cleanly(dom: libvirt.virDomain, timeout_s: float) -> None:
        try:
            dom.shutdown()
        except libvirt.libvirtError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.25)
            try:
                if not dom.isActive():
                    return
            except libvirt.libvirtError:
                return

    def reboot(self, server_id: str, *, hard: bool) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"reboot server {server_id}"):
                if not dom.isActive():
                    dom.create()
                elif hard:
                    try:
                        dom.reset(0)
                    except libvirt.libvirtError as exc:
                        if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                            raise
                        dom.destroy()  # drivers without reset: power cycle
                        dom.create()
                else:
                    dom.reboot(0)
            return self._instance(server_id, dom, console=False)

    def pause(self, server_id: str) -> Instance:
        """libvirt suspend: the vCPUs stop, the memory stays where it is."""
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"pause server {server_id}"):
                state, _ = dom.state(0)
                if state != libvirt.VIR_DOMAIN_PAUSED:
                    if not dom.isActive():
                        raise DriverError(f"server {server_id} is not running: cannot pause it")
                    dom.suspend()
            return self._instance(server_id, dom, console=False)

    def unpause(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"unpause server {server_id}"):
                state, _ = dom.state(0)
                if state == libvirt.VIR_DOMAIN_PAUSED:
                    dom.resume()
                elif not dom.isActive():
                    raise DriverError(f"server {server_id} is not running: cannot unpause it")
            return self._instance(server_id, dom, console=False)

    def suspend(self, server_id: str) -> Instance:
        """libvirt managed save: the memory goes to a file libvirt keeps with the domain, the
        domain stops; starting it again restores the saved state."""
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"suspend server {server_id}"):
                if dom.isActive():
                    dom.managedSave(libvirt.VIR_DOMAIN_SAVE_RUNNING)
                elif not dom.hasManagedSaveImage(0):
                    raise DriverError(f"server {server_id} is shut off: cannot suspend it")
            return self._instance(server_id, dom, console=False)

    def resume(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"resume server {server_id}"):
                if not dom.isActive():
                    if not dom.hasManagedSaveImage(0):
                        raise DriverError(f"server {server_id} has no saved state to resume")
                    dom.create()  # restores the managed save image
            return self._instance(server_id, dom, console=False)
