"""The image cache sweep on vCenter: list the base folders, read which are in use, act
(`image_cache` has the rules and the loop)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from functools import partial

from pyVmomi import vim

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.driver_core import _extra, log
from polyvisor.agent_vmware.driver_registry import Registry
from polyvisor.agent_vmware.image_cache import SweepPlan, SweepReport, marker, plan_sweep
from polyvisor.agent_vmware.image_store import BASE_TAG_KEY
from polyvisor.agent_vmware.inventory import Placement, cluster_datastores
from polyvisor.agent_vmware.props import container_view, retrieve_one
from polyvisor.agent_vmware.session import Conn

__all__ = ["ImageCacheSweeping"]


class ImageCacheSweeping(Registry):
    def sweep_image_cache(
        self, now: float | None = None, stop: threading.Event | None = None
    ) -> SweepReport:
        """One sweep of the cached base disks on the cluster's datastores (``now``: the wall
        clock, as Unix seconds; ``stop`` set: end after the call under way)."""
        report = SweepReport()
        max_age = self.options.image_cache_max_age_s
        if max_age <= 0:
            return report
        now = time.time() if now is None else now
        conn, place = self._ready()
        with self._guard(conn):
            in_use = self._bases_in_use(conn, place)
            recent = self.images.used_within(now, max_age)
            stores = cluster_datastores(conn.content, place, self.options.datastore_regex)
            for ds, facts in stores:
                if stop is not None and stop.is_set():
                    break
                if not facts.accessible:
                    continue
                entries = self._cached_bases(conn, ds, facts.name)
                used = in_use | {k for d, k in recent if d == facts.name}
                plan = plan_sweep(entries, used, now, max_age)
                report.in_use.extend((facts.name, k) for k in sorted(entries) if k in used)
                self._apply(conn, place, facts.name, plan, now, report, stop)
        if report.deleted or report.marked:
            log.info(
                "image cache swept",
                deleted=[f"[{d}] {k}" for d, k in report.deleted],
                marked=len(report.marked),
                in_use=len(report.in_use),
            )
        return report

    def _bases_in_use(self, conn: Conn, place: Placement) -> set[str]:
        """The base keys the datacenter's VMs name (any agent's: datastores may be shared)."""
        vms = container_view(
            conn.content, place.datacenter, vim.VirtualMachine, ["config.extraConfig"]
        )
        return {key for _, p in vms if (key := _extra(p).get(BASE_TAG_KEY, ""))}

    def _cached_bases(self, conn: Conn, ds: vim.Datastore, name: str) -> dict[str, list[str]]:
        """key -> the folders inside it, of every base folder in the cache folder of ``ds``."""
        browser = (retrieve_one(conn.content, ds, ["browser"]) or {}).get("browser")
        if browser is None:
            return {}
        top = self.options.image_cache_folder.strip("/")
        spec = vim.host.DatastoreBrowser.SearchSpec(
            matchPattern=["*"], query=[vim.host.DatastoreBrowser.FolderQuery()]
        )
        try:
            results = self._wait(
                conn,
                browser.SearchDatastoreSubFolders_Task(
                    datastorePath=specs.datastore_path(name, top), searchSpec=spec
                ),
            )
        except vim.fault.FileNotFound:
            return {}  # no cache folder yet
        entries: dict[str, list[str]] = defaultdict(list)
        for result in results or ():
            _, path = specs.split_datastore_path(str(result.folderPath))
            inside = path.strip("/")[len(top) :].strip("/")
            folders = [str(f.path).strip("/") for f in result.file or ()]
            if not inside:
                for f in folders:
                    entries.setdefault(f, [])
            elif "/" not in inside:
                entries[inside].extend(folders)
        return dict(entries)

    def _apply(
        self,
        conn: Conn,
        place: Placement,
        datastore: str,
        plan: SweepPlan,
        now: float,
        report: SweepReport,
        stop: threading.Event | None,
    ) -> None:
        top = self.options.image_cache_folder.strip("/")
        fm = conn.content.fileManager

        def path(*parts: str) -> str:
            return specs.datastore_path(datastore, "/".join((top, *parts)))

        def delete(p: str) -> None:
            try:
                self._wait(conn, fm.DeleteDatastoreFile_Task(name=p, datacenter=place.datacenter))
            except (vim.fault.FileNotFound, vim.fault.CannotDeleteFile):
                pass  # gone already (another replica, or an operator)

        for key, name in plan.unmark:
            delete(path(key, name))
            report.unmarked.append((datastore, key))
        for key in plan.mark:
            try:
                fm.MakeDirectory(
                    name=path(key, marker(now)), datacenter=place.datacenter,
                    createParentDirectories=False,
                )  # fmt: skip
            except vim.fault.FileAlreadyExists:
                pass
            report.marked.append((datastore, key))
        for key in plan.delete:
            if stop is not None and stop.is_set():
                return
            self.images.retire(datastore, key, partial(delete, path(key)))
            report.deleted.append((datastore, key))
