import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Flavor(_message.Message):
    __slots__ = ("id", "name", "vcpus", "ram_mb", "disk_gb", "extra_specs", "is_public", "project_ids", "description", "create_time")
    class ExtraSpecsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    RAM_MB_FIELD_NUMBER: _ClassVar[int]
    DISK_GB_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SPECS_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    PROJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    extra_specs: _containers.ScalarMap[str, str]
    is_public: bool
    project_ids: _containers.RepeatedScalarFieldContainer[str]
    description: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., vcpus: _Optional[int] = ..., ram_mb: _Optional[int] = ..., disk_gb: _Optional[int] = ..., extra_specs: _Optional[_Mapping[str, str]] = ..., is_public: _Optional[bool] = ..., project_ids: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateFlavorRequest(_message.Message):
    __slots__ = ("request_id", "flavor")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    flavor: Flavor
    def __init__(self, request_id: _Optional[str] = ..., flavor: _Optional[_Union[Flavor, _Mapping]] = ...) -> None: ...

class CreateFlavorResponse(_message.Message):
    __slots__ = ("flavor",)
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    flavor: Flavor
    def __init__(self, flavor: _Optional[_Union[Flavor, _Mapping]] = ...) -> None: ...

class GetFlavorRequest(_message.Message):
    __slots__ = ("flavor_id",)
    FLAVOR_ID_FIELD_NUMBER: _ClassVar[int]
    flavor_id: str
    def __init__(self, flavor_id: _Optional[str] = ...) -> None: ...

class GetFlavorResponse(_message.Message):
    __slots__ = ("flavor",)
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    flavor: Flavor
    def __init__(self, flavor: _Optional[_Union[Flavor, _Mapping]] = ...) -> None: ...

class ListFlavorsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "min_vcpus", "min_ram_mb", "min_disk_gb", "include_private")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MIN_VCPUS_FIELD_NUMBER: _ClassVar[int]
    MIN_RAM_MB_FIELD_NUMBER: _ClassVar[int]
    MIN_DISK_GB_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    min_vcpus: int
    min_ram_mb: int
    min_disk_gb: int
    include_private: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., min_vcpus: _Optional[int] = ..., min_ram_mb: _Optional[int] = ..., min_disk_gb: _Optional[int] = ..., include_private: _Optional[bool] = ...) -> None: ...

class ListFlavorsResponse(_message.Message):
    __slots__ = ("flavors", "next_page_token")
    FLAVORS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    flavors: _containers.RepeatedCompositeFieldContainer[Flavor]
    next_page_token: str
    def __init__(self, flavors: _Optional[_Iterable[_Union[Flavor, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteFlavorRequest(_message.Message):
    __slots__ = ("flavor_id",)
    FLAVOR_ID_FIELD_NUMBER: _ClassVar[int]
    flavor_id: str
    def __init__(self, flavor_id: _Optional[str] = ...) -> None: ...

class DeleteFlavorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateFlavorRequest(_message.Message):
    __slots__ = ("flavor_id", "description", "set_extra_specs", "unset_extra_specs", "add_project_ids", "remove_project_ids")
    class SetExtraSpecsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FLAVOR_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SET_EXTRA_SPECS_FIELD_NUMBER: _ClassVar[int]
    UNSET_EXTRA_SPECS_FIELD_NUMBER: _ClassVar[int]
    ADD_PROJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_PROJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    flavor_id: str
    description: str
    set_extra_specs: _containers.ScalarMap[str, str]
    unset_extra_specs: _containers.RepeatedScalarFieldContainer[str]
    add_project_ids: _containers.RepeatedScalarFieldContainer[str]
    remove_project_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, flavor_id: _Optional[str] = ..., description: _Optional[str] = ..., set_extra_specs: _Optional[_Mapping[str, str]] = ..., unset_extra_specs: _Optional[_Iterable[str]] = ..., add_project_ids: _Optional[_Iterable[str]] = ..., remove_project_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateFlavorResponse(_message.Message):
    __slots__ = ("flavor",)
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    flavor: Flavor
    def __init__(self, flavor: _Optional[_Union[Flavor, _Mapping]] = ...) -> None: ...
