import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import fault_pb2 as _fault_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServerActionResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_ACTION_RESULT_UNSPECIFIED: _ClassVar[ServerActionResult]
    SERVER_ACTION_RESULT_IN_PROGRESS: _ClassVar[ServerActionResult]
    SERVER_ACTION_RESULT_SUCCESS: _ClassVar[ServerActionResult]
    SERVER_ACTION_RESULT_ERROR: _ClassVar[ServerActionResult]
SERVER_ACTION_RESULT_UNSPECIFIED: ServerActionResult
SERVER_ACTION_RESULT_IN_PROGRESS: ServerActionResult
SERVER_ACTION_RESULT_SUCCESS: ServerActionResult
SERVER_ACTION_RESULT_ERROR: ServerActionResult

class ServerAction(_message.Message):
    __slots__ = ("request_id", "server_id", "action", "user_id", "project_id", "start_time", "finish_time", "result", "fault")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    server_id: str
    action: str
    user_id: str
    project_id: str
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    result: ServerActionResult
    fault: _fault_pb2.Fault
    def __init__(self, request_id: _Optional[str] = ..., server_id: _Optional[str] = ..., action: _Optional[str] = ..., user_id: _Optional[str] = ..., project_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., result: _Optional[_Union[ServerActionResult, str]] = ..., fault: _Optional[_Union[_fault_pb2.Fault, _Mapping]] = ...) -> None: ...

class ListServerActionsRequest(_message.Message):
    __slots__ = ("server_id", "page_size", "page_token")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    page_size: int
    page_token: str
    def __init__(self, server_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListServerActionsResponse(_message.Message):
    __slots__ = ("actions", "next_page_token")
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[ServerAction]
    next_page_token: str
    def __init__(self, actions: _Optional[_Iterable[_Union[ServerAction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetServerActionRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetServerActionResponse(_message.Message):
    __slots__ = ("action",)
    ACTION_FIELD_NUMBER: _ClassVar[int]
    action: ServerAction
    def __init__(self, action: _Optional[_Union[ServerAction, _Mapping]] = ...) -> None: ...
