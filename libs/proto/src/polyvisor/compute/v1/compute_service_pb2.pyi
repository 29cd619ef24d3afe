from polyvisor.compute.v1 import flavors_pb2 as _flavors_pb2
from polyvisor.compute.v1 import hypervisors_pb2 as _hypervisors_pb2
from polyvisor.compute.v1 import keypairs_pb2 as _keypairs_pb2
from polyvisor.compute.v1 import quotas_pb2 as _quotas_pb2
from polyvisor.compute.v1 import server_actions_pb2 as _server_actions_pb2
from polyvisor.compute.v1 import server_groups_pb2 as _server_groups_pb2
from polyvisor.compute.v1 import servers_pb2 as _servers_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
