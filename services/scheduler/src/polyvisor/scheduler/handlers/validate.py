"""Request validation: every field of every scheduler RPC, with a readable message.

The scheduler is internal (the api is its only caller, behind the mesh), but a bad request
must still be INVALID_ARGUMENT with a sentence naming the field, never INTERNAL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from polyvisor.common import page_tokens
from polyvisor.common.errors import InvalidArgument
from polyvisor.scheduler.traits import VersionPredicate, normalize_arch, normalize_vm_mode
from polyvisor.scheduling.v1 import request_spec_pb2, scheduler_pb2
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2, server_group_pb2

__all__ = [
    "MAX_ALTERNATES",
    "MAX_INSTANCES",
    "check_id",
    "decode_page_token",
    "encode_page_token",
    "page_size",
    "validate_spec",
]

MAX_INSTANCES = 100
MAX_ALTERNATES = 10
MAX_HINT_SERVERS = 1000
MAX_ID = 255
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_VCPUS = 4096
MAX_MEMORY_MB = 64 * 1024 * 1024  # 64 TiB
MAX_DISK_GB = 1024 * 1024  # 1 PiB


def _bad(field: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {why}", {"field": field})


def check_id(field: str, value: str, *, required: bool = True) -> None:
    if not value:
        if required:
            raise _bad(field, "is required")
        return
    if len(value) > MAX_ID:
        raise _bad(field, f"is longer than {MAX_ID} characters")
    if not value.isprintable() or value != value.strip():
        raise _bad(field, "must be printable, without leading or trailing spaces")


def _check_ids(field: str, values: Sequence[str], limit: int = MAX_HINT_SERVERS) -> None:
    if len(values) > limit:
        raise _bad(field, f"has {len(values)} entries, at most {limit} allowed")
    for i, v in enumerate(values):
        check_id(f"{field}[{i}]", v)


def _check_enum(field: str, value: int, enum: object, *, allow_unspecified: bool = True) -> None:
    values = enum.values()  # type: ignore[attr-defined]
    if value not in values:
        raise _bad(field, f"unknown value {value}")
    if value == 0 and not allow_unspecified:
        raise _bad(field, "must be set")


def _check_formats(field: str, values: Iterable[int]) -> None:
    values = list(values)
    if len(values) > 8:
        raise _bad(field, "has more than 8 entries")
    for i, v in enumerate(values):
        _check_enum(f"{field}[{i}]", v, disk_pb2.DiskFormat, allow_unspecified=False)


def _check_amount(field: str, value: int, low: int, high: int) -> None:
    if value < low or value > high:
        raise _bad(field, f"must be between {low} and {high}, got {value}")


def validate_spec(req: scheduler_pb2.SelectDestinationsRequest) -> None:
    if not req.HasField("spec"):
        raise _bad("spec", "is required")
    if not 0 <= req.max_alternates <= MAX_ALTERNATES:
        raise _bad("max_alternates", f"must be between 0 and {MAX_ALTERNATES}")
    spec: request_spec_pb2.RequestSpec = req.spec
    check_id("spec.request_id", spec.request_id, required=False)
    if not spec.consumer_ids:
        raise _bad("spec.consumer_ids", "at least one consumer (server id) is required")
    _check_ids("spec.consumer_ids", spec.consumer_ids, MAX_INSTANCES)
    if len(set(spec.consumer_ids)) != len(spec.consumer_ids):
        raise _bad("spec.consumer_ids", "holds the same consumer twice")
    if spec.num_instances not in (0, len(spec.consumer_ids)):
        raise _bad(
            "spec.num_instances",
            f"is {spec.num_instances} but {len(spec.consumer_ids)} consumer ids are given",
        )
    check_id("spec.project_id", spec.project_id, required=False)
    check_id("spec.user_id", spec.user_id, required=False)
    if not spec.HasField("resources"):
        raise _bad("spec.resources", "is required")
    res = spec.resources
    _check_amount("spec.resources.vcpus", res.vcpus, 1, MAX_VCPUS)
    _check_amount("spec.resources.memory_mb", res.memory_mb, 1, MAX_MEMORY_MB)
    _check_amount("spec.resources.disk_gb", res.disk_gb, 0, MAX_DISK_GB)

    img = spec.image
    check_id("spec.image.image_id", img.image_id, required=False)
    _check_enum("spec.image.hypervisor_type", img.hypervisor_type, hypervisor_pb2.HypervisorType)
    try:
        normalize_arch(img.architecture)
    except ValueError as e:
        raise _bad("spec.image.architecture", str(e)) from None
    try:
        normalize_vm_mode(img.vm_mode)
    except ValueError as e:
        raise _bad("spec.image.vm_mode", str(e)) from None
    _check_enum("spec.image.disk_format", img.disk_format, disk_pb2.DiskFormat)
    _check_enum("spec.image.vmware_disktype", img.vmware_disktype, disk_pb2.VmwareDiskType)
    _check_formats("spec.image.available_disk_formats", img.available_disk_formats)
    _check_formats("spec.image.producible_disk_formats", img.producible_disk_formats)
    _check_amount("spec.image.min_ram", img.min_ram, 0, MAX_MEMORY_MB)
    _check_amount("spec.image.min_disk", img.min_disk, 0, MAX_DISK_GB)
    if res.memory_mb < img.min_ram:
        raise _bad(
            "spec.resources.memory_mb",
            f"{res.memory_mb} MiB is below the image's min_ram of {img.min_ram} MiB",
        )
    if 0 < res.disk_gb < img.min_disk:
        raise _bad(
            "spec.resources.disk_gb",
            f"{res.disk_gb} GiB is below the image's min_disk of {img.min_disk} GiB",
        )
    if img.hypervisor_version_requires:
        if len(img.hypervisor_version_requires) > 100:
            raise _bad("spec.image.hypervisor_version_requires", "is longer than 100 characters")
        try:
            VersionPredicate.parse(img.hypervisor_version_requires)
        except ValueError as e:
            raise _bad("spec.image.hypervisor_version_requires", str(e)) from None

    if len(spec.availability_zone) > MAX_ID:
        raise _bad("spec.availability_zone", f"is longer than {MAX_ID} characters")
    hints = spec.hints
    check_id("spec.hints.force_host", hints.force_host, required=False)
    _check_ids("spec.hints.same_host", hints.same_host)
    _check_ids("spec.hints.different_host", hints.different_host)
    _check_ids("spec.hints.ignore_hosts", hints.ignore_hosts)
    _check_enum("spec.hints.hypervisor_type", hints.hypervisor_type, hypervisor_pb2.HypervisorType)
    if hints.HasField("server_group"):
        group = hints.server_group
        check_id("spec.hints.server_group.id", group.id)
        _check_enum(
            "spec.hints.server_group.policy",
            group.policy,
            server_group_pb2.ServerGroupPolicy,
            allow_unspecified=False,
        )
        _check_ids("spec.hints.server_group.members", group.members)
    needs = spec.requires
    _check_enum("spec.requires.console_type", needs.console_type, hypervisor_pb2.ConsoleType)
    if len(needs.capabilities) > 50:
        raise _bad("spec.requires.capabilities", "has more than 50 entries")
    if len(needs.networks) > 50:
        raise _bad("spec.requires.networks", "has more than 50 entries")
    for i, net in enumerate(needs.networks):
        if not net.physical_network:
            raise _bad(f"spec.requires.networks[{i}]", "names no physical network")
    for i, name in enumerate(needs.capabilities):
        if not name or len(name) > 63:
            raise _bad(f"spec.requires.capabilities[{i}]", "names are 1 to 63 characters")
    if len(spec.extra_specs) > 100:
        raise _bad("spec.extra_specs", "has more than 100 entries")
    for key, value in spec.extra_specs.items():
        if not key or len(key) > MAX_ID or len(value) > MAX_ID:
            raise _bad(f"spec.extra_specs[{key[:40]!r}]", "keys and values: 1 to 255 characters")


def page_size(value: int) -> int:
    if value < 0 or value > MAX_PAGE:
        raise _bad("page_size", f"must be between 0 and {MAX_PAGE}")
    return value or DEFAULT_PAGE


def encode_page_token(last: str) -> str:
    return page_tokens.encode_page_token(last) if last else ""


def decode_page_token(token: str) -> str:
    (after,) = page_tokens.decode_page_token(token) or ("",)
    return after
