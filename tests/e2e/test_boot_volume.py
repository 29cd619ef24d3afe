"""Boot from a volume end to end through the `polyvisor` CLI on the dev stack, on the real KVM
host: a file volume made by the volume service gets a boot sector written into it from the
host, `server create --boot-volume` boots a guest from it (its serial console prints the
sector's line), and deleting the server leaves the volume available with its bytes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bootdisk import BANNER, boot_sector
from tests.e2e.stack import Stack, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

WAIT = ("--wait", "--wait-timeout", "300")


def run(stack: Stack, *args: str) -> Any:
    r = stack.cli(*args, "-f", "json", timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout) if r.stdout.strip() else None


def first_sector(path: Path, workdir: Path) -> bytes:
    out = workdir / f"{path.stem}.head"
    subprocess.run(
        ["qemu-img", "dd", "-f", "qcow2", "-O", "raw", f"if={path}", f"of={out}", "bs=512",
         "count=1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return out.read_bytes()[:512]


def test_a_boot_sector_guest_boots_from_a_volume_that_outlives_it(
    stack: Stack, workdir: Path
) -> None:
    admin = stack.admin
    r = stack.cli("login", "--username", admin["username"], f"--password={admin['password']}",
                  "--project", admin["project"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    kvm = eventually(
        lambda: [
            h for h in stack.cli_json("hypervisor", "list")
            if h["hypervisor_type"] in ("kvm", "qemu") and h["state"] == "up"
        ] or None,
        timeout=180,
        what="the KVM hypervisor up",
    )[0]  # fmt: skip
    if "e2e.bfv-tiny" not in {f["name"] for f in stack.cli_json("flavor", "list")}:
        stack.cli_json("flavor", "create", "e2e.bfv-tiny", "--vcpus", "1", "--ram", "64",
                       "--disk", "1")  # fmt: skip

    vol = run(stack, "volume", "create", "e2e-root", "--size", "1")
    [path] = list(stack.home.rglob(f"{vol['id']}.qcow2"))
    sector = workdir / "bfv.sector"
    sector.write_bytes(boot_sector())
    w = subprocess.run(
        ["qemu-io", "-n", "-f", "qcow2", "-c", f"write -s {sector} 0 512", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "wrote 512/512 bytes" in w.stdout, w.stdout + w.stderr

    s = run(stack, "server", "create", "e2e-bfv", "--boot-volume", "e2e-root", "--flavor",
            "e2e.bfv-tiny", "--hint", f"hypervisor_type={kvm['hypervisor_type']}", *WAIT)  # fmt: skip
    stack.created.add(s["id"])
    assert s["state"] == "ACTIVE" and not s.get("image_id")
    assert run(stack, "volume", "show", "e2e-root")["status"] == "in_use"
    eventually(
        lambda: (
            BANNER.strip().decode()
            in stack.cli("server", "console", "log", "e2e-bfv", timeout=60).stdout
            or None
        ),
        timeout=120,
        what="the boot sector's line on the serial console",
    )

    r = stack.cli("server", "delete", "e2e-bfv", *WAIT, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    stack.created.discard(s["id"])
    kept = eventually(
        lambda: (v := run(stack, "volume", "show", "e2e-root"))["status"] == "available" and v,
        timeout=120,
        what="the volume available again",
    )
    assert not kept.get("attachments")
    assert first_sector(path, workdir) == boot_sector()
    run(stack, "volume", "delete", "e2e-root")
