import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeypairType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEYPAIR_TYPE_UNSPECIFIED: _ClassVar[KeypairType]
    KEYPAIR_TYPE_SSH: _ClassVar[KeypairType]
    KEYPAIR_TYPE_X509: _ClassVar[KeypairType]

class KeyAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_ALGORITHM_UNSPECIFIED: _ClassVar[KeyAlgorithm]
    KEY_ALGORITHM_ED25519: _ClassVar[KeyAlgorithm]
    KEY_ALGORITHM_RSA_4096: _ClassVar[KeyAlgorithm]
KEYPAIR_TYPE_UNSPECIFIED: KeypairType
KEYPAIR_TYPE_SSH: KeypairType
KEYPAIR_TYPE_X509: KeypairType
KEY_ALGORITHM_UNSPECIFIED: KeyAlgorithm
KEY_ALGORITHM_ED25519: KeyAlgorithm
KEY_ALGORITHM_RSA_4096: KeyAlgorithm

class Keypair(_message.Message):
    __slots__ = ("name", "fingerprint", "public_key", "type", "user_id", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    fingerprint: str
    public_key: str
    type: KeypairType
    user_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., fingerprint: _Optional[str] = ..., public_key: _Optional[str] = ..., type: _Optional[_Union[KeypairType, str]] = ..., user_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateKeypairRequest(_message.Message):
    __slots__ = ("name", "type", "algorithm")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: KeypairType
    algorithm: KeyAlgorithm
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[KeypairType, str]] = ..., algorithm: _Optional[_Union[KeyAlgorithm, str]] = ...) -> None: ...

class CreateKeypairResponse(_message.Message):
    __slots__ = ("keypair", "private_key")
    KEYPAIR_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_KEY_FIELD_NUMBER: _ClassVar[int]
    keypair: Keypair
    private_key: str
    def __init__(self, keypair: _Optional[_Union[Keypair, _Mapping]] = ..., private_key: _Optional[str] = ...) -> None: ...

class ImportKeypairRequest(_message.Message):
    __slots__ = ("name", "public_key", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    public_key: str
    type: KeypairType
    def __init__(self, name: _Optional[str] = ..., public_key: _Optional[str] = ..., type: _Optional[_Union[KeypairType, str]] = ...) -> None: ...

class ImportKeypairResponse(_message.Message):
    __slots__ = ("keypair",)
    KEYPAIR_FIELD_NUMBER: _ClassVar[int]
    keypair: Keypair
    def __init__(self, keypair: _Optional[_Union[Keypair, _Mapping]] = ...) -> None: ...

class GetKeypairRequest(_message.Message):
    __slots__ = ("name", "user_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    user_id: str
    def __init__(self, name: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class GetKeypairResponse(_message.Message):
    __slots__ = ("keypair",)
    KEYPAIR_FIELD_NUMBER: _ClassVar[int]
    keypair: Keypair
    def __init__(self, keypair: _Optional[_Union[Keypair, _Mapping]] = ...) -> None: ...

class ListKeypairsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "user_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    user_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class ListKeypairsResponse(_message.Message):
    __slots__ = ("keypairs", "next_page_token")
    KEYPAIRS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    keypairs: _containers.RepeatedCompositeFieldContainer[Keypair]
    next_page_token: str
    def __init__(self, keypairs: _Optional[_Iterable[_Union[Keypair, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteKeypairRequest(_message.Message):
    __slots__ = ("name", "user_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    user_id: str
    def __init__(self, name: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class DeleteKeypairResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
