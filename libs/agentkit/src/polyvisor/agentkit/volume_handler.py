"""Attaching a volume to, or detaching it from, a server that exists (the ``volume_<kind>``
capabilities), and spawning a server whose root disk is a volume (``boot_volume``): the
command handler's part for the attach_volume and detach_volume verbs and such spawns."""

from __future__ import annotations

from polyvisor.agentkit.commands import Command, EventKind, Verb
from polyvisor.agentkit.driver import Driver, DriverError, GuestSpec, Instance, SpawnFailed
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.volume_capabilities import VOLUME_KINDS, VolumeBoot

__all__ = ["VOLUME_VERBS", "apply_volume", "spawn_from_volume"]

VOLUME_VERBS: dict[Verb, EventKind] = {
    Verb.ATTACH_VOLUME: EventKind.VOLUME_ATTACHED,
    Verb.DETACH_VOLUME: EventKind.VOLUME_DETACHED,
}


async def apply_volume(driver: Driver, calls: DriverCalls, host: str, cmd: Command) -> EventKind:
    """Attach or detach the command's volume; the event that answers it. A host whose driver
    cannot reach the volume's kind raises a DriverError naming it (answered COMMAND_FAILED)."""
    vol = cmd.volume
    if vol is None:
        raise DriverError(f"{cmd.verb.value} without a volume")
    proto = VOLUME_KINDS.get(vol.kind)
    if proto is None or not isinstance(driver, proto):
        raise DriverError(
            f"host {host} cannot attach {vol.kind} volumes: its hypervisor driver has no "
            f"volume_{vol.kind} capability"
        )
    verb = "attach" if cmd.verb == Verb.ATTACH_VOLUME else "detach"
    method = getattr(driver, f"{verb}_{vol.kind}_volume")
    await calls.run(cmd.verb.value, method, cmd.server_id, vol)
    return VOLUME_VERBS[cmd.verb]


async def spawn_from_volume(
    driver: Driver, calls: DriverCalls, host: str, cmd: Command
) -> Instance:
    """Spawn the command's server with its root volume as boot disk. A host whose driver cannot
    boot from volumes, or cannot reach the volume's kind, refuses with SpawnFailed naming the
    missing capability (answered SPAWN_FAILED: the server goes to another host or ERROR)."""
    req = cmd.spawn
    assert req is not None and req.root_volume is not None
    root = req.root_volume
    if not isinstance(driver, VolumeBoot):
        raise SpawnFailed(
            f"host {host} cannot boot servers from volumes: its hypervisor driver has no "
            "boot_volume capability"
        )
    proto = VOLUME_KINDS.get(root.kind)
    if proto is None or not isinstance(driver, proto):
        raise SpawnFailed(
            f"host {host} cannot boot from {root.kind} volumes: its hypervisor driver has no "
            f"volume_{root.kind} capability"
        )
    spec = GuestSpec(**req.guest(cmd.server_id))
    return await calls.run("spawn", driver.spawn_from_volume, spec, root)
