from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ConsoleOutputRequest(_message.Message):
    __slots__ = ("server_id", "lines")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    lines: int
    def __init__(self, server_id: _Optional[str] = ..., lines: _Optional[int] = ...) -> None: ...

class ConsoleOutputReply(_message.Message):
    __slots__ = ("output", "error", "error_kind")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    output: str
    error: str
    error_kind: str
    def __init__(self, output: _Optional[str] = ..., error: _Optional[str] = ..., error_kind: _Optional[str] = ...) -> None: ...
