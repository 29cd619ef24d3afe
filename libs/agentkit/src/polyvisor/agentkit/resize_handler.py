"""The resize verbs of a command (``resize``, ``confirm_resize``, ``revert_resize``) applied to
the driver's ``resize`` capability (``resize_capabilities``); a move to another host needs its
``resize_move`` capability. A host without them fails the command naming what it lacks (the
command handler answers COMMAND_FAILED with a RESIZE_FAILED fault)."""

from __future__ import annotations

from typing import Final

from polyvisor.agentkit.commands import Command, EventKind, Verb
from polyvisor.agentkit.driver import Driver, DriverError, Instance
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.resize_capabilities import Resize, ResizeMove, Size

__all__ = ["RESIZE_VERBS", "apply_resize", "moves_away"]

RESIZE_VERBS: Final = frozenset({Verb.RESIZE, Verb.CONFIRM_RESIZE, Verb.REVERT_RESIZE})


def moves_away(cmd: Command, host: str) -> bool:
    """Whether the verb, once done, leaves the server on another host than ``host``."""
    req = cmd.resize
    return (
        cmd.verb in (Verb.RESIZE, Verb.REVERT_RESIZE)
        and req is not None
        and req.dest_host not in ("", host)
    )


async def apply_resize(
    driver: Driver, calls: DriverCalls, host: str, cmd: Command
) -> tuple[Instance, EventKind]:
    """Carry out one resize verb; (the server as it is then, the event that answers it)."""
    if not isinstance(driver, Resize):
        raise DriverError(
            f"host {host} cannot resize servers: its hypervisor driver has no resize capability"
        )
    if cmd.verb == Verb.CONFIRM_RESIZE:
        inst = await calls.run("confirm_resize", driver.confirm_resize, cmd.server_id)
        return inst, EventKind.RESIZE_CONFIRMED
    req = cmd.resize
    if req is None:
        raise DriverError(f"{cmd.verb.value} without a size")
    size = Size(req.vcpus, req.memory_mb, req.disk_gb)
    answer = EventKind.RESIZED if cmd.verb == Verb.RESIZE else EventKind.RESIZE_REVERTED
    if req.dest_host and req.dest_host != host:
        if not isinstance(driver, ResizeMove):
            raise DriverError(
                f"host {host} cannot move servers to another host ({req.dest_host}): its "
                "hypervisor driver has no resize_move capability"
            )
        move = driver.resize_to if cmd.verb == Verb.RESIZE else driver.revert_resize_to
        dest = req.dest_host
        inst = await calls.run(cmd.verb.value, lambda: move(cmd.server_id, size, dest))
        return inst, answer
    verb = driver.resize if cmd.verb == Verb.RESIZE else driver.revert_resize
    return await calls.run(cmd.verb.value, verb, cmd.server_id, size), answer
