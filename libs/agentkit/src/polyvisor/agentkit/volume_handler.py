"""Attaching a volume to, or detaching it from, a server that exists (the ``volume_<kind>``
capabilities): the command handler's part for the attach_volume and detach_volume verbs."""

from __future__ import annotations

from polyvisor.agentkit.commands import Command, EventKind, Verb
from polyvisor.agentkit.driver import Driver, DriverError
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.volume_capabilities import VOLUME_KINDS

__all__ = ["VOLUME_VERBS", "apply_volume"]

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
