import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_INGRESS: _ClassVar[Direction]
    DIRECTION_EGRESS: _ClassVar[Direction]

class Ethertype(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ETHERTYPE_UNSPECIFIED: _ClassVar[Ethertype]
    ETHERTYPE_IPV4: _ClassVar[Ethertype]
    ETHERTYPE_IPV6: _ClassVar[Ethertype]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_INGRESS: Direction
DIRECTION_EGRESS: Direction
ETHERTYPE_UNSPECIFIED: Ethertype
ETHERTYPE_IPV4: Ethertype
ETHERTYPE_IPV6: Ethertype

class SecurityGroup(_message.Message):
    __slots__ = ("id", "name", "description", "project_id", "is_default", "rules", "revision", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    project_id: str
    is_default: bool
    rules: _containers.RepeatedCompositeFieldContainer[SecurityGroupRule]
    revision: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., project_id: _Optional[str] = ..., is_default: _Optional[bool] = ..., rules: _Optional[_Iterable[_Union[SecurityGroupRule, _Mapping]]] = ..., revision: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SecurityGroupRule(_message.Message):
    __slots__ = ("id", "security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id", "description", "project_id", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    ETHERTYPE_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_RANGE_MIN_FIELD_NUMBER: _ClassVar[int]
    PORT_RANGE_MAX_FIELD_NUMBER: _ClassVar[int]
    REMOTE_IP_PREFIX_FIELD_NUMBER: _ClassVar[int]
    REMOTE_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    security_group_id: str
    direction: Direction
    ethertype: Ethertype
    protocol: str
    port_range_min: int
    port_range_max: int
    remote_ip_prefix: str
    remote_group_id: str
    description: str
    project_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., security_group_id: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., ethertype: _Optional[_Union[Ethertype, str]] = ..., protocol: _Optional[str] = ..., port_range_min: _Optional[int] = ..., port_range_max: _Optional[int] = ..., remote_ip_prefix: _Optional[str] = ..., remote_group_id: _Optional[str] = ..., description: _Optional[str] = ..., project_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSecurityGroupRequest(_message.Message):
    __slots__ = ("request_id", "security_group")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUP_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    security_group: SecurityGroup
    def __init__(self, request_id: _Optional[str] = ..., security_group: _Optional[_Union[SecurityGroup, _Mapping]] = ...) -> None: ...

class CreateSecurityGroupResponse(_message.Message):
    __slots__ = ("security_group",)
    SECURITY_GROUP_FIELD_NUMBER: _ClassVar[int]
    security_group: SecurityGroup
    def __init__(self, security_group: _Optional[_Union[SecurityGroup, _Mapping]] = ...) -> None: ...

class GetSecurityGroupRequest(_message.Message):
    __slots__ = ("security_group_id",)
    SECURITY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    security_group_id: str
    def __init__(self, security_group_id: _Optional[str] = ...) -> None: ...

class GetSecurityGroupResponse(_message.Message):
    __slots__ = ("security_group",)
    SECURITY_GROUP_FIELD_NUMBER: _ClassVar[int]
    security_group: SecurityGroup
    def __init__(self, security_group: _Optional[_Union[SecurityGroup, _Mapping]] = ...) -> None: ...

class ListSecurityGroupsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "name", "all_projects")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    name: str
    all_projects: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., name: _Optional[str] = ..., all_projects: _Optional[bool] = ...) -> None: ...

class ListSecurityGroupsResponse(_message.Message):
    __slots__ = ("security_groups", "next_page_token")
    SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    security_groups: _containers.RepeatedCompositeFieldContainer[SecurityGroup]
    next_page_token: str
    def __init__(self, security_groups: _Optional[_Iterable[_Union[SecurityGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSecurityGroupRequest(_message.Message):
    __slots__ = ("security_group_id",)
    SECURITY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    security_group_id: str
    def __init__(self, security_group_id: _Optional[str] = ...) -> None: ...

class DeleteSecurityGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateSecurityGroupRuleRequest(_message.Message):
    __slots__ = ("security_group_rule",)
    SECURITY_GROUP_RULE_FIELD_NUMBER: _ClassVar[int]
    security_group_rule: SecurityGroupRule
    def __init__(self, security_group_rule: _Optional[_Union[SecurityGroupRule, _Mapping]] = ...) -> None: ...

class CreateSecurityGroupRuleResponse(_message.Message):
    __slots__ = ("security_group_rule",)
    SECURITY_GROUP_RULE_FIELD_NUMBER: _ClassVar[int]
    security_group_rule: SecurityGroupRule
    def __init__(self, security_group_rule: _Optional[_Union[SecurityGroupRule, _Mapping]] = ...) -> None: ...

class GetSecurityGroupRuleRequest(_message.Message):
    __slots__ = ("security_group_rule_id",)
    SECURITY_GROUP_RULE_ID_FIELD_NUMBER: _ClassVar[int]
    security_group_rule_id: str
    def __init__(self, security_group_rule_id: _Optional[str] = ...) -> None: ...

class GetSecurityGroupRuleResponse(_message.Message):
    __slots__ = ("security_group_rule",)
    SECURITY_GROUP_RULE_FIELD_NUMBER: _ClassVar[int]
    security_group_rule: SecurityGroupRule
    def __init__(self, security_group_rule: _Optional[_Union[SecurityGroupRule, _Mapping]] = ...) -> None: ...

class ListSecurityGroupRulesRequest(_message.Message):
    __slots__ = ("security_group_id", "all_projects")
    SECURITY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    security_group_id: str
    all_projects: bool
    def __init__(self, security_group_id: _Optional[str] = ..., all_projects: _Optional[bool] = ...) -> None: ...

class ListSecurityGroupRulesResponse(_message.Message):
    __slots__ = ("security_group_rules",)
    SECURITY_GROUP_RULES_FIELD_NUMBER: _ClassVar[int]
    security_group_rules: _containers.RepeatedCompositeFieldContainer[SecurityGroupRule]
    def __init__(self, security_group_rules: _Optional[_Iterable[_Union[SecurityGroupRule, _Mapping]]] = ...) -> None: ...

class DeleteSecurityGroupRuleRequest(_message.Message):
    __slots__ = ("security_group_rule_id",)
    SECURITY_GROUP_RULE_ID_FIELD_NUMBER: _ClassVar[int]
    security_group_rule_id: str
    def __init__(self, security_group_rule_id: _Optional[str] = ...) -> None: ...

class DeleteSecurityGroupRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
