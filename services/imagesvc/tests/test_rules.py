"""Pure rules: property validation, access, which rendition a request names."""

from __future__ import annotations

import pytest

from polyvisor.common.auth import Principal
from polyvisor.common.errors import InvalidArgument, NotFound, PermissionDenied
from polyvisor.imagesvc import access
from polyvisor.imagesvc.model import (
    Image,
    ImageStatus,
    Rendition,
    RenditionKey,
    RenditionStatus,
    Visibility,
)
from polyvisor.imagesvc.properties import (
    validate_extra_properties,
    validate_property,
    validate_shared_with,
)
from polyvisor.imagesvc.renditions import wanted_key


def user(project: str, *roles: str, kind: str = "user") -> Principal:
    return Principal(user_id="u", project_id=project, roles=frozenset(roles), kind=kind)


@pytest.mark.parametrize(
    ("name", "value", "normalised"),
    [
        ("architecture", "amd64", "x86_64"),
        ("architecture", "AARCH64", "aarch64"),
        ("vm_mode", "hv", "hvm"),
        ("hypervisor_type", "ESXi", "vmware"),
        ("vmware_adaptertype", "lsilogic", "lsiLogic"),
        ("vmware_disktype", "streamoptimized", "streamOptimized"),
        ("hw_disk_bus", "VirtIO", "virtio"),
        ("vmware_ostype", "otherGuest64", "otherGuest64"),
        ("os_type", "", ""),
    ],
)
def test_known_properties_are_normalised(name: str, value: str, normalised: str) -> None:
    assert validate_property(name, value) == normalised


@pytest.mark.parametrize(
    ("name", "value", "allowed_example"),
    [
        ("architecture", "pdp11", "x86_64"),
        ("vmware_adaptertype", "nvme", "lsiLogicsas"),
        ("vmware_disktype", "thin", "preallocated"),
        ("hypervisor_type", "bhyve", "kvm"),
        ("vm_mode", "pv-grub", "hvm"),
        ("hw_disk_bus", "nvme", "virtio"),
        ("os_type", "plan9", "linux"),
    ],
)
def test_unknown_values_name_property_and_allowed_values(
    name: str, value: str, allowed_example: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_property(name, value)
    assert name in info.value.message and allowed_example in info.value.message
    assert info.value.details["property"] == name
    assert allowed_example in info.value.details["allowed"]


def test_free_form_properties() -> None:
    assert validate_extra_properties({"os_distro": "debian"}) == {"os_distro": "debian"}
    for bad in ({"architecture": "x86_64"}, {"bad key": "v"}, {"k": "x" * 300}, {"k": "\x00"}):
        with pytest.raises(InvalidArgument):
            validate_extra_properties(bad)
    with pytest.raises(InvalidArgument):
        validate_shared_with(Visibility.PRIVATE, ["p2"])
    assert validate_shared_with(Visibility.SHARED, ["p2", "p2", "p3"]) == ("p2", "p3")


@pytest.mark.parametrize(
    "key",
    [
        "owner", "OWNER", "Owner", "id", "status", "Status", "visibility", "os_hash_value",
        "OS_HASH_VALUE", "os-hash-value", "size", "virtual_size", "checksum", "protected",
        "Architecture", "ARCHITECTURE", "Hypervisor_Type", "hypervisor-type", "os_glance_import",
    ],
)  # fmt: skip
def test_reserved_property_keys_refused_whatever_their_case(key: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_extra_properties({key: "x86_64"})
    assert info.value.details["property"] == key
    assert "reserved" in info.value.message or "typed field" in info.value.message


def test_every_image_field_is_a_reserved_property_key() -> None:
    """A field added to the Image message is reserved without anyone remembering to."""
    from polyvisor.image.v1 import images_pb2
    from polyvisor.imagesvc.properties import RESERVED_KEYS

    fields = {f.name for f in images_pb2.Image.DESCRIPTOR.fields}
    assert fields - RESERVED_KEYS == set()


def test_access_rules() -> None:
    private = Image(id="i", name="", owner="p1")
    shared = Image(id="s", name="", owner="p1", visibility=Visibility.SHARED, shared_with=("p3",))
    public = Image(id="x", name="", owner="p1", visibility=Visibility.PUBLIC)
    gone = Image(id="g", name="", owner="p1", status=ImageStatus.DELETED)
    assert access.can_see(user("p1", "reader"), private)
    assert not access.can_see(user("p2", "member"), private)
    assert access.can_see(user("p2", "member"), public)
    assert access.can_see(user("p3", "member"), shared)
    assert not access.can_see(user("p2", "member"), shared)
    assert access.can_see(user("any", "admin"), private)
    assert access.can_see(user("svc", kind="service"), private)
    assert not access.can_see(user("p1", "admin"), gone)
    with pytest.raises(NotFound):
        access.require_mutate(user("p2", "member"), private, "i")
    with pytest.raises(PermissionDenied):
        access.require_mutate(user("p2", "member"), public, "x")
    with pytest.raises(PermissionDenied):
        access.require_mutate(user("p1", "reader"), private, "i")
    with pytest.raises(PermissionDenied):
        access.require_mutate(user("svc", kind="service"), private, "i")
    assert access.require_mutate(user("p1", "member"), private, "i") is private
    assert access.require_mutate(user("p9", "admin"), private, "i") is private
    with pytest.raises(PermissionDenied):
        access.require_create(user("p1", "member"), Visibility.PUBLIC)
    with pytest.raises(PermissionDenied):
        access.list_scope(user("p1", "member"), all_projects=True)


def test_wanted_rendition() -> None:
    qcow2 = Rendition("i", RenditionKey("qcow2"), RenditionStatus.ACTIVE, original=True)
    assert wanted_key(qcow2, "", "") == RenditionKey("qcow2")
    assert wanted_key(qcow2, "vmdk", "") == RenditionKey("vmdk", "streamOptimized")
    assert wanted_key(qcow2, "vmdk", "sparse") == RenditionKey("vmdk", "sparse")
    assert wanted_key(qcow2, "raw", "") == RenditionKey("raw")
    for fmt, sub in (("vmdk", "preallocated"), ("raw", "sparse"), ("iso", "")):
        with pytest.raises(InvalidArgument):
            wanted_key(qcow2, fmt, sub)
    iso = Rendition("i", RenditionKey("iso"), RenditionStatus.ACTIVE, original=True)
    assert wanted_key(iso, "iso", "") == RenditionKey("iso")
    with pytest.raises(InvalidArgument):
        wanted_key(iso, "qcow2", "")
