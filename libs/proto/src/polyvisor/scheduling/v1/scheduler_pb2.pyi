from polyvisor.scheduling.v1 import providers_pb2 as _providers_pb2
from polyvisor.scheduling.v1 import request_spec_pb2 as _request_spec_pb2
from polyvisor.types.v1 import disk_pb2 as _disk_pb2
from polyvisor.types.v1 import fault_pb2 as _fault_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from polyvisor.types.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReleaseReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELEASE_REASON_UNSPECIFIED: _ClassVar[ReleaseReason]
    RELEASE_REASON_DELETED: _ClassVar[ReleaseReason]
    RELEASE_REASON_BUILD_FAILED: _ClassVar[ReleaseReason]
RELEASE_REASON_UNSPECIFIED: ReleaseReason
RELEASE_REASON_DELETED: ReleaseReason
RELEASE_REASON_BUILD_FAILED: ReleaseReason

class Selection(_message.Message):
    __slots__ = ("host", "hostname", "hypervisor_type", "availability_zone", "allocation", "provider_generation", "weight", "rendition")
    HOST_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_GENERATION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    host: str
    hostname: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    availability_zone: str
    allocation: _resources_pb2.Resources
    provider_generation: int
    weight: float
    rendition: _disk_pb2.Rendition
    def __init__(self, host: _Optional[str] = ..., hostname: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., availability_zone: _Optional[str] = ..., allocation: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., provider_generation: _Optional[int] = ..., weight: _Optional[float] = ..., rendition: _Optional[_Union[_disk_pb2.Rendition, _Mapping]] = ...) -> None: ...

class InstanceSelection(_message.Message):
    __slots__ = ("consumer_id", "primary", "alternates")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    ALTERNATES_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    primary: Selection
    alternates: _containers.RepeatedCompositeFieldContainer[Selection]
    def __init__(self, consumer_id: _Optional[str] = ..., primary: _Optional[_Union[Selection, _Mapping]] = ..., alternates: _Optional[_Iterable[_Union[Selection, _Mapping]]] = ...) -> None: ...

class SelectDestinationsRequest(_message.Message):
    __slots__ = ("spec", "max_alternates")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    MAX_ALTERNATES_FIELD_NUMBER: _ClassVar[int]
    spec: _request_spec_pb2.RequestSpec
    max_alternates: int
    def __init__(self, spec: _Optional[_Union[_request_spec_pb2.RequestSpec, _Mapping]] = ..., max_alternates: _Optional[int] = ...) -> None: ...

class SelectDestinationsResponse(_message.Message):
    __slots__ = ("selections", "no_valid_host")
    SELECTIONS_FIELD_NUMBER: _ClassVar[int]
    NO_VALID_HOST_FIELD_NUMBER: _ClassVar[int]
    selections: _containers.RepeatedCompositeFieldContainer[InstanceSelection]
    no_valid_host: _fault_pb2.NoValidHost
    def __init__(self, selections: _Optional[_Iterable[_Union[InstanceSelection, _Mapping]]] = ..., no_valid_host: _Optional[_Union[_fault_pb2.NoValidHost, _Mapping]] = ...) -> None: ...

class CheckHostRequest(_message.Message):
    __slots__ = ("host", "spec")
    HOST_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    host: str
    spec: _request_spec_pb2.RequestSpec
    def __init__(self, host: _Optional[str] = ..., spec: _Optional[_Union[_request_spec_pb2.RequestSpec, _Mapping]] = ...) -> None: ...

class CheckHostResponse(_message.Message):
    __slots__ = ("fits", "no_valid_host")
    FITS_FIELD_NUMBER: _ClassVar[int]
    NO_VALID_HOST_FIELD_NUMBER: _ClassVar[int]
    fits: bool
    no_valid_host: _fault_pb2.NoValidHost
    def __init__(self, fits: _Optional[bool] = ..., no_valid_host: _Optional[_Union[_fault_pb2.NoValidHost, _Mapping]] = ...) -> None: ...

class ReleaseClaimRequest(_message.Message):
    __slots__ = ("consumer_id", "reason", "detail")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    reason: ReleaseReason
    detail: str
    def __init__(self, consumer_id: _Optional[str] = ..., reason: _Optional[_Union[ReleaseReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ReleaseClaimResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: _Optional[bool] = ...) -> None: ...

class MoveClaimRequest(_message.Message):
    __slots__ = ("consumer_id", "to_host", "from_host", "reason", "detail")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    TO_HOST_FIELD_NUMBER: _ClassVar[int]
    FROM_HOST_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    to_host: str
    from_host: str
    reason: ReleaseReason
    detail: str
    def __init__(self, consumer_id: _Optional[str] = ..., to_host: _Optional[str] = ..., from_host: _Optional[str] = ..., reason: _Optional[_Union[ReleaseReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class MoveClaimResponse(_message.Message):
    __slots__ = ("selection",)
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    selection: Selection
    def __init__(self, selection: _Optional[_Union[Selection, _Mapping]] = ...) -> None: ...

class ReplaceClaimRequest(_message.Message):
    __slots__ = ("consumer_id", "with_consumer_id")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    WITH_CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    with_consumer_id: str
    def __init__(self, consumer_id: _Optional[str] = ..., with_consumer_id: _Optional[str] = ...) -> None: ...

class ReplaceClaimResponse(_message.Message):
    __slots__ = ("replaced", "host")
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    replaced: bool
    host: str
    def __init__(self, replaced: _Optional[bool] = ..., host: _Optional[str] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "hypervisor_type", "state", "status", "availability_zone")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    state: _hypervisor_pb2.HostState
    status: _hypervisor_pb2.HostStatus
    availability_zone: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., state: _Optional[_Union[_hypervisor_pb2.HostState, str]] = ..., status: _Optional[_Union[_hypervisor_pb2.HostStatus, str]] = ..., availability_zone: _Optional[str] = ...) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers", "next_page_token")
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[_providers_pb2.Provider]
    next_page_token: str
    def __init__(self, providers: _Optional[_Iterable[_Union[_providers_pb2.Provider, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetProviderRequest(_message.Message):
    __slots__ = ("provider_id",)
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    provider_id: str
    def __init__(self, provider_id: _Optional[str] = ...) -> None: ...

class GetProviderResponse(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: _providers_pb2.Provider
    def __init__(self, provider: _Optional[_Union[_providers_pb2.Provider, _Mapping]] = ...) -> None: ...

class SetProviderEnabledRequest(_message.Message):
    __slots__ = ("provider_id", "enabled", "disabled_reason")
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    provider_id: str
    enabled: bool
    disabled_reason: str
    def __init__(self, provider_id: _Optional[str] = ..., enabled: _Optional[bool] = ..., disabled_reason: _Optional[str] = ...) -> None: ...

class SetProviderEnabledResponse(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: _providers_pb2.Provider
    def __init__(self, provider: _Optional[_Union[_providers_pb2.Provider, _Mapping]] = ...) -> None: ...

class ListAllocationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "provider_id", "consumer_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    provider_id: str
    consumer_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., provider_id: _Optional[str] = ..., consumer_id: _Optional[str] = ...) -> None: ...

class ListAllocationsResponse(_message.Message):
    __slots__ = ("allocations", "next_page_token")
    ALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    allocations: _containers.RepeatedCompositeFieldContainer[_providers_pb2.Allocation]
    next_page_token: str
    def __init__(self, allocations: _Optional[_Iterable[_Union[_providers_pb2.Allocation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
