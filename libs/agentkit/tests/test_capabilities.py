"""Optional driver verbs: a driver opts into a capability protocol by implementing it, and the
host report says so. The list a driver reports is exactly the protocols it implements."""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

import pytest

from polyvisor.agentkit.capabilities import CAPABILITIES, capabilities_of, capability
from polyvisor.agentkit.convert import host_report_to_proto
from polyvisor.agentkit.driver import Driver, Instance, PowerState
from polyvisor.agentkit.fake import FakeDriver


def implemented(driver: object, registry: dict[str, type]) -> set[str]:
    """Capabilities by the methods the driver has, independently of capabilities_of."""
    out = set()
    for name, proto in registry.items():
        verbs = [v for v in vars(proto) if not v.startswith("_") and callable(vars(proto)[v])]
        if verbs and all(callable(getattr(driver, v, None)) for v in verbs):
            out.add(name)
    return out


def test_fake_driver_reports_what_it_implements() -> None:
    driver = FakeDriver("h1")
    assert isinstance(driver, Driver)
    reported = set(driver.host_info().capabilities)
    assert reported == implemented(driver, CAPABILITIES)


def test_a_driver_opting_into_a_capability_reports_it_and_others_do_not() -> None:
    registry: dict[str, type] = {}

    @capability("migrate", registry)
    @runtime_checkable
    class Migrate(Protocol):
        def migrate(self, server_id: str) -> Instance: ...

        def abort_migration(self, server_id: str) -> Instance: ...

    class Migrating(FakeDriver):
        def migrate(self, server_id: str) -> Instance:
            return Instance(server_id, PowerState.PAUSED)

        def abort_migration(self, server_id: str) -> Instance:
            return Instance(server_id, PowerState.RUNNING)

    class HalfMigrating(FakeDriver):
        def migrate(self, server_id: str) -> Instance:
            return Instance(server_id, PowerState.PAUSED)

    assert capabilities_of(Migrating("h"), registry) == ("migrate",)
    assert capabilities_of(HalfMigrating("h"), registry) == ()
    assert capabilities_of(FakeDriver("h"), registry) == ()
    for driver in (Migrating("h"), HalfMigrating("h"), FakeDriver("h")):
        assert set(capabilities_of(driver, registry)) == implemented(driver, registry)


def test_the_host_report_carries_the_capability_list() -> None:
    info = FakeDriver("h1").host_info()
    info = dataclasses.replace(info, capabilities=("suspend",))
    report = host_report_to_proto(
        info, host_id="h1", agent_id="a", sequence=1, interval_s=10, server_count=0
    )
    assert list(report.capabilities) == ["suspend"]
    assert not report.HasField("cluster")
    assert [r.disk_format for r in report.disk_formats] == [2]  # the fake's qcow2


def test_only_runtime_checkable_protocols_with_verbs_register() -> None:
    registry: dict[str, type] = {}

    class NotRuntime(Protocol):
        def snapshot(self, server_id: str) -> None: ...

    @runtime_checkable
    class Empty(Protocol):
        pass

    with pytest.raises(TypeError):
        capability("snapshot", registry)(NotRuntime)
    with pytest.raises(TypeError):
        capability("empty", registry)(Empty)  # it would match every driver
    with pytest.raises(ValueError):
        capability("Bad Name", registry)
    assert registry == {}


def test_pause_and_suspend_are_capabilities_the_fake_reports() -> None:
    from polyvisor.agentkit.capabilities import Pause, Suspend

    assert CAPABILITIES["pause"] is Pause and CAPABILITIES["suspend"] is Suspend
    assert {"pause", "suspend"} <= set(FakeDriver("h1").host_info().capabilities)
