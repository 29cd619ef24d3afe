"""What the reconciler should do: the api's view of a host against the hypervisor's. Pure.

    actions = plan_reconcile(assigned, observed, busy)

- Assigned and observed, nothing in flight: the api's desired power state wins (a VM that
  should run but is shut off is started; one that should be off but runs is stopped).
- Assigned, settled (not building or deleting) and not observed: the VM vanished. A
  PAUSED, SUSPENDED or VERIFY_RESIZE server is settled too (held there on purpose): it may
  vanish, but its power state is never "corrected" (resume, unpause, confirming or reverting
  a resize are the user's to ask).
- Observed (tagged as ours) and not assigned: unwanted. Flagged; deleted only when the
  operator asks for it, and only when it was already unwanted on the previous pass (a VM
  created between the two listings is never mistaken for an orphan).
- Observed and not assigned, and the api says the server was evacuated from this host (it was
  rebuilt elsewhere while this host was down): a stale copy, destroyed at once, so that the
  server never runs twice.

Servers with a command queued or running on this agent (``busy``) are left alone: that
command decides.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from polyvisor.agentkit.driver import Instance, PowerState

__all__ = ["Action", "ActionKind", "Assigned", "plan_reconcile"]

# polyvisor.types.v1.ServerState names without their prefix.
_SETTLED_STATES = frozenset(
    {"ACTIVE", "SHUTOFF", "REBOOTING", "PAUSED", "SUSPENDED", "VERIFY_RESIZE"}
)
# Settled states whose power state is held as it is (no power action from the reconciler; a
# resize waiting for confirmation runs or not as its resize left it).
_HELD_STATES = frozenset({"PAUSED", "SUSPENDED", "VERIFY_RESIZE"})
_IDLE_TASKS = frozenset({"", "NONE", "UNSPECIFIED"})
_OFF = frozenset({PowerState.SHUTDOWN, PowerState.CRASHED})


@dataclass(frozen=True, slots=True)
class Assigned:
    """A server the api has placed on this host (AgentCallbackService.ListAssignedServers)."""

    server_id: str
    generation: int
    desired_power_state: PowerState | None  # None: the api does not say
    state: str  # ServerState without prefix: BUILDING, ACTIVE, SHUTOFF, ...
    task: str = "NONE"  # ServerTask without prefix
    instance_name: str = ""
    # The server's metadata as the api has it now (what its guest's metadata service says).
    metadata: Mapping[str, str] = field(default_factory=dict, compare=False)


class ActionKind(enum.StrEnum):
    POWER_ON = "power_on"
    POWER_OFF = "power_off"
    VANISHED = "vanished"
    UNWANTED = "unwanted"
    EVACUATED = "evacuated"


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    server_id: str
    generation: int = 0
    observed: PowerState | None = None
    instance_name: str = ""


def plan_reconcile(
    assigned: Iterable[Assigned],
    observed: Iterable[Instance],
    busy: Iterable[str] = (),
    evacuated: Iterable[str] = (),
) -> list[Action]:
    wanted = {a.server_id: a for a in assigned}
    seen = {i.server_id: i for i in observed}
    skip = set(busy)
    actions: list[Action] = []
    for sid, a in sorted(wanted.items()):
        if sid in skip or a.task not in _IDLE_TASKS or a.state not in _SETTLED_STATES:
            continue
        inst = seen.get(sid)
        if inst is None:
            actions.append(Action(ActionKind.VANISHED, sid, a.generation, None, a.instance_name))
            continue
        if a.state in _HELD_STATES:
            continue
        if a.desired_power_state == PowerState.RUNNING and inst.power_state in _OFF:
            actions.append(
                Action(ActionKind.POWER_ON, sid, a.generation, inst.power_state, inst.name)
            )
        elif (
            a.desired_power_state == PowerState.SHUTDOWN and inst.power_state == PowerState.RUNNING
        ):
            actions.append(
                Action(ActionKind.POWER_OFF, sid, a.generation, inst.power_state, inst.name)
            )
    stale = set(evacuated)
    for sid, inst in sorted(seen.items()):
        if sid not in wanted and sid not in skip:
            kind = ActionKind.EVACUATED if sid in stale else ActionKind.UNWANTED
            actions.append(Action(kind, sid, 0, inst.power_state, inst.name))
    return actions
