"""Root disk provisioning from the image's vmware_disktype, read back on the VM's FlatVer2
backing in vcsim (which keeps thinProvisioned / eagerlyScrub as the spec gives them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVmomi import vim
from vmware_fixtures import Direct, datastore_dir, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.image_store import BASE_TAG_KEY, image_key
from polyvisor.agent_vmware.provisioning import Provisioning, root_provisioning
from polyvisor.agentkit.driver import InstanceSpec, LocalImage, SpawnFailed
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint


@pytest.fixture
def driver(vcsim_endpoint: VcsimEndpoint, folder: str) -> Iterator[VmwareDriver]:
    d = VmwareDriver(
        options_for(vcsim_endpoint, folder=folder, image_cache_folder=f"cache-{folder}")
    )
    d.start(wait=30)
    try:
        yield d
    finally:
        for inst in d.list_instances():
            d.destroy(inst.server_id)
        d.close()


def spec_for(image: LocalImage) -> InstanceSpec:
    return InstanceSpec(
        server_id=str(uuid.uuid4()),
        name="db-1",
        hostname="db-1",
        vcpus=1,
        memory_mb=128,
        disk_gb=0,
        image=image,
    )


def test_root_provisioning_follows_nova() -> None:
    assert root_provisioning("sparse") is Provisioning.THIN
    assert root_provisioning("streamOptimized") is Provisioning.THIN
    assert root_provisioning("thin") is Provisioning.THIN
    assert root_provisioning("preallocated") is Provisioning.THICK
    assert root_provisioning("") is Provisioning.THICK
    assert root_provisioning("eagerZeroedThick") is Provisioning.EAGER_ZEROED_THICK
    with pytest.raises(ValueError, match="eagerZeroedThick"):
        root_provisioning("thik")


@pytest.mark.parametrize(
    ("source", "disktype", "thin", "eager"),
    [
        ("raw", "thin", True, False),
        ("raw", "preallocated", False, False),
        ("raw", "eagerZeroedThick", False, True),
        ("sparse", "sparse", True, False),
        ("streamOptimized", "streamOptimized", True, False),
    ],
)
def test_root_disk_backing_is_provisioned_as_the_image_asks(
    driver: VmwareDriver,
    direct: Direct,
    vcsim: Vcsim,
    images: dict[str, Path],
    source: str,
    disktype: str,
    thin: bool,
    eager: bool,
) -> None:
    image = local_image(images[source], f"img-{disktype}", disk_format="vmdk", disktype=disktype)
    spec = spec_for(image)
    driver.spawn(spec)
    vm = direct.vm_by_tag(spec.server_id)
    assert vm is not None
    (disk,) = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    assert isinstance(disk.backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo)
    assert (disk.backing.thinProvisioned, disk.backing.eagerlyScrub) == (thin, eager)
    # the VM names the base disk it was copied from (what the image cache sweep reads)
    assert Direct.extra(vm)[BASE_TAG_KEY] == image_key(image)
    # the base's descriptor says thin for a thin image (ESXi's own marker), and the VM's disk
    # holds the image's bytes whatever the provisioning
    folder = f"cache-{driver.options.folder}"
    ds = datastore_dir(vcsim.data_dir)
    key = image_key(image)
    descriptor = (ds / folder / key / f"{key}.vmdk").read_text()
    assert ('ddb.thinProvisioned = "1"' in descriptor) == thin
    flat = (ds / spec.server_id / f"{spec.server_id}-flat.vmdk").read_bytes()
    raw = images["raw"].read_bytes()
    assert flat[: len(raw)] == raw


def test_an_unknown_vmdk_subformat_is_refused(
    driver: VmwareDriver, images: dict[str, Path]
) -> None:
    image = local_image(images["raw"], "img-odd", disk_format="vmdk", disktype="monolithicFlat")
    with pytest.raises(SpawnFailed, match="thin, eagerZeroedThick"):
        driver.spawn(spec_for(image))
