"""Boot from an RBD clone beside boot from a copied qcow2, and rbd create beside file create.

    .venv/bin/python bench/ceph/run.py [--size-mib 1024] [--rounds 3] [--quick]

Starts a one-node Ceph (tests/fixtures/ceph.py) and uses the real libvirtd + QEMU
(qemu:///system; KVM when /dev/kvm exists, else TCG), then measures, in the same run:

- **boot from an RBD clone**: `rbd clone` of the image's protected snapshot (the KVM agent's
  disk mode `rbd`, `polyvisor.agent_kvm.rbd_disks`), define and start a domain whose root
  disk is that clone through QEMU's librbd, until the guest's line is on its serial port;
- **boot from a copied qcow2** (the baseline): copy the image's qcow2 file (as a host
  without shared storage must) into the instance's directory, define and start a domain on
  it, until the same line;
- **create**: `rbd create` of an empty volume of the image's size beside `qemu-img create
  -f qcow2` of a file of that size (the file backend's bare call).

The image: the boot sector (its line on the serial port, then halt) followed by half random
data and half zeros in 4 MiB blocks, `--size-mib` in all (1 GiB by default), so the copy
has real bytes to move. The one-time import of the image into RBD is printed too (a cost
paid once per image per cluster, not per boot). Each figure is the median of `--rounds`.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import libvirt  # noqa: E402

from polyvisor.agent_kvm.rbd_disks import RbdRootDisks  # noqa: E402
from tests.agent_kvm.boot_sector import BOOT_LINE, boot_sector  # noqa: E402
from tests.fixtures.ceph import CephCluster, ceph_unavailable  # noqa: E402
from tests.fixtures.libvirt import SYSTEM_URI, ensure_libvirtd  # noqa: E402

MiB = 1 << 20
BLOCK = 4 * MiB


def rbd_root(disks: RbdRootDisks, spec: str, serial: str) -> ET.Element:
    """The root disk on RBD, as the KVM agent makes it: its network <disk> at vda."""
    disk = disks.disk_element(spec)
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    ET.SubElement(disk, "serial").text = serial
    return disk


def make_image(path: Path, size: int) -> None:
    with path.open("wb") as f:
        first = bytearray(os.urandom(BLOCK))
        first[:512] = boot_sector()
        f.write(first)
        written = BLOCK
        i = 1
        while written < size:
            n = min(BLOCK, size - written)
            f.write(os.urandom(n) if i % 2 == 0 else bytes(n))
            written += n
            i += 1


def domain_xml(name: str, virt: str, disk: ET.Element, serial_log: Path) -> str:
    dom = ET.Element("domain", type=virt)
    ET.SubElement(dom, "name").text = name
    ET.SubElement(dom, "memory", unit="MiB").text = "64"
    ET.SubElement(dom, "vcpu").text = "1"
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64").text = "hvm"
    ET.SubElement(os_el, "boot", dev="hd")
    devices = ET.SubElement(dom, "devices")
    devices.append(disk)
    serial = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(serial, "source", path=str(serial_log))
    return ET.tostring(dom, encoding="unicode")


def file_disk(path: Path, fmt: str) -> ET.Element:
    disk = ET.Element("disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type=fmt, cache="none")
    ET.SubElement(disk, "source", file=str(path))
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    return disk


def boot(conn: libvirt.virConnect, xml: str, serial_log: Path, timeout: float = 180) -> None:
    dom = conn.createXML(xml, 0)  # transient: gone once destroyed
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if serial_log.exists() and BOOT_LINE in serial_log.read_bytes():
                return
            time.sleep(0.01)
        raise RuntimeError(f"no boot line after {timeout}s")
    finally:
        dom.destroy()


def timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="64 MiB, one round")
    args = ap.parse_args()
    if args.quick:
        args.size_mib, args.rounds = 64, 1
    size = args.size_mib * MiB
    reason = ceph_unavailable()
    if reason:
        print(f"bench/ceph: no one-node Ceph here: {reason}", file=sys.stderr)
        return 2
    ensure_libvirtd(SYSTEM_URI)
    virt = "kvm" if os.path.exists("/dev/kvm") else "qemu"
    work = Path(tempfile.mkdtemp(prefix="polyvisor-bench-ceph-", dir="/var/tmp"))
    work.chmod(0o755)
    cluster = CephCluster(work / "cluster", die_with_parent=True)
    conn = libvirt.open(SYSTEM_URI)
    disks: RbdRootDisks | None = None
    try:
        t = time.perf_counter()
        cluster.start()
        print(f"ceph: one mon, one mgr, one OSD up in {time.perf_counter() - t:.1f} s")
        raw = work / "image.raw"
        make_image(raw, size)
        qcow2 = work / "image.qcow2"
        subprocess.run(
            ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True
        )
        qcow2.chmod(0o644)
        qcow2_bytes = qcow2.stat().st_size
        disks = RbdRootDisks(str(cluster.conf), cluster.pool, "admin", str(cluster.keyring))
        disks.ensure_secret(conn)
        import_s = timed(lambda: disks.ensure_base(raw, os.urandom(16).hex()) and None)
        parent = next(
            f"{cluster.pool}/{n}@base"
            for n in json.loads(cluster.rbd("ls", "--format", "json", cluster.pool))
            if n.startswith("pv-base-")
        )
        print(
            f"image: {args.size_mib} MiB raw, qcow2 {qcow2_bytes / MiB:.0f} MiB; "
            f"one-time import into RBD {import_s:.2f} s; virt type {virt}"
        )

        clone_s: list[float] = []
        clone_only: list[float] = []
        copy_s: list[float] = []
        for r in range(args.rounds):
            # RBD clone
            name = f"pvbench-clone-{r}"
            spec = f"{cluster.pool}/{name}"
            log = work / f"{name}.log"

            def via_clone(spec: str = spec, name: str = name, log: Path = log) -> None:
                clone_only.append(timed(lambda: cluster.rbd("clone", parent, spec) and None))
                boot(
                    conn,
                    domain_xml(name, virt, rbd_root(disks, spec, name), log),
                    log,
                )  # type: ignore[union-attr]

            clone_s.append(timed(via_clone))
            cluster.rbd("rm", "--no-progress", spec)
            # copied qcow2
            name = f"pvbench-copy-{r}"
            inst = work / name
            inst.mkdir()
            inst.chmod(0o755)
            log = inst / "console.log"

            def via_copy(inst: Path = inst, name: str = name, log: Path = log) -> None:
                disk = inst / "disk.qcow2"
                shutil.copyfile(qcow2, disk)
                disk.chmod(0o644)
                boot(conn, domain_xml(name, virt, file_disk(disk, "qcow2"), log), log)

            copy_s.append(timed(via_copy))
            shutil.rmtree(inst)

        rbd_create: list[float] = []
        file_create: list[float] = []
        for r in range(max(3, args.rounds)):
            spec = f"{cluster.pool}/pvbench-vol-{r}"
            rbd_create.append(
                timed(
                    lambda spec=spec: (
                        cluster.rbd("create", "--size", f"{args.size_mib}M", spec) and None
                    )
                )  # type: ignore[misc]
            )
            cluster.rbd("rm", "--no-progress", spec)
            path = work / f"vol-{r}.qcow2"
            file_create.append(
                timed(
                    lambda path=path: (
                        subprocess.run(  # type: ignore[misc]
                            [
                                "qemu-img",
                                "create",
                                "-q",
                                "-f",
                                "qcow2",
                                str(path),
                                f"{args.size_mib}M",
                            ],
                            check=True,
                        )
                        and None
                    )
                )
            )
            path.unlink()

        result = {
            "bench": "ceph",
            "image_mib": args.size_mib,
            "rounds": args.rounds,
            "virt_type": virt,
            "rbd_import_once_s": round(import_s, 3),
            "boot_rbd_clone_s": round(statistics.median(clone_s), 3),
            "rbd_clone_only_s": round(statistics.median(clone_only), 3),
            "boot_copied_qcow2_s": round(statistics.median(copy_s), 3),
            "boot_rbd_clone_rounds_s": [round(x, 3) for x in clone_s],
            "boot_copied_qcow2_rounds_s": [round(x, 3) for x in copy_s],
            "rbd_create_s": round(statistics.median(rbd_create), 3),
            "qemu_img_create_s": round(statistics.median(file_create), 3),
        }
        print(
            f"boot from an RBD clone   {result['boot_rbd_clone_s']:.3f} s (median of {args.rounds})"
        )
        print(
            f"boot from a copied qcow2 {result['boot_copied_qcow2_s']:.3f} s "
            f"(copy of {qcow2_bytes / MiB:.0f} MiB included)"
        )
        print(
            f"create {args.size_mib} MiB: rbd create {result['rbd_create_s']:.3f} s, "
            f"qemu-img create -f qcow2 {result['qemu_img_create_s']:.3f} s"
        )
        print(json.dumps(result))
        return 0
    finally:
        conn.close()
        cluster.stop(remove=True)
        if disks is not None:
            subprocess.run(
                ["virsh", "-c", SYSTEM_URI, "secret-undefine", disks.secret_uuid],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
