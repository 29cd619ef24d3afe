from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddressType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADDRESS_TYPE_UNSPECIFIED: _ClassVar[AddressType]
    ADDRESS_TYPE_FIXED: _ClassVar[AddressType]
    ADDRESS_TYPE_FLOATING: _ClassVar[AddressType]
ADDRESS_TYPE_UNSPECIFIED: AddressType
ADDRESS_TYPE_FIXED: AddressType
ADDRESS_TYPE_FLOATING: AddressType

class ServerAddress(_message.Message):
    __slots__ = ("network", "address", "version", "mac_address", "type")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    network: str
    address: str
    version: int
    mac_address: str
    type: AddressType
    def __init__(self, network: _Optional[str] = ..., address: _Optional[str] = ..., version: _Optional[int] = ..., mac_address: _Optional[str] = ..., type: _Optional[_Union[AddressType, str]] = ...) -> None: ...
