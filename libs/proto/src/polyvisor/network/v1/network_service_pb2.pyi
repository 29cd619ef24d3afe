from polyvisor.network.v1 import bindings_pb2 as _bindings_pb2
from polyvisor.network.v1 import networks_pb2 as _networks_pb2
from polyvisor.network.v1 import security_groups_pb2 as _security_groups_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
