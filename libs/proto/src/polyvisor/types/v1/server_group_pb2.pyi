from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ServerGroupPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_GROUP_POLICY_UNSPECIFIED: _ClassVar[ServerGroupPolicy]
    SERVER_GROUP_POLICY_AFFINITY: _ClassVar[ServerGroupPolicy]
    SERVER_GROUP_POLICY_ANTI_AFFINITY: _ClassVar[ServerGroupPolicy]
SERVER_GROUP_POLICY_UNSPECIFIED: ServerGroupPolicy
SERVER_GROUP_POLICY_AFFINITY: ServerGroupPolicy
SERVER_GROUP_POLICY_ANTI_AFFINITY: ServerGroupPolicy
