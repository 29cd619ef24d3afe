"""The admin's view of a hypervisor carries the capabilities its agent reports."""

from __future__ import annotations

from polyvisor.api.convert.hypervisors import hypervisor_from_provider
from polyvisor.scheduling.v1 import providers_pb2
from polyvisor.types.v1 import hypervisor_pb2


def test_capabilities_pass_from_the_provider_to_the_hypervisor() -> None:
    p = providers_pb2.Provider(
        id="h-lxc",
        hostname="h-lxc",
        hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_LXC,
        capabilities=["pause", "console_log", "guest_metadata"],
    )
    h = hypervisor_from_provider(p, running_servers=0)
    assert list(h.capabilities) == ["console_log", "guest_metadata", "pause"]
    assert h.hypervisor_type == hypervisor_pb2.HYPERVISOR_TYPE_LXC
