from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from polyvisor.types.v1 import server_status_pb2 as _server_status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AssignedServer(_message.Message):
    __slots__ = ("server_id", "generation", "desired_power_state", "state", "task", "instance_name", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    DESIRED_POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    generation: int
    desired_power_state: _hypervisor_pb2.PowerState
    state: _server_status_pb2.ServerState
    task: _server_status_pb2.ServerTask
    instance_name: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, server_id: _Optional[str] = ..., generation: _Optional[int] = ..., desired_power_state: _Optional[_Union[_hypervisor_pb2.PowerState, str]] = ..., state: _Optional[_Union[_server_status_pb2.ServerState, str]] = ..., task: _Optional[_Union[_server_status_pb2.ServerTask, str]] = ..., instance_name: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListAssignedServersRequest(_message.Message):
    __slots__ = ("host", "page_size", "page_token")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    host: str
    page_size: int
    page_token: str
    def __init__(self, host: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAssignedServersResponse(_message.Message):
    __slots__ = ("servers", "next_page_token")
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[AssignedServer]
    next_page_token: str
    def __init__(self, servers: _Optional[_Iterable[_Union[AssignedServer, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListEvacuatedServersRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class ListEvacuatedServersResponse(_message.Message):
    __slots__ = ("server_ids",)
    SERVER_IDS_FIELD_NUMBER: _ClassVar[int]
    server_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, server_ids: _Optional[_Iterable[str]] = ...) -> None: ...
