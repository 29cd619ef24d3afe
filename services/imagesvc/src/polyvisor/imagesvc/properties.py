"""Validation of what a user may set on an image: known properties, free-form ones, fields.

Every refusal is an `InvalidArgument` naming the property and, for enumerations, the values
allowed. Aliases are normalised the way operators write them (amd64 -> x86_64, hv -> hvm).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from polyvisor.common.errors import InvalidArgument
from polyvisor.imagesvc.model import KNOWN_PROPERTIES, ImageProperties, Visibility

__all__ = [
    "ALLOWED",
    "DISK_FORMATS",
    "MAX_EXTRA_PROPERTIES",
    "RESERVED_KEYS",
    "validate_container_format",
    "validate_disk_format",
    "validate_extra_properties",
    "validate_min",
    "validate_name",
    "validate_properties",
    "validate_property",
    "validate_shared_with",
]

DISK_FORMATS = ("raw", "qcow2", "vmdk", "iso")
CONTAINER_FORMATS = ("bare",)
MAX_EXTRA_PROPERTIES = 128
MAX_NAME = 255
MAX_VALUE = 255
MAX_SHARED = 256

ALLOWED: dict[str, tuple[str, ...]] = {
    "hypervisor_type": ("kvm", "qemu", "vmware", "xen", "lxc", "hyperv"),
    "vmware_disktype": ("sparse", "streamOptimized", "preallocated"),
    "vmware_adaptertype": ("lsiLogic", "busLogic", "ide", "paraVirtual", "lsiLogicsas"),
    "hw_disk_bus": ("virtio", "scsi", "ide", "sata", "usb"),
    "vm_mode": ("hvm", "xen", "uml", "exe"),
    "os_type": ("linux", "windows", "freebsd", "solaris", "other"),
    "architecture": (
        "x86_64", "i686", "aarch64", "armv7l", "armv6", "ppc64le", "ppc64", "ppc",
        "s390x", "s390", "mips", "mipsel", "mips64", "mips64el", "riscv64", "sparc64",
        "alpha", "ia64",
    ),
}  # fmt: skip

_ALIASES: dict[str, dict[str, str]] = {
    "architecture": {
        "amd64": "x86_64", "x64": "x86_64", "x86-64": "x86_64",
        "i386": "i686", "i486": "i686", "i586": "i686", "x86": "i686", "ia32": "i686",
        "arm64": "aarch64", "armhf": "armv7l", "ppc64el": "ppc64le",
    },
    "vm_mode": {"hv": "hvm", "baremetal": "hvm", "pv": "xen", "xenpv": "xen", "xenhvm": "hvm"},
    "hypervisor_type": {"esx": "vmware", "esxi": "vmware", "vsphere": "vmware"},
}  # fmt: skip

#: Free-form property keys that name a core field of the image (or one a Glance client knows),
#: compared case-insensitively with "-" read as "_": a property may never shadow a field
#: (`owner`, `status`, `os_hash_value`, ...) for a client that merges both.
RESERVED_KEYS = frozenset(
    {
        # polyvisor.image.v1.Image (a test keeps this list in step with the message)
        "id", "name", "owner", "visibility", "shared_with", "status", "status_message",
        "disk_format", "container_format", "size", "virtual_size", "os_hash_algo",
        "os_hash_value", "min_ram", "min_disk", "protected", "properties", "renditions",
        "create_time", "update_time", "delete_time",
        # the domain's and Glance's spellings of the same facts
        "created_at", "updated_at", "deleted_at", "deleted", "checksum", "locations",
        "location", "direct_url", "self", "file", "schema", "tags", "member", "members",
        "os_hidden", "stores", "project_id", "tenant_id", "is_public",
        *KNOWN_PROPERTIES,
    }
)  # fmt: skip
#: Key prefixes reserved the same way (Glance keeps os_glance_* for itself).
RESERVED_PREFIXES = ("os_glance_",)

_CASE_INSENSITIVE = ("hypervisor_type", "architecture", "vm_mode", "os_type", "hw_disk_bus")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$")
_VMWARE_OSTYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


def validate_property(name: str, value: str) -> str:
    """The normalised value of a known property ("" stays unset)."""
    if name not in KNOWN_PROPERTIES:
        raise InvalidArgument(f"{name} is not a known property", {"property": name})
    if value == "":
        return ""
    if name == "vmware_ostype":
        if not _VMWARE_OSTYPE.match(value):
            raise InvalidArgument(
                f"vmware_ostype {value!r} is not a VMware guest id (e.g. otherGuest64)",
                {"property": name},
            )
        return value
    allowed = ALLOWED[name]
    v = value.strip()
    if name in _CASE_INSENSITIVE:
        v = v.lower()
    v = _ALIASES.get(name, {}).get(v, v)
    if name not in _CASE_INSENSITIVE:
        # vmware names are camelCase; accept any case but store the canonical spelling.
        v = next((a for a in allowed if a.lower() == v.lower()), v)
    if v not in allowed:
        raise InvalidArgument(
            f"{name} {value!r} is not allowed; allowed values: {', '.join(allowed)}",
            {"property": name, "value": value, "allowed": list(allowed)},
        )
    return v


def validate_properties(values: Mapping[str, str]) -> ImageProperties:
    return ImageProperties(**{k: validate_property(k, v) for k, v in values.items()})


def validate_extra_properties(props: Mapping[str, str]) -> dict[str, str]:
    if len(props) > MAX_EXTRA_PROPERTIES:
        raise InvalidArgument(f"at most {MAX_EXTRA_PROPERTIES} free-form properties")
    out: dict[str, str] = {}
    for key, value in props.items():
        canonical = key.lower().replace("-", "_")
        if canonical in KNOWN_PROPERTIES:
            raise InvalidArgument(
                f"property {key!r} is the typed field {canonical} of the image; set it there, "
                "not in properties",
                {"property": key},
            )
        if canonical in RESERVED_KEYS or canonical.startswith(RESERVED_PREFIXES):
            raise InvalidArgument(
                f"property key {key!r} is reserved (it names a field of the image)",
                {"property": key},
            )
        if not _KEY.match(key):
            raise InvalidArgument(
                f"property key {key!r} must be 1-255 characters of letters, digits, _ . : -",
                {"property": key},
            )
        if len(value) > MAX_VALUE or not value.isprintable():
            raise InvalidArgument(
                f"property {key!r}: the value must be printable and at most {MAX_VALUE} characters",
                {"property": key},
            )
        out[key] = value
    return out


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME or not name.isprintable():
        raise InvalidArgument(f"name must be printable and at most {MAX_NAME} characters")
    return name


def validate_disk_format(value: str) -> str:
    if value not in DISK_FORMATS:
        raise InvalidArgument(
            f"disk_format {value or '(unset)'!r} is not allowed; allowed values: "
            f"{', '.join(DISK_FORMATS)}",
            {"property": "disk_format", "allowed": list(DISK_FORMATS)},
        )
    return value


def validate_container_format(value: str) -> str:
    value = value or "bare"
    if value not in CONTAINER_FORMATS:
        raise InvalidArgument(
            f"container_format {value!r} is not allowed; allowed values: bare",
            {"property": "container_format", "allowed": list(CONTAINER_FORMATS)},
        )
    return value


def validate_min(name: str, value: int) -> int:
    if value < 0 or value > 1 << 40:
        raise InvalidArgument(f"{name} must be between 0 and 2^40", {"property": name})
    return value


def validate_shared_with(visibility: Visibility, projects: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(projects))
    if out and visibility is not Visibility.SHARED:
        raise InvalidArgument(
            "shared_with is only allowed with visibility shared", {"property": "shared_with"}
        )
    if len(out) > MAX_SHARED:
        raise InvalidArgument(f"an image can be shared with at most {MAX_SHARED} projects")
    for p in out:
        if not _PROJECT.match(p):
            raise InvalidArgument(f"shared_with: {p!r} is not a project id")
    return out
