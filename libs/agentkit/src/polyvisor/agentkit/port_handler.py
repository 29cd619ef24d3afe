"""Plugging a port into, or out of, a server that exists (the `ports` capability): the
command handler's part for the attach_port and detach_port verbs."""

from __future__ import annotations

from polyvisor.agentkit.capabilities import Ports
from polyvisor.agentkit.commands import Command, EventKind, Verb
from polyvisor.agentkit.driver import Driver, DriverError
from polyvisor.agentkit.executor import DriverCalls

__all__ = ["PORT_VERBS", "apply_port"]

PORT_VERBS: dict[Verb, EventKind] = {
    Verb.ATTACH_PORT: EventKind.PORT_ATTACHED,
    Verb.DETACH_PORT: EventKind.PORT_DETACHED,
}


async def apply_port(driver: Driver, calls: DriverCalls, host: str, cmd: Command) -> EventKind:
    """Plug or unplug the command's port; the event that answers it. A host whose driver
    lacks the capability raises a DriverError naming it (answered COMMAND_FAILED)."""
    if not isinstance(driver, Ports):
        raise DriverError(
            f"host {host} cannot {cmd.verb.value.replace('_', ' ')}s: its hypervisor driver "
            "has no ports capability"
        )
    verb = driver.attach_port if cmd.verb == Verb.ATTACH_PORT else driver.detach_port
    await calls.run(cmd.verb.value, verb, cmd.server_id, cmd.port_id)
    return PORT_VERBS[cmd.verb]
