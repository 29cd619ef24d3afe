"""The server state machine, as pure functions: every decision about a server's state.

From the server as it is (read under its row lock) and what happened, it decides an
`Outcome`: one typed `Change` to the row, typed outbox work (a command for the host, a
(re)scheduling, a claim to give back) and the quota to give back. The store applies it in one
transaction (`outcomes.apply`); nothing here touches the database, the bus or the clock.

What can happen, one module each:
- `actions`: a user action (start, stop, reboot, delete): the transition table;
- `events`: an agent's event (spawned, powered off, vanished, ...);
- `deadlines`: a transitional state outlived its deadline;
- `scheduling`: the scheduler placed the build, or found no host.
`model` holds the vocabulary (Change, Outcome, AgentEvent, Deadlines), `commands` the typed
agent commands, `work` the typed outbox entries. docs/how-to-add-an-action.md walks through
adding an action.
"""

from polyvisor.api.lifecycle import resize, work
from polyvisor.api.lifecycle.actions import ACTIONS, Action, Transition, plan
from polyvisor.api.lifecycle.commands import (
    COMMANDS,
    AbortMigration,
    AgentCommand,
    AttachPort,
    AttachVolume,
    ConfirmResize,
    Destroy,
    DetachPort,
    DetachVolume,
    LiveMigrate,
    OpenConsole,
    Pause,
    PowerOff,
    PowerOn,
    Reboot,
    Rebuild,
    Resize,
    Resume,
    RevertResize,
    Snapshot,
    Spawn,
    Suspend,
    Unpause,
    Verb,
)
from polyvisor.api.lifecycle.deadlines import plan_timeout
from polyvisor.api.lifecycle.events import OBSERVATIONS, apply_event, supersedes
from polyvisor.api.lifecycle.interfaces import addresses_arg
from polyvisor.api.lifecycle.model import (
    UNSET,
    AgentEvent,
    Change,
    Deadlines,
    EventKind,
    Outcome,
    frees_ports,
)
from polyvisor.api.lifecycle.reset import reset_state
from polyvisor.api.lifecycle.scheduling import (
    alternates_left,
    awaits_scheduling,
    on_placement,
    placement_request,
)
from polyvisor.api.lifecycle.work import *  # noqa: F403
from polyvisor.api.models import Power, State, Task

__all__ = [
    "ACTIONS",
    "COMMANDS",
    "OBSERVATIONS",
    "UNSET",
    "AbortMigration",
    "Action",
    "AgentCommand",
    "AgentEvent",
    "AttachPort",
    "AttachVolume",
    "Change",
    "ConfirmResize",
    "Deadlines",
    "Destroy",
    "DetachPort",
    "DetachVolume",
    "EventKind",
    "LiveMigrate",
    "OpenConsole",
    "Outcome",
    "Pause",
    "Power",
    "PowerOff",
    "PowerOn",
    "Reboot",
    "Rebuild",
    "Resize",
    "Resume",
    "RevertResize",
    "Snapshot",
    "Spawn",
    "State",
    "Suspend",
    "Task",
    "Transition",
    "Unpause",
    "Verb",
    "addresses_arg",
    "alternates_left",
    "apply_event",
    "awaits_scheduling",
    "frees_ports",
    "on_placement",
    "placement_request",
    "plan",
    "plan_timeout",
    "reset_state",
    "resize",
    "supersedes",
]

# The outbox entries (`work`) are re-exported whole, by the star import above.
__all__ += work.__all__
