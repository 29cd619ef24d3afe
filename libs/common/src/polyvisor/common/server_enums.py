"""The server vocabulary the api and the agents share: which command an agent is sent
(`Verb`), what an agent's event says (`EventKind`) and which step is in flight on a server
(`Task`).

Their values are the names of the contract enums without their prefix ("SPAWNED", "SPAWNING"):
that is how the api stores them and how each side's ``convert`` maps them to the wire.
"""

from __future__ import annotations

import enum

__all__ = ["EventKind", "Task", "Verb"]


class Verb(enum.StrEnum):
    """A command to an agent (the field name of polyvisor.agent.v1.AgentCommand's oneof): the
    api's outbox tag and part of a command's de-duplication id.

    The api sends every verb but REFRESH_CONSOLE, which an operator's tool sends to make an
    agent read a console log now instead of at its next poll."""

    SPAWN = "spawn"
    DESTROY = "destroy"
    POWER_ON = "power_on"
    POWER_OFF = "power_off"
    REBOOT = "reboot"
    REFRESH_CONSOLE = "refresh_console"
    SNAPSHOT = "snapshot"
    REBUILD = "rebuild"
    OPEN_CONSOLE = "open_console"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    SUSPEND = "suspend"
    RESUME = "resume"
    RESIZE = "resize"
    CONFIRM_RESIZE = "confirm_resize"
    REVERT_RESIZE = "revert_resize"
    ATTACH_PORT = "attach_port"
    DETACH_PORT = "detach_port"
    LIVE_MIGRATE = "live_migrate"
    ABORT_MIGRATION = "abort_migration"
    ATTACH_VOLUME = "attach_volume"
    DETACH_VOLUME = "detach_volume"


class EventKind(enum.StrEnum):
    """What an agent's event says (polyvisor.events.v1.ServerEventKind without its prefix).

    UNSPECIFIED stands for a kind the reader does not know (a newer agent's): the api ignores
    it; an agent never sends it."""

    UNSPECIFIED = ""
    PROGRESS = "PROGRESS"
    SPAWNED = "SPAWNED"
    SPAWN_FAILED = "SPAWN_FAILED"
    POWERED_ON = "POWERED_ON"
    POWERED_OFF = "POWERED_OFF"
    REBOOTED = "REBOOTED"
    DESTROYED = "DESTROYED"
    POWER_STATE_CHANGED = "POWER_STATE_CHANGED"
    VANISHED = "VANISHED"
    CONSOLE_UPDATED = "CONSOLE_UPDATED"
    COMMAND_FAILED = "COMMAND_FAILED"
    MIGRATED = "MIGRATED"
    ADDRESSES_CHANGED = "ADDRESSES_CHANGED"
    UNWANTED = "UNWANTED"
    SNAPSHOTTED = "SNAPSHOTTED"
    REBUILT = "REBUILT"
    PAUSED = "PAUSED"
    UNPAUSED = "UNPAUSED"
    SUSPENDED = "SUSPENDED"
    RESUMED = "RESUMED"
    RESIZED = "RESIZED"
    RESIZE_CONFIRMED = "RESIZE_CONFIRMED"
    RESIZE_REVERTED = "RESIZE_REVERTED"
    PORT_ATTACHED = "PORT_ATTACHED"
    PORT_DETACHED = "PORT_DETACHED"
    VOLUME_ATTACHED = "VOLUME_ATTACHED"
    VOLUME_DETACHED = "VOLUME_DETACHED"


class Task(enum.StrEnum):
    """What is in flight on a server (polyvisor.types.v1.ServerTask without its prefix); NONE:
    nothing. An agent reports only the steps it runs (never SCHEDULING or the RESIZE_ ones)."""

    NONE = "NONE"
    SCHEDULING = "SCHEDULING"
    FETCHING_IMAGE = "FETCHING_IMAGE"
    SPAWNING = "SPAWNING"
    POWERING_ON = "POWERING_ON"
    POWERING_OFF = "POWERING_OFF"
    REBOOTING = "REBOOTING"
    REBOOTING_HARD = "REBOOTING_HARD"
    DELETING = "DELETING"
    IMAGE_SNAPSHOT = "IMAGE_SNAPSHOT"
    REBUILDING = "REBUILDING"
    SHELVING = "SHELVING"
    UNSHELVING = "UNSHELVING"
    PAUSING = "PAUSING"
    UNPAUSING = "UNPAUSING"
    SUSPENDING = "SUSPENDING"
    RESUMING = "RESUMING"
    RESIZE_PREP = "RESIZE_PREP"
    RESIZE_MIGRATING = "RESIZE_MIGRATING"
    RESIZE_FINISH = "RESIZE_FINISH"
    RESIZE_CONFIRMING = "RESIZE_CONFIRMING"
    RESIZE_REVERTING = "RESIZE_REVERTING"
    ATTACHING_PORT = "ATTACHING_PORT"
    DETACHING_PORT = "DETACHING_PORT"
    MIGRATING = "MIGRATING"
    ATTACHING_VOLUME = "ATTACHING_VOLUME"
    DETACHING_VOLUME = "DETACHING_VOLUME"
