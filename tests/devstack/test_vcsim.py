"""vcsim built from Debian's govmomi sources: the inventory the VMware tests rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from tests.fixtures.vcsim import Vcsim, VcsimEndpoint, build_vcsim


def _connect(endpoint: VcsimEndpoint, user: str | None = None, pwd: str | None = None):  # type: ignore[no-untyped-def]
    return SmartConnect(
        host=endpoint.host,
        port=endpoint.port,
        protocol="http",
        user=user or endpoint.username,
        pwd=pwd or endpoint.password,
        disableSslCertValidation=True,
    )


def _objects(si, kind):  # type: ignore[no-untyped-def]
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return list(view.view)
    finally:
        view.Destroy()


@pytest.fixture(scope="module")
def vcsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vcsim]:
    sim = Vcsim(tmp_path_factory.mktemp("vcsim"), username="polyvisor", password="s3cret",
                die_with_parent=True)  # fmt: skip
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def test_build_is_cached_by_source_hash() -> None:
    first = build_vcsim()
    assert first.is_file() and os.access(first, os.X_OK)
    assert build_vcsim() == first


def test_two_clusters_of_three_esxi_hosts(vcsim: Vcsim) -> None:
    endpoint = vcsim.endpoint
    assert endpoint is not None
    assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/sdk"
    si = _connect(endpoint)
    try:
        assert si.content.about.apiType == "VirtualCenter"
        clusters = sorted(_objects(si, vim.ClusterComputeResource), key=lambda c: c.name)
        assert [c.name for c in clusters] == ["DC0_C0", "DC0_C1"]
        for cluster in clusters:
            hosts = cluster.host
            assert len(hosts) == 3
            assert all(h.name.startswith(cluster.name + "_H") for h in hosts)
            assert all(h.runtime.connectionState == "connected" for h in hosts)
            assert all(h.summary.hardware.memorySize > 0 for h in hosts)
            assert cluster.resourcePool is not None
        # no standalone hosts: every ESXi host belongs to one of the clusters
        all_hosts = _objects(si, vim.HostSystem)
        assert len(all_hosts) == 6
        assert {h.parent.name for h in all_hosts} == {"DC0_C0", "DC0_C1"}
        # and no pre-made VMs: the clusters start empty
        assert _objects(si, vim.VirtualMachine) == []
    finally:
        Disconnect(si)


def test_datastore_mounted_on_every_host(vcsim: Vcsim) -> None:
    endpoint = vcsim.endpoint
    assert endpoint is not None
    si = _connect(endpoint)
    try:
        datastores = _objects(si, vim.Datastore)
        assert [d.name for d in datastores] == ["LocalDS_0"]
        ds = datastores[0]
        assert ds.summary.accessible
        assert ds.summary.capacity > 0 and ds.summary.freeSpace > 0
        assert len(ds.host) == 6
        for cluster in _objects(si, vim.ClusterComputeResource):
            assert [d.name for d in cluster.datastore] == ["LocalDS_0"]
    finally:
        Disconnect(si)
    # the datastore's files live under the fixture's root, not in the system temp dir
    assert any(vcsim.data_dir.iterdir())


def test_credentials_are_enforced(vcsim: Vcsim) -> None:
    endpoint = vcsim.endpoint
    assert endpoint is not None
    with pytest.raises(vim.fault.InvalidLogin):
        _connect(endpoint, user="polyvisor", pwd="wrong")


def test_stop_from_another_process_then_restart_on_the_same_port(tmp_path: Path) -> None:
    sim = Vcsim(tmp_path / "sim", die_with_parent=True)
    url, user, password = sim.start()
    assert (user, password) == ("user", "pass")
    first_pid = sim.pid
    # start() on a running instance (here: from a new object) returns the same endpoint
    assert Vcsim(tmp_path / "sim").start() == (url, user, password)
    assert sim.pid == first_pid
    # a crash, then start() from another object: back on the port clients know
    sim.kill()
    assert not sim.running()
    restarter = Vcsim(tmp_path / "sim", die_with_parent=True)
    again = restarter.start()
    assert again.url == url
    assert sim.running() and sim.pid != first_pid
    si = _connect(again)
    Disconnect(si)
    code = "import sys; from tests.fixtures.vcsim import Vcsim; s = Vcsim(sys.argv[1]); s.stop(); s.stop()"
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "sim")],
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert not sim.running()
    assert sim.endpoint is None
    assert not sim.info_file.exists() and not sim.pid_file.exists()
    sim.stop()  # idempotent
    restarter.stop()  # the process that started it reaps its child


def test_info_describes_the_inventory(vcsim: Vcsim) -> None:
    info = vcsim.info
    assert info is not None
    assert info["clusters"] == 2 and info["hosts_per_cluster"] == 3 and info["datastores"] == 1
    assert info["username"] == "polyvisor" and info["password"] == "s3cret"
    assert json.loads(vcsim.info_file.read_text())["pid"] == vcsim.pid
