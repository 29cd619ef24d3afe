import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import server_group_pb2 as _server_group_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServerGroup(_message.Message):
    __slots__ = ("id", "name", "policy", "members", "project_id", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    policy: _server_group_pb2.ServerGroupPolicy
    members: _containers.RepeatedScalarFieldContainer[str]
    project_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., policy: _Optional[_Union[_server_group_pb2.ServerGroupPolicy, str]] = ..., members: _Optional[_Iterable[str]] = ..., project_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateServerGroupRequest(_message.Message):
    __slots__ = ("request_id", "server_group")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_GROUP_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    server_group: ServerGroup
    def __init__(self, request_id: _Optional[str] = ..., server_group: _Optional[_Union[ServerGroup, _Mapping]] = ...) -> None: ...

class CreateServerGroupResponse(_message.Message):
    __slots__ = ("server_group",)
    SERVER_GROUP_FIELD_NUMBER: _ClassVar[int]
    server_group: ServerGroup
    def __init__(self, server_group: _Optional[_Union[ServerGroup, _Mapping]] = ...) -> None: ...

class GetServerGroupRequest(_message.Message):
    __slots__ = ("server_group_id",)
    SERVER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    server_group_id: str
    def __init__(self, server_group_id: _Optional[str] = ...) -> None: ...

class GetServerGroupResponse(_message.Message):
    __slots__ = ("server_group",)
    SERVER_GROUP_FIELD_NUMBER: _ClassVar[int]
    server_group: ServerGroup
    def __init__(self, server_group: _Optional[_Union[ServerGroup, _Mapping]] = ...) -> None: ...

class ListServerGroupsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "all_projects")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    all_projects: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., all_projects: _Optional[bool] = ...) -> None: ...

class ListServerGroupsResponse(_message.Message):
    __slots__ = ("server_groups", "next_page_token")
    SERVER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    server_groups: _containers.RepeatedCompositeFieldContainer[ServerGroup]
    next_page_token: str
    def __init__(self, server_groups: _Optional[_Iterable[_Union[ServerGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteServerGroupRequest(_message.Message):
    __slots__ = ("server_group_id",)
    SERVER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    server_group_id: str
    def __init__(self, server_group_id: _Optional[str] = ...) -> None: ...

class DeleteServerGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
