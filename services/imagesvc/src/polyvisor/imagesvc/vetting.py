"""Accept or refuse a file: the pure-Python inspector first, then qemu-img as a second opinion.

qemu-img only ever sees a file the inspector accepted, with the format pinned, and its view
must agree: same format, no backing file, no data file, the same vmdk sub-format with its
single extent being the file itself, the same virtual size. A qcow2 is then checked by
`qemu-img check` (sandboxed like `info`): any corruption or check error refuses it (leaked
clusters only waste space and are accepted).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from polyvisor.imagesvc.inspector import Inspection, Refusal, inspect_file
from polyvisor.imagesvc.qemu import QemuImg, QemuImgError, qemu_format, scrub_paths

__all__ = ["RULE_QEMU_IMG", "RULE_QEMU_IMG_CHECK", "vet_file"]

RULE_QEMU_IMG = "qemu-img-second-opinion"
RULE_QEMU_IMG_CHECK = "qemu-img-check"


def _disagree(message: str) -> Refusal:
    return Refusal(RULE_QEMU_IMG, message)


def check_qemu_info(info: dict[str, Any], inspection: Inspection, path: Path) -> None:
    """Refuse when qemu-img's view of the file differs from the inspector's."""
    expected = qemu_format(inspection.disk_format)
    if info.get("format") != expected:
        raise _disagree(f"qemu-img reads the file as {info.get('format')!r}, not {expected}")
    for key in ("backing-filename", "full-backing-filename", "backing-filename-format"):
        if key in info:
            raise _disagree("qemu-img sees a backing file")
    specific = info.get("format-specific") or {}
    data = specific.get("data") or {}
    if expected == "qcow2":
        if "data-file" in data:
            raise _disagree("qemu-img sees an external data file")
        if data.get("corrupt"):
            raise _disagree("qemu-img reports the qcow2 image corrupt")
        if data.get("encrypt"):
            raise _disagree("qemu-img reports the qcow2 image encrypted")
    if expected == "vmdk":
        if data.get("create-type") != inspection.vmdk_subformat:
            raise _disagree(
                f"qemu-img reads createType {data.get('create-type')!r}, "
                f"the inspector {inspection.vmdk_subformat!r}"
            )
        extents = data.get("extents") or []
        if len(extents) != 1 or Path(str(extents[0].get("filename", ""))) != path:
            names = [scrub_paths(str(e.get("filename"))) for e in extents]
            raise _disagree(f"qemu-img opens extents {names!r}, not only the file itself")
    virtual = info.get("virtual-size")
    expected_virtual = inspection.virtual_size
    if expected == "raw":  # qemu counts whole sectors
        expected_virtual = (expected_virtual + 511) // 512 * 512
    if virtual != expected_virtual:
        raise _disagree(
            f"qemu-img reads a virtual size of {virtual}, the inspector {inspection.virtual_size}"
        )


async def vet_file(
    path: Path, declared: str, *, max_virtual_size: int, qemu: QemuImg
) -> Inspection:
    """The inspection of an accepted file (`path` absolute); `Refusal` names the rule otherwise."""
    inspection = await asyncio.to_thread(inspect_file, path, declared, max_virtual_size)
    try:
        info = await qemu.info(path, declared)
    except QemuImgError as e:
        raise _disagree(f"qemu-img info failed: {e}") from e
    check_qemu_info(info, inspection, path)
    if inspection.disk_format == "qcow2":
        await _check_qcow2(path, qemu)
    return inspection


async def _check_qcow2(path: Path, qemu: QemuImg) -> None:
    try:
        report = await qemu.check(path, "qcow2")
    except QemuImgError as e:
        raise Refusal(RULE_QEMU_IMG_CHECK, f"qemu-img check failed: {e}") from e
    corruptions = int(report.get("corruptions", 0) or 0)
    errors = int(report.get("check-errors", 0) or 0)
    if corruptions or errors:
        raise Refusal(
            RULE_QEMU_IMG_CHECK,
            f"qemu-img check found {corruptions} corruptions and {errors} check errors",
        )
