import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RedeemConsoleTokenRequest(_message.Message):
    __slots__ = ("token", "server_id", "user_token")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    server_id: str
    user_token: str
    def __init__(self, token: _Optional[str] = ..., server_id: _Optional[str] = ..., user_token: _Optional[str] = ...) -> None: ...

class RedeemConsoleTokenResponse(_message.Message):
    __slots__ = ("server_id", "user_id", "project_id", "host", "port", "password", "expire_time")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    user_id: str
    project_id: str
    host: str
    port: int
    password: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, server_id: _Optional[str] = ..., user_id: _Optional[str] = ..., project_id: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., password: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
