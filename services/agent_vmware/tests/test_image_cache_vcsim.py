"""The datastore image cache sweep: unused base disks marked, then deleted once unused for the
age; a base a VM names never deleted; the sweep loop stops cleanly. The clock is injected: a
sweep is called with the Unix time it should believe, no test waits for an age to pass."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from vmware_fixtures import datastore_dir, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.image_cache import CacheSweeper, marker, plan_sweep
from polyvisor.agent_vmware.image_store import image_key
from polyvisor.agentkit.driver import InstanceSpec, LocalImage, PowerState
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint

AGE = 100.0
DS = "LocalDS_0"


@pytest.fixture
def driver(vcsim_endpoint: VcsimEndpoint, folder: str) -> Iterator[VmwareDriver]:
    d = VmwareDriver(
        options_for(
            vcsim_endpoint,
            folder=folder,
            image_cache_folder=f"cache-{folder}",
            image_cache_max_age_s=AGE,
            datastore_regex=f"^{DS}$",
        )
    )
    d.start(wait=30)
    try:
        yield d
    finally:
        for inst in d.list_instances():
            d.destroy(inst.server_id)
        d.close()


def spec_for(image: LocalImage) -> InstanceSpec:
    sid = str(uuid.uuid4())
    return InstanceSpec(sid, "c-1", "c-1", 1, 128, 0, image=image)


def test_plan_marks_then_deletes_and_spares_what_is_used() -> None:
    entries = {"a": [], "b": [marker(1000)], "c": [marker(1000)], "d": ["ts-x", marker(50)]}
    plan = plan_sweep(entries, {"c"}, now=1100, max_age_s=100)
    assert plan.mark == ("a",)
    assert plan.unmark == (("c", "ts-1000"),)
    assert plan.delete == ("d",)  # b is exactly 100 s old: kept until it is older
    assert plan_sweep(entries, {"a", "b", "c", "d"}, 10**9, 100).delete == ()


def test_unused_bases_are_deleted_after_the_age_and_used_ones_never(
    driver: VmwareDriver, vcsim: Vcsim, images: dict[str, Path]
) -> None:
    kept = local_image(images["streamOptimized"], "img-kept")
    gone = local_image(images["sparse"], "img-gone", disktype="sparse")
    keeper = spec_for(kept)
    driver.spawn(keeper)
    passing = spec_for(gone)
    driver.spawn(passing)
    driver.destroy(passing.server_id)
    cache = datastore_dir(vcsim.data_dir, DS) / driver.options.image_cache_folder
    kept_dir, gone_dir = cache / image_key(kept), cache / image_key(gone)
    assert kept_dir.is_dir() and gone_dir.is_dir()
    k_kept, k_gone = (DS, image_key(kept)), (DS, image_key(gone))

    t0 = float(int(time.time()))  # markers keep whole seconds
    # just handed to a spawn by this process: in use though no VM names it any more
    first = driver.sweep_image_cache(now=t0)
    assert set(first.in_use) == {k_kept, k_gone} and not first.marked and not first.deleted

    # the age later: no longer recent, and no VM names it: marked, not deleted
    second = driver.sweep_image_cache(now=t0 + AGE + 1)
    assert second.marked == [k_gone] and second.in_use == [k_kept] and not second.deleted
    assert (gone_dir / marker(t0 + AGE + 1)).is_dir()
    # a marker exactly the age old keeps it
    assert not driver.sweep_image_cache(now=t0 + 2 * AGE + 1).deleted

    third = driver.sweep_image_cache(now=t0 + 2 * AGE + 2)
    assert third.deleted == [k_gone] and third.in_use == [k_kept]
    assert not gone_dir.exists()
    assert (kept_dir / f"{image_key(kept)}-flat.vmdk").is_file()  # named by a VM: never gone

    # the image spawns again: uploaded again, its VM names it, the marker of a base back in
    # use is removed
    uploads = driver.images.uploads
    again = spec_for(gone)
    assert driver.spawn(again).power_state == PowerState.RUNNING
    assert driver.images.uploads == uploads + 1
    (kept_dir / marker(t0)).mkdir()  # as if it had once been unused
    fourth = driver.sweep_image_cache(now=t0 + 10 * AGE)
    assert set(fourth.in_use) == {k_kept, k_gone} and fourth.unmarked == [k_kept]
    assert not (kept_dir / marker(t0)).exists() and not fourth.deleted

    # age 0: the sweep does nothing
    driver.options = dataclasses.replace(driver.options, image_cache_max_age_s=0.0)
    assert driver.sweep_image_cache(now=t0 + 100 * AGE).deleted == []


async def test_the_sweep_loop_stops_cleanly() -> None:
    """Cancelled mid-sweep, the loop tells the sweep to stop and waits for it to end."""
    entered, ended = threading.Event(), threading.Event()
    seen: list[bool] = []

    def sweep(stop: threading.Event) -> None:
        entered.set()
        seen.append(stop.wait(10))
        ended.set()

    sweeper = CacheSweeper(sweep, interval_s=0.0)
    task = asyncio.create_task(sweeper.run())
    assert await asyncio.to_thread(entered.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended.is_set() and seen == [True]  # the sweep saw the stop and had ended


async def test_a_failed_sweep_is_retried_at_the_next_interval() -> None:
    calls = threading.Semaphore(0)

    def sweep(stop: threading.Event) -> None:
        calls.release()
        raise OSError("vCenter away")

    sweeper = CacheSweeper(sweep, interval_s=0.0)
    task = asyncio.create_task(sweeper.run())
    for _ in range(2):
        assert await asyncio.to_thread(calls.acquire, True, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sweeper.sweeps >= 1
