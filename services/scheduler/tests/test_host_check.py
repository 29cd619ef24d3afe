"""CheckHost: one host against the image filters, nothing claimed (a rebuild's new image on
the host the server stays on)."""

from __future__ import annotations

from typing import Any

from scheduler_hosts import kvm_report, spec, vmware_report

from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import HvType, ImageRequirements
from polyvisor.scheduler.scheduling import Scheduler


def _scheduler() -> Scheduler:
    index = HostIndex(60.0, clock=lambda: 1000.0)
    index.apply_report(kvm_report("kvm-1", memory_mb=1024))
    index.apply_report(vmware_report("vc-1", [("esx-a", 16384, 0)]))
    store: Any = None  # nothing is claimed: the store is never used
    return Scheduler(index, store)


def test_a_host_that_runs_the_image_fits_whatever_its_free_room() -> None:
    s = _scheduler()
    # More RAM than kvm-1 has free: resources are the claim's business, not the image's.
    assert s.check_host(spec(memory_mb=8192, image=ImageRequirements("i1")), "kvm-1") is None
    vmware_image = ImageRequirements("i2", hypervisor_type=HvType.VMWARE)
    assert s.check_host(spec(image=vmware_image), "vc-1") is None


def test_a_host_that_cannot_run_the_image_is_refused_with_the_filter_and_its_reason() -> None:
    s = _scheduler()
    why = s.check_host(spec(image=ImageRequirements("img-v", hypervisor_type=HvType.VMWARE)),
                       "kvm-1")  # fmt: skip
    assert why is not None and why.total_hosts == 1
    (refused,) = [f for f in why.filters if f.hosts_removed]
    assert refused.name == "ImagePropertiesFilter"
    assert refused.examples[0].host == "kvm-1"
    assert refused.examples[0].reason == "hypervisor_type kvm does not match image's vmware"
    assert why.summary == (
        "1 host: 1 wrong hypervisor_type; kvm-1 cannot run image img-v: "
        "hypervisor_type kvm does not match image's vmware"
    )
    # Other hosts do not matter: vc-1 could run it, the check is about kvm-1 only.
    assert s.check_host(spec(image=ImageRequirements("img-v", hypervisor_type=HvType.VMWARE)),
                        "vc-1") is None  # fmt: skip


def test_an_unknown_host_is_refused() -> None:
    why = _scheduler().check_host(spec(image=ImageRequirements("i1")), "nowhere")
    assert why is not None and "not known" in why.summary
