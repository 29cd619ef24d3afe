"""Enum spellings both ways, and messages as dicts."""

from __future__ import annotations

import pytest

from polyvisor.client import enums
from polyvisor.client.serialize import to_dict
from polyvisor.compute.v1 import servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import disk_pb2, fault_pb2, hypervisor_pb2, server_status_pb2

ALL = [v for k, v in vars(enums).items() if k.isupper() and hasattr(v, "values_by_number")]


@pytest.mark.parametrize("desc", ALL, ids=lambda d: d.name)
def test_every_value_parses_back_from_its_printed_name(desc) -> None:
    for value in desc.values:
        if value.number == 0:
            assert enums.display(desc, 0) == ""
            continue
        assert enums.parse(desc, enums.display(desc, value.number)) == value.number
        assert enums.parse(desc, value.name) == value.number


def test_printed_names_are_the_ones_operators_use() -> None:
    assert enums.display(enums.SERVER_STATE, server_status_pb2.SERVER_STATE_ACTIVE) == "ACTIVE"
    assert enums.display(enums.DISK_FORMAT, disk_pb2.DISK_FORMAT_QCOW2) == "qcow2"
    assert enums.display(enums.HYPERVISOR_TYPE, hypervisor_pb2.HYPERVISOR_TYPE_VMWARE) == "vmware"
    assert (
        enums.display(enums.VMWARE_DISK_TYPE, disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED)
        == "streamOptimized"
    )
    assert (
        enums.display(enums.VMWARE_ADAPTER_TYPE, disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC_SAS)
        == "lsiLogicsas"
    )
    assert enums.display(enums.FAULT_CODE, fault_pb2.FAULT_CODE_NO_VALID_HOST) == "NO_VALID_HOST"
    assert (
        enums.display(enums.SERVER_TASK, server_status_pb2.SERVER_TASK_FETCHING_IMAGE)
        == "fetching_image"
    )
    assert enums.display(enums.DISK_FORMAT, 99) == "99"


def test_parse_ignores_case_dashes_and_underscores_and_lists_choices_when_wrong() -> None:
    for text in (
        "streamOptimized",
        "stream_optimized",
        "STREAM-OPTIMIZED",
        "VMWARE_DISK_TYPE_STREAM_OPTIMIZED",
    ):
        assert (
            enums.parse(enums.VMWARE_DISK_TYPE, text) == disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED
        )
    assert enums.parse(enums.KEY_ALGORITHM, "rsa-4096") == 2
    with pytest.raises(enums.EnumValueError) as e:
        enums.parse(enums.DISK_FORMAT, "vhdx")
    assert "qcow2" in str(e.value) and "vmdk" in str(e.value)
    assert isinstance(e.value, ValueError)
    assert enums.coerce(enums.DISK_FORMAT, None) == 0
    assert enums.coerce(enums.DISK_FORMAT, "") == 0
    assert enums.coerce(enums.DISK_FORMAT, 3) == 3


def test_to_dict_has_every_field_with_readable_values() -> None:
    server = servers_pb2.Server(id="s1", name="web", state=server_status_pb2.SERVER_STATE_ERROR)
    server.fault.code = fault_pb2.FAULT_CODE_NO_VALID_HOST
    server.fault.no_valid_host.filters.add(filter="RamFilter", hosts_removed=2)
    server.create_time.FromSeconds(1_700_000_000)
    server.metadata["b"] = "2"
    server.metadata["a"] = "1"
    d = to_dict(server)
    assert set(d) == {f.name for f in servers_pb2.Server.DESCRIPTOR.fields}
    assert d["state"] == "ERROR"
    assert d["task"] == ""
    assert d["fault"]["code"] == "NO_VALID_HOST"
    assert d["fault"]["no_valid_host"]["filters"][0] == {
        "filter": "RamFilter", "hosts_before": 0, "hosts_removed": 2, "examples": []
    }  # fmt: skip
    assert d["create_time"] == "2023-11-14T22:13:20Z"
    assert d["update_time"] is None and d["console"] is None
    assert list(d["metadata"]) == ["a", "b"]
    assert d["addresses"] == []


def test_to_dict_of_oneofs_and_bytes() -> None:
    req = images_pb2.UploadImageRequest(chunk=b"\x00\x01")
    d = to_dict(req)
    assert d == {"header": None, "chunk": "AAE="}
