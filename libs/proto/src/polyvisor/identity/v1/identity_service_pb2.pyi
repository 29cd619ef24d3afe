from polyvisor.identity.v1 import identity_requests_pb2 as _identity_requests_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
