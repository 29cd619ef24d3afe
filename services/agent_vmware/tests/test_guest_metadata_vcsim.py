"""Server metadata changed after the spawn, on vcsim: the ``meta`` of the VM's
guestinfo.metadata document is replaced (what cloud-init's VMware datasource reads), the rest
of the document kept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from vmware_fixtures import Direct, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.guestinfo import decode
from polyvisor.agentkit.capabilities import GuestMetadata
from polyvisor.agentkit.driver import InstanceNotFound, InstanceSpec
from tests.fixtures.vcsim import VcsimEndpoint


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


def _document(direct: Direct, server_id: str) -> dict[str, object]:
    vm = direct.vm_by_tag(server_id)
    assert vm is not None
    extra = Direct.extra(vm)
    return json.loads(decode(extra["guestinfo.metadata"], extra["guestinfo.metadata.encoding"]))


def test_set_metadata_replaces_the_meta_the_guest_reads(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    assert isinstance(driver, GuestMetadata)
    image = local_image(images["streamOptimized"], "img-meta")
    spec = InstanceSpec(str(uuid.uuid4()), "meta-1", "meta-1", 1, 256, 0, image=image)
    inst = driver.spawn(replace(spec, metadata={"role": "web"}))
    before = _document(direct, inst.server_id)
    assert before["meta"] == {"role": "web"}

    driver.set_metadata(inst.server_id, {"role": "db", "tier": "gold"})
    after = _document(direct, inst.server_id)
    assert after["meta"] == {"role": "db", "tier": "gold"}
    assert {k: v for k, v in after.items() if k != "meta"} == {
        k: v for k, v in before.items() if k != "meta"
    }
    driver.set_metadata(inst.server_id, {})
    assert "meta" not in _document(direct, inst.server_id)

    with pytest.raises(InstanceNotFound):
        driver.set_metadata(str(uuid.uuid4()), {"a": "b"})
