"""Moving a libvirt domain to another KVM host: live (the agentkit ``live_migrate``
capability) and cold (the ``resize_move`` capability: a resize, or a cold migration at the same
size, that hands the server to another host; confirmed or reverted like a resize).

Both reach the destination through its libvirtd only (never through a shared file system):

    live:    stage the destination's instance directory through its libvirtd (a transient
             ``dir`` storage pool: an empty root disk of the same size, the config drive and the
             serial log uploaded) -> ``virDomainMigrateToURI3`` peer to peer, live, with the
             disks copied by QEMU's block mirror (``VIR_MIGRATE_NON_SHARED_DISK``; not when
             the disks are on shared storage), the domain persisted there and undefined here
             -> this host's directory removed. Progress from ``virDomainGetJobStats``; an
             abort is ``virDomainAbortJob`` (the guest keeps running here, the staged
             directory there is removed).
    cold:    stop -> the root disk flattened (its base image folded in) and grown to the new
             size -> uploaded with the rest of the directory -> defined there with the new
             vCPUs and memory, started if it ran. The stopped domain and its files stay here
             until the move is confirmed (``confirm_resize`` here removes them) or reverted
             (``revert_resize_to`` on the destination removes its copy and starts this one).

The destination domain is this one with its paths moved to the destination's instance
directory, tagged with the destination's host id (so that agent owns it and this one no longer
does) and with a VNC port the destination picks (``autoport``).

Where a peer is, per host id: ``LibvirtConfig.migration_peers`` (the agent's
``POLYVISOR_MIGRATION_PEERS``): its libvirt URI, its instances directory and the address its
QEMU listens on for the migration stream. Servers with ports (NICs) are not moved yet: their
plumbing (bridge, tap, nftables) would have to be built on the destination first.

One concern: moving one domain to a peer, the live and the cold way and the cold move's
confirm and revert; what is done on the destination through its libvirtd is in
``migrate_staging``.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import libvirt

from polyvisor.agent_kvm.disks import DiskError, _run, qemu_img
from polyvisor.agent_kvm.domain_xml import METADATA_NS, domain_name, parse_metadata
from polyvisor.agent_kvm.libvirt_driver import LibvirtDriver, PortsLibvirtDriver
from polyvisor.agent_kvm.libvirt_errors import is_no_domain, mapped_errors, to_driver_error
from polyvisor.agent_kvm.libvirt_host import LibvirtHost, MigrationPeer
from polyvisor.agent_kvm.libvirt_power import PowerVerbs
from polyvisor.agent_kvm.lifecycle import power_of
from polyvisor.agent_kvm.migrate_staging import (
    as_qcow2,
    destination_xml,
    remove_peer_dir,
    staged_volume,
    staging_pool,
    upload,
)
from polyvisor.agent_kvm.resize import GiB, ResizeVerbs, _grow, resized_definition
from polyvisor.agent_kvm.snapshots import root_disk
from polyvisor.agentkit.driver import (
    DriverError,
    HypervisorUnavailable,
    Instance,
    InstanceNotFound,
)
from polyvisor.agentkit.migrate_capabilities import (
    MigrationProgress,
    MigrationTarget,
    ProgressCallback,
)
from polyvisor.agentkit.resize_capabilities import Size
from polyvisor.common.logging import get_logger

__all__ = [
    "MigrateVerbs",
    "MigratingLibvirtDriver",
    "MigratingPortsLibvirtDriver",
    "MigrationPeer",
    "destination_xml",
]

log = get_logger(__name__)

_MOVED = "moved.json"  # here, after a cold move: {"was_running", "dest"}
_MOVED_FROM = "moved-from.json"  # there, after a cold move: {"was_running", "source"}
_FLAT = ".moving"  # the flattened root disk being uploaded
_NOT_COPIED = (".pre-resize", "pre-resize.xml", "pre-resize.json", _MOVED, _FLAT)
_PROGRESS_PERIOD_S = 0.5


class MigrateVerbs(LibvirtHost):
    """The ``live_migrate`` and ``resize_move`` capabilities, mixed into the drivers the agent
    runs (``resize``); a cold move's confirm is ``confirm_resize`` here."""

    _migrations: dict[str, libvirt.virDomain]

    # ------------------------------------------------------------------ peers

    def _peer(self, host: str, uri: str = "") -> MigrationPeer:
        for p in self.config.migration_peers:
            if p.host_id == host:
                return MigrationPeer(host, uri or p.uri, p.instances_dir, p.address)
        if uri:
            return MigrationPeer(host, uri, self.instances_dir)
        raise DriverError(
            f"host {self.config.host_id} does not know how to reach host {host} (no migration "
            "peer of that name)"
        )

    @staticmethod
    def _open(peer: MigrationPeer) -> libvirt.virConnect:
        try:
            return libvirt.open(peer.uri)
        except libvirt.libvirtError as exc:
            raise HypervisorUnavailable(
                f"cannot reach host {peer.host_id} at {peer.uri}: {exc.get_error_message()}"
            ) from exc

    @staticmethod
    def _there(conn: libvirt.virConnect, server_id: str, host: str) -> libvirt.virDomain | None:
        """The server's domain on a peer, when it is tagged as that peer's."""
        try:
            dom = conn.lookupByName(domain_name(server_id))
        except libvirt.libvirtError as exc:
            if is_no_domain(exc):
                return None
            raise to_driver_error(exc, f"look up server {server_id} on host {host}") from exc
        tag = parse_metadata(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS))
        return dom if tag.host_id == host and tag.server_id == server_id else None

    @staticmethod
    def _seen(server_id: str, dom: libvirt.virDomain) -> Instance:
        with mapped_errors(f"read state of server {server_id}"):
            state, _ = dom.state(0)
            return Instance(server_id=server_id, power_state=power_of(dom, state), name=dom.name())

    def _stage(
        self,
        conn: libvirt.virConnect,
        dst_dir: Path,
        server_id: str,
        disk_name: str,
        *,
        disk_upload: Path | None,
        disk_capacity: int,
        extra: dict[str, object] | None = None,
    ) -> None:
        """The destination's directory: the root disk (uploaded, or empty of its size for a
        live block copy), the other files of this one's, ``extra`` as the move's marker."""
        src_dir = self.instance_dir(server_id)
        with staging_pool(conn, dst_dir) as pool:
            if disk_upload is not None:
                upload(conn, pool, disk_upload, disk_name)
            elif disk_capacity:
                staged_volume(pool, disk_name, disk_capacity, "qcow2")
            for f in sorted(src_dir.iterdir()):
                if f.name == disk_name or not f.is_file() or f.name.endswith(_NOT_COPIED):
                    continue
                upload(conn, pool, f, f.name)
            if extra is not None:
                marker = src_dir / f"{_MOVED_FROM}.tmp"
                marker.write_text(json.dumps(extra))
                try:
                    upload(conn, pool, marker, _MOVED_FROM)
                finally:
                    marker.unlink(missing_ok=True)

    # ------------------------------------------------------------------ live

    def live_migrate(
        self, server_id: str, dest: MigrationTarget, progress: ProgressCallback
    ) -> Instance:
        peer = self._peer(dest.host, dest.uri)
        if not hasattr(self, "_migrations"):
            self._migrations = {}
        with self._lock_for(server_id):
            conn = self._open(peer)
            try:
                return self._live(server_id, peer, dest.block, conn, progress)
            finally:
                conn.close()

    def _live(
        self,
        server_id: str,
        peer: MigrationPeer,
        block: bool,
        conn: libvirt.virConnect,
        progress: ProgressCallback,
    ) -> Instance:
        dom = self._find(server_id)
        if dom is None:
            there = self._there(conn, server_id, peer.host_id)
            if there is not None:  # moved already (the command delivered again)
                return self._seen(server_id, there)
            raise InstanceNotFound(f"no domain for server {server_id}")
        with mapped_errors(f"read server {server_id}"):
            if not dom.isActive():
                raise DriverError(
                    f"server {server_id} is not running: a live migration moves a running "
                    "server (migrate it cold)"
                )
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE)
        src_dir = self.instance_dir(server_id)
        dst_dir = peer.instances_dir / src_dir.name
        disk = root_disk(xml)
        dest_xml = destination_xml(xml, src_dir, dst_dir if block else src_dir, peer.host_id)
        flags = (
            libvirt.VIR_MIGRATE_LIVE
            | libvirt.VIR_MIGRATE_PERSIST_DEST
            | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
            | libvirt.VIR_MIGRATE_ABORT_ON_ERROR
        )
        params: dict[str, object] = {libvirt.VIR_MIGRATE_PARAM_DEST_XML: dest_xml}
        if block:
            with mapped_errors(f"read the disk size of server {server_id}"):
                capacity = dom.blockInfo(disk.target)[0]
            self._stage(
                conn, dst_dir, server_id, disk.path.name, disk_upload=None, disk_capacity=capacity
            )
            flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK
            params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = [disk.target]
        if peer.address:
            params[libvirt.VIR_MIGRATE_PARAM_URI] = f"tcp://{peer.address}"
        if self.config.migration_bandwidth_mib_s > 0:
            params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = self.config.migration_bandwidth_mib_s
        done = threading.Event()
        watcher = threading.Thread(
            target=self._report_progress,
            args=(dom, done, progress),
            name=f"migrate-progress:{server_id}",
            daemon=True,
        )
        self._migrations[server_id] = dom
        watcher.start()
        log.info("live migration started", server_id=server_id, dest=peer.host_id, block=block)
        try:
            dom.migrate3(conn, params, flags)
        except libvirt.libvirtError as exc:
            if block:
                remove_peer_dir(conn, dst_dir)
            raise DriverError(
                f"live migration of server {server_id} to host {peer.host_id} failed, it still "
                f"runs on {self.config.host_id}: {exc.get_error_message() or exc}"
            ) from exc
        finally:
            self._migrations.pop(server_id, None)
            done.set()
            watcher.join()
        if block:
            shutil.rmtree(src_dir, ignore_errors=True)
        there = self._there(conn, server_id, peer.host_id)
        if there is None:
            raise DriverError(f"server {server_id} migrated but is not found on {peer.host_id}")
        inst = self._seen(server_id, there)
        progress(MigrationProgress(1, 1))
        log.info("live migration done", server_id=server_id, dest=peer.host_id)
        return inst

    @staticmethod
    def _report_progress(
        dom: libvirt.virDomain, done: threading.Event, progress: ProgressCallback
    ) -> None:
        while not done.wait(_PROGRESS_PERIOD_S):
            try:
                stats = dom.jobStats(0)
            except libvirt.libvirtError:
                continue
            total = int(stats.get("data_total", 0))
            if total > 0:
                processed = min(int(stats.get("data_processed", 0)), total)
                if processed >= total:
                    processed = total - 1  # 100 % is when the destination runs it
                progress(MigrationProgress(processed, total))

    def abort_migration(self, server_id: str) -> bool:
        dom = getattr(self, "_migrations", {}).get(server_id)
        if dom is None:
            return False
        try:
            dom.abortJob()
        except libvirt.libvirtError as exc:
            raise to_driver_error(exc, f"abort the migration of server {server_id}") from exc
        log.info("live migration abort asked", server_id=server_id)
        return True

    # ------------------------------------------------------------------ cold

    def resize_to(self, server_id: str, size: Size, dest_host: str) -> Instance:
        peer = self._peer(dest_host)
        with self._lock_for(server_id):
            conn = self._open(peer)
            try:
                return self._cold(server_id, size, peer, conn)
            finally:
                conn.close()

    def _cold(
        self, server_id: str, size: Size, peer: MigrationPeer, conn: libvirt.virConnect
    ) -> Instance:
        dom = self._find(server_id)
        src_dir = self.instance_dir(server_id)
        marker = src_dir / _MOVED
        there = self._there(conn, server_id, peer.host_id)
        if dom is None:
            if there is not None:
                return self._seen(server_id, there)
            raise InstanceNotFound(f"no domain for server {server_id}")
        try:
            state = json.loads(marker.read_text())
        except FileNotFoundError:
            with mapped_errors(f"read server {server_id}"):
                state = {"was_running": bool(dom.isActive()), "dest": peer.host_id}
            marker.write_text(json.dumps(state))
        if there is None:
            with mapped_errors(f"stop server {server_id} for its move"):
                if dom.isActive():
                    if self.config.clean_shutdown_timeout_s > 0:
                        PowerVerbs._shutdown_cleanly(dom, self.config.clean_shutdown_timeout_s)
                    if dom.isActive():
                        dom.destroy()
                xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
            disk = root_disk(xml)
            dst_dir = peer.instances_dir / src_dir.name
            flat = disk.path.with_name(disk.path.name + _FLAT)
            try:
                _run(
                    [qemu_img(), "convert", "-q", "-f", disk.fmt, "-O", "qcow2",
                     str(disk.path), str(flat)]
                )  # fmt: skip
                _grow(flat, "qcow2", size.disk_gb * GiB)
                self._stage(
                    conn,
                    dst_dir,
                    server_id,
                    disk.path.name,
                    disk_upload=flat,
                    disk_capacity=0,
                    extra={"was_running": state["was_running"], "source": self.config.host_id},
                )
            except DiskError as exc:
                raise DriverError(f"move of server {server_id}: {exc}") from exc
            finally:
                flat.unlink(missing_ok=True)
            moved = resized_definition(xml, size.vcpus, size.memory_mb)
            moved = destination_xml(moved, src_dir, dst_dir, peer.host_id)
            moved = as_qcow2(moved, disk.target)
            with mapped_errors(f"define server {server_id} on host {peer.host_id}"):
                there = conn.defineXML(moved)
        if state["was_running"]:
            with mapped_errors(f"start server {server_id} on host {peer.host_id}"):
                if not there.isActive():
                    there.create()
        log.info("server moved cold", server_id=server_id, dest=peer.host_id)
        return self._seen(server_id, there)

    def confirm_resize(self, server_id: str) -> Instance:
        marker = self.instance_dir(server_id) / _MOVED
        if not marker.exists():
            return super().confirm_resize(server_id)  # type: ignore[misc, no-any-return]
        with self._lock_for(server_id):
            state = json.loads(marker.read_text())
            dom = self._find(server_id)
            if dom is not None:
                with mapped_errors(f"remove server {server_id} left after its move"):
                    if dom.isActive():
                        dom.destroy()
                    dom.undefine()
            shutil.rmtree(self.instance_dir(server_id), ignore_errors=True)
            log.info("move confirmed, the source copy removed", server_id=server_id)
            peer = self._peer(str(state.get("dest", "")))
            conn = self._open(peer)
            try:
                there = self._there(conn, server_id, peer.host_id)
                if there is None:
                    raise InstanceNotFound(f"server {server_id} is not on host {peer.host_id}")
                return self._seen(server_id, there)
            finally:
                conn.close()

    def revert_resize_to(self, server_id: str, size: Size, dest_host: str) -> Instance:
        """On the host a cold move brought the server to: back to ``dest_host`` (the source),
        whose stopped domain starts again as it was."""
        peer = self._peer(dest_host)
        with self._lock_for(server_id):
            conn = self._open(peer)
            try:
                back = self._there(conn, server_id, peer.host_id)
                if back is None:
                    raise DriverError(
                        f"server {server_id} has nothing kept on host {peer.host_id} to go back to"
                    )
                here_dir = self.instance_dir(server_id)
                try:
                    state = json.loads((here_dir / _MOVED_FROM).read_text())
                except (OSError, ValueError):
                    state = {"was_running": True}
                dom = self._find(server_id)
                if dom is not None:
                    with mapped_errors(f"remove server {server_id} from this host"):
                        if dom.isActive():
                            dom.destroy()
                        dom.undefine()
                shutil.rmtree(here_dir, ignore_errors=True)
                with mapped_errors(f"read server {server_id} on host {peer.host_id}"):
                    kept = root_disk(back.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).path.parent
                with staging_pool(conn, kept) as pool:
                    try:
                        pool.refresh(0)
                        pool.storageVolLookupByName(_MOVED).delete(0)
                    except libvirt.libvirtError as exc:
                        log.warning("move marker not removed", server_id=server_id, error=str(exc))
                if state.get("was_running", True):
                    with mapped_errors(f"start server {server_id} on host {peer.host_id}"):
                        if not back.isActive():
                            back.create()
                log.info("move reverted", server_id=server_id, to=peer.host_id)
                return self._seen(server_id, back)
            finally:
                conn.close()


class MigratingLibvirtDriver(MigrateVerbs, ResizeVerbs, LibvirtDriver):
    """The libvirt driver with the ``resize``, ``resize_move`` and ``live_migrate``
    capabilities."""


class MigratingPortsLibvirtDriver(MigrateVerbs, ResizeVerbs, PortsLibvirtDriver):
    """The same, plumbing ports."""
