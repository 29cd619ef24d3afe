from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ServerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_STATE_UNSPECIFIED: _ClassVar[ServerState]
    SERVER_STATE_BUILDING: _ClassVar[ServerState]
    SERVER_STATE_ACTIVE: _ClassVar[ServerState]
    SERVER_STATE_SHUTOFF: _ClassVar[ServerState]
    SERVER_STATE_REBOOTING: _ClassVar[ServerState]
    SERVER_STATE_DELETING: _ClassVar[ServerState]
    SERVER_STATE_ERROR: _ClassVar[ServerState]
    SERVER_STATE_DELETED: _ClassVar[ServerState]
    SERVER_STATE_SHELVED_OFFLOADED: _ClassVar[ServerState]
    SERVER_STATE_PAUSED: _ClassVar[ServerState]
    SERVER_STATE_SUSPENDED: _ClassVar[ServerState]
    SERVER_STATE_VERIFY_RESIZE: _ClassVar[ServerState]

class ServerTask(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_TASK_UNSPECIFIED: _ClassVar[ServerTask]
    SERVER_TASK_NONE: _ClassVar[ServerTask]
    SERVER_TASK_SCHEDULING: _ClassVar[ServerTask]
    SERVER_TASK_FETCHING_IMAGE: _ClassVar[ServerTask]
    SERVER_TASK_SPAWNING: _ClassVar[ServerTask]
    SERVER_TASK_POWERING_ON: _ClassVar[ServerTask]
    SERVER_TASK_POWERING_OFF: _ClassVar[ServerTask]
    SERVER_TASK_REBOOTING: _ClassVar[ServerTask]
    SERVER_TASK_REBOOTING_HARD: _ClassVar[ServerTask]
    SERVER_TASK_DELETING: _ClassVar[ServerTask]
    SERVER_TASK_IMAGE_SNAPSHOT: _ClassVar[ServerTask]
    SERVER_TASK_REBUILDING: _ClassVar[ServerTask]
    SERVER_TASK_SHELVING: _ClassVar[ServerTask]
    SERVER_TASK_UNSHELVING: _ClassVar[ServerTask]
    SERVER_TASK_PAUSING: _ClassVar[ServerTask]
    SERVER_TASK_UNPAUSING: _ClassVar[ServerTask]
    SERVER_TASK_SUSPENDING: _ClassVar[ServerTask]
    SERVER_TASK_RESUMING: _ClassVar[ServerTask]
    SERVER_TASK_RESIZE_PREP: _ClassVar[ServerTask]
    SERVER_TASK_RESIZE_MIGRATING: _ClassVar[ServerTask]
    SERVER_TASK_RESIZE_FINISH: _ClassVar[ServerTask]
    SERVER_TASK_RESIZE_CONFIRMING: _ClassVar[ServerTask]
    SERVER_TASK_RESIZE_REVERTING: _ClassVar[ServerTask]
    SERVER_TASK_ATTACHING_PORT: _ClassVar[ServerTask]
    SERVER_TASK_DETACHING_PORT: _ClassVar[ServerTask]
    SERVER_TASK_MIGRATING: _ClassVar[ServerTask]
    SERVER_TASK_ATTACHING_VOLUME: _ClassVar[ServerTask]
    SERVER_TASK_DETACHING_VOLUME: _ClassVar[ServerTask]
SERVER_STATE_UNSPECIFIED: ServerState
SERVER_STATE_BUILDING: ServerState
SERVER_STATE_ACTIVE: ServerState
SERVER_STATE_SHUTOFF: ServerState
SERVER_STATE_REBOOTING: ServerState
SERVER_STATE_DELETING: ServerState
SERVER_STATE_ERROR: ServerState
SERVER_STATE_DELETED: ServerState
SERVER_STATE_SHELVED_OFFLOADED: ServerState
SERVER_STATE_PAUSED: ServerState
SERVER_STATE_SUSPENDED: ServerState
SERVER_STATE_VERIFY_RESIZE: ServerState
SERVER_TASK_UNSPECIFIED: ServerTask
SERVER_TASK_NONE: ServerTask
SERVER_TASK_SCHEDULING: ServerTask
SERVER_TASK_FETCHING_IMAGE: ServerTask
SERVER_TASK_SPAWNING: ServerTask
SERVER_TASK_POWERING_ON: ServerTask
SERVER_TASK_POWERING_OFF: ServerTask
SERVER_TASK_REBOOTING: ServerTask
SERVER_TASK_REBOOTING_HARD: ServerTask
SERVER_TASK_DELETING: ServerTask
SERVER_TASK_IMAGE_SNAPSHOT: ServerTask
SERVER_TASK_REBUILDING: ServerTask
SERVER_TASK_SHELVING: ServerTask
SERVER_TASK_UNSHELVING: ServerTask
SERVER_TASK_PAUSING: ServerTask
SERVER_TASK_UNPAUSING: ServerTask
SERVER_TASK_SUSPENDING: ServerTask
SERVER_TASK_RESUMING: ServerTask
SERVER_TASK_RESIZE_PREP: ServerTask
SERVER_TASK_RESIZE_MIGRATING: ServerTask
SERVER_TASK_RESIZE_FINISH: ServerTask
SERVER_TASK_RESIZE_CONFIRMING: ServerTask
SERVER_TASK_RESIZE_REVERTING: ServerTask
SERVER_TASK_ATTACHING_PORT: ServerTask
SERVER_TASK_DETACHING_PORT: ServerTask
SERVER_TASK_MIGRATING: ServerTask
SERVER_TASK_ATTACHING_VOLUME: ServerTask
SERVER_TASK_DETACHING_VOLUME: ServerTask
