"""An in-memory Driver for testing the runtime: same contract, no hypervisor.

    driver = FakeDriver(host="fake-1")
    driver.fail_next("spawn", SpawnFailed("no room"))     # the next spawn raises that
    driver.block("spawn")                                   # spawns wait until release()
    driver.set_power("srv-1", PowerState.SHUTDOWN)         # a VM stopped behind our back
    driver.vanish("srv-1")                                  # a VM deleted behind our back
    driver.spawn_reports_power_off()                        # spawns pass through "off", seen
    driver.hold_changes(); ...; driver.deliver_held()       # a watch answer that comes late

It keeps the verbs' idempotency rules (spawn ensures, destroy of a missing VM succeeds,
power on a running VM succeeds) and records every call in ``calls`` so tests can check the
order in which the runtime applied commands. Changes made with ``set_power``/``vanish`` are
reported through ``watch`` like a real hypervisor's events. With ``spawn_reports_power_off``
a spawn creates the VM powered off and reports that before it powers it on, as vCenter's
watch does between CreateVM and PowerOn (the power-on is the spawn's answer). ``hold_changes`` keeps every change (stamped with
the moment it was observed) until ``deliver_held``, like a watch answer that arrives or is
handled after the fact. Thread-safe: the runtime calls it from its executor threads.

One concern: one in-memory hypervisor, its Driver verbs and the controls tests drive it with.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.driver import (
    Console,
    DriverError,
    Features,
    HostInfo,
    Instance,
    InstanceChange,
    InstanceNotFound,
    InstanceSpec,
    Inventory,
    PowerState,
    RenditionWanted,
    SpawnFailed,
    SupportedInstance,
    Unsubscribe,
)

__all__ = ["FakeDriver", "FakeVm"]


@dataclass(slots=True)
class FakeVm:
    server_id: str
    name: str
    power_state: PowerState
    vcpus: int
    memory_mb: int
    disk_gb: int
    image_path: str
    console_port: int
    console_password: tuple[str, float] | None = None
    boots: int = 1
    user_data: bytes = b""
    public_keys: tuple[str, ...] = ()
    # What the guest's metadata service would say (GuestMetadata).
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Gate:
    event: threading.Event = field(default_factory=threading.Event)
    waiting: int = 0


class FakeDriver:
    """Implements ``polyvisor.agentkit.driver.Driver`` in memory."""

    def __init__(
        self,
        host: str = "fake-host",
        *,
        vcpus: int = 16,
        memory_mb: int = 65536,
        disk_gb: int = 1000,
        disk_format: str = "qcow2",
        hypervisor_type: str = "qemu",
        vnc_port_range: tuple[int, int] = (5900, 6000),
    ) -> None:
        self.host = host
        self.total = (vcpus, memory_mb, disk_gb)
        self.disk_format = disk_format
        self.hypervisor_type = hypervisor_type
        self.vnc_port_range = vnc_port_range
        self.vms: dict[str, FakeVm] = {}
        self.calls: list[tuple[str, str]] = []
        self.connected = True
        self._lock = threading.RLock()
        self._failures: dict[str, list[BaseException]] = defaultdict(list)
        self._gates: dict[str, _Gate] = {}
        self._watchers: list[Callable[[InstanceChange], None]] = []
        self._spawn_reports_off = False
        self._held: list[InstanceChange] | None = None
        self._closed = False

    # ------------------------------------------------------------------ test controls

    def fail_next(self, verb: str, error: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``verb`` raise ``error`` (after recording the call)."""
        with self._lock:
            self._failures[verb].extend([error] * times)

    def block(self, verb: str) -> None:
        """Calls of ``verb`` wait until ``release(verb)``."""
        with self._lock:
            self._gates[verb] = _Gate()

    def release(self, verb: str) -> None:
        with self._lock:
            gate = self._gates.pop(verb, None)
        if gate is not None:
            gate.event.set()

    def waiting(self, verb: str) -> int:
        """How many calls of ``verb`` are waiting at a ``block``."""
        with self._lock:
            gate = self._gates.get(verb)
            return gate.waiting if gate else 0

    def set_power(self, server_id: str, state: PowerState) -> None:
        """Change a VM's power state behind the runtime's back (reported through watch)."""
        with self._lock:
            vm = self.vms[server_id]
            vm.power_state = state
        self._emit(InstanceChange(server_id=server_id, power_state=state))

    def vanish(self, server_id: str) -> None:
        """Delete a VM behind the runtime's back (reported through watch)."""
        with self._lock:
            self.vms.pop(server_id, None)
        self._emit(InstanceChange(server_id, PowerState.NOSTATE, vanished=True))

    def spawn_reports_power_off(self, on: bool = True) -> None:
        """New VMs are made powered off and reported so through watch, then powered on (which
        the spawn's own answer reports, as a driver that deduplicates its watch does)."""
        with self._lock:
            self._spawn_reports_off = on

    def hold_changes(self) -> None:
        """Keep the changes to report (each stamped ``observed_at`` now) until deliver_held."""
        with self._lock:
            if self._held is None:
                self._held = []

    def deliver_held(self) -> int:
        """Report the held changes, in order, and stop holding; returns how many."""
        with self._lock:
            held, self._held = self._held or [], None
        self._deliver(held)
        return len(held)

    def add_foreign(self, server_id: str, state: PowerState = PowerState.RUNNING) -> None:
        """A VM tagged as ours that the runtime never created (an orphan)."""
        with self._lock:
            self.vms[server_id] = FakeVm(
                server_id, f"polyvisor-{server_id}", state, 1, 512, 1, "", self._free_port()
            )

    def calls_for(self, server_id: str) -> list[str]:
        with self._lock:
            return [verb for verb, sid in self.calls if sid == server_id]

    # ------------------------------------------------------------------ Driver

    def host_info(self) -> HostInfo:
        self._enter("host_info", "")
        with self._lock:
            used_cpu = sum(vm.vcpus for vm in self.vms.values())
            used_mem = sum(vm.memory_mb for vm in self.vms.values())
            used_disk = sum(vm.disk_gb for vm in self.vms.values())
            vcpus, mem, disk = self.total
            return HostInfo(
                hypervisor_type=self.hypervisor_type,
                hypervisor_version="1.0.0",
                hostname=self.host,
                connected=self.connected,
                vcpus=Inventory(vcpus, allocation_ratio=16.0),
                memory_mb=Inventory(mem, reserved=512, allocation_ratio=1.5),
                disk_gb=Inventory(disk),
                supported_instances=(
                    SupportedInstance("x86_64", self.hypervisor_type, "hvm"),
                    SupportedInstance("i686", self.hypervisor_type, "hvm"),
                ),
                disk_formats=(RenditionWanted(self.disk_format),),
                features=Features(),
                vnc_port_range=self.vnc_port_range,
                used_vcpus=used_cpu,
                used_memory_mb=used_mem,
                used_disk_gb=used_disk,
                capabilities=capabilities_of(self),
            )

    def list_instances(self) -> list[Instance]:
        self._enter("list_instances", "")
        with self._lock:
            return [self._instance(vm) for vm in self.vms.values()]

    def spawn(self, spec: InstanceSpec) -> Instance:
        self._enter("spawn", spec.server_id)
        if spec.image.rendition.disk_format != self.disk_format:
            raise SpawnFailed(
                f"this host boots {self.disk_format} renditions, got "
                f"{spec.image.rendition.disk_format}"
            )
        with self._lock:
            passes_off = self._spawn_reports_off and spec.server_id not in self.vms
            if passes_off:
                self._create(spec, PowerState.SHUTDOWN)
        if passes_off:  # what a watch sees between CreateVM and PowerOn
            self._emit(InstanceChange(spec.server_id, PowerState.SHUTDOWN))
            with self._lock:
                vm = self._vm(spec.server_id)
                if not spec.powered_off:
                    vm.power_state = PowerState.RUNNING  # its first boot
                return self._instance(vm)
        with self._lock:
            found = self.vms.get(spec.server_id)
            if found is None:
                off = spec.powered_off
                vm = self._create(spec, PowerState.SHUTDOWN if off else PowerState.RUNNING)
            else:
                vm = found
                if vm.power_state != PowerState.RUNNING and not spec.powered_off:
                    vm.power_state = PowerState.RUNNING
                    vm.boots += 1
            return self._instance(vm)

    def _create(self, spec: InstanceSpec, power: PowerState) -> FakeVm:
        with self._lock:
            vm = FakeVm(
                server_id=spec.server_id,
                name=f"polyvisor-{spec.server_id}",
                power_state=power,
                vcpus=spec.vcpus,
                memory_mb=spec.memory_mb,
                disk_gb=spec.disk_gb,
                image_path=str(spec.image.path),
                console_port=self._free_port(),
                boots=0 if spec.powered_off else 1,  # made off: never started
                user_data=spec.user_data,
                public_keys=tuple(spec.ssh_public_keys),
                metadata=dict(spec.metadata),
            )
            self.vms[spec.server_id] = vm
            return vm

    def destroy(self, server_id: str) -> None:
        self._enter("destroy", server_id)
        with self._lock:
            self.vms.pop(server_id, None)

    def power_on(self, server_id: str) -> Instance:
        self._enter("power_on", server_id)
        with self._lock:
            vm = self._vm(server_id)
            if vm.power_state != PowerState.RUNNING:
                vm.power_state = PowerState.RUNNING
                vm.boots += 1
            return self._instance(vm)

    def power_off(self, server_id: str) -> Instance:
        self._enter("power_off", server_id)
        with self._lock:
            vm = self._vm(server_id)
            vm.power_state = PowerState.SHUTDOWN
            return self._instance(vm)

    def reboot(self, server_id: str, *, hard: bool) -> Instance:
        self._enter("reboot_hard" if hard else "reboot", server_id)
        with self._lock:
            vm = self._vm(server_id)
            vm.power_state = PowerState.RUNNING
            vm.boots += 1
            return self._instance(vm)

    # The optional verbs (capabilities): pause and suspend, like a KVM host.

    def _set(self, verb: str, server_id: str, to: PowerState, *, needs: PowerState) -> Instance:
        self._enter(verb, server_id)
        with self._lock:
            vm = self._vm(server_id)
            if vm.power_state not in (to, needs):
                raise DriverError(f"cannot {verb} a server that is {vm.power_state.lower()}")
            vm.power_state = to
            return self._instance(vm)

    def set_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        self._enter("set_metadata", server_id)
        with self._lock:
            self._vm(server_id).metadata = dict(metadata)

    def pause(self, server_id: str) -> Instance:
        return self._set("pause", server_id, PowerState.PAUSED, needs=PowerState.RUNNING)

    def unpause(self, server_id: str) -> Instance:
        return self._set("unpause", server_id, PowerState.RUNNING, needs=PowerState.PAUSED)

    def suspend(self, server_id: str) -> Instance:
        return self._set("suspend", server_id, PowerState.SUSPENDED, needs=PowerState.RUNNING)

    def resume(self, server_id: str) -> Instance:
        return self._set("resume", server_id, PowerState.RUNNING, needs=PowerState.SUSPENDED)

    def console(self, server_id: str) -> Console:
        self._enter("console", server_id)
        with self._lock:
            vm = self._vm(server_id)
            return Console("vnc", "127.0.0.1", vm.console_port)

    def set_console_password(self, server_id: str, password: str, valid_for_s: float) -> None:
        self._enter("set_console_password", server_id)
        with self._lock:
            vm = self._vm(server_id)
            vm.console_password = (password, time.time() + valid_for_s)

    def watch(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        with self._lock:
            self._watchers.append(emit)

        def stop() -> None:
            with self._lock:
                if emit in self._watchers:
                    self._watchers.remove(emit)

        return stop

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._watchers.clear()
            gates = list(self._gates.values())
            self._gates.clear()
        for gate in gates:
            gate.event.set()

    # ------------------------------------------------------------------ internals

    def _enter(self, verb: str, server_id: str) -> None:
        with self._lock:
            if self._closed:
                raise DriverError("driver closed")
            self.calls.append((verb, server_id))
            gate = self._gates.get(verb)
            if gate is not None:
                gate.waiting += 1
        if gate is not None:
            gate.event.wait()
            with self._lock:
                gate.waiting -= 1
        with self._lock:
            failures = self._failures.get(verb)
            error = failures.pop(0) if failures else None
        if error is not None:
            raise error

    def _vm(self, server_id: str) -> FakeVm:
        vm = self.vms.get(server_id)
        if vm is None:
            raise InstanceNotFound(f"no instance for server {server_id}")
        return vm

    def _instance(self, vm: FakeVm) -> Instance:
        return Instance(
            server_id=vm.server_id,
            power_state=vm.power_state,
            name=vm.name,
            console=Console("vnc", "127.0.0.1", vm.console_port),
        )

    def _free_port(self) -> int:
        used = {vm.console_port for vm in self.vms.values()}
        lo, hi = self.vnc_port_range
        for port in range(lo, hi + 1):
            if port not in used:
                return port
        raise DriverError("no free VNC port")

    def _emit(self, change: InstanceChange) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(replace(change, observed_at=time.monotonic()))
                return
        self._deliver([change])

    def _deliver(self, changes: list[InstanceChange]) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for change in changes:
            for emit in watchers:
                emit(change)

    def snapshot(self, server_id: str) -> FakeVm | None:
        with self._lock:
            vm = self.vms.get(server_id)
            return replace(vm) if vm else None
