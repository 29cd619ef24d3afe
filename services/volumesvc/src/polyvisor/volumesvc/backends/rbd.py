"""The ``rbd`` backend: each volume an image in a Ceph RBD pool, attached by the KVM agent as
a libvirt network disk (QEMU's own librbd; no kernel module). The backend for clouds that
outgrow one machine: any KVM host that reaches the cluster attaches any volume.

Options:

| option | meaning | default |
| --- | --- | --- |
| ``conf`` | the cluster's ceph.conf (the volume service's side) | ``/etc/ceph/ceph.conf`` |
| ``pool`` | the pool volumes live in | ``volumes`` |
| ``user`` | cephx user, without ``client.`` | ``admin`` |
| ``keyring`` | its keyring (empty: ceph.conf's) | empty |
| ``monitors`` | what agents connect to, ``host:port,...`` (messenger v1, or v2 on 3300) | required |
| ``secret_uuid`` | the libvirt ``ceph`` secret holding the user's key on the KVM hosts | required |

Names in the pool: ``volume-<id>`` (a volume), ``volume-<id>@snapshot-<id>`` (a snapshot,
protected, so volumes can be made from it). A volume from a snapshot is a clone of it,
flattened at once so the snapshot (and its volume) can be deleted later; a volume from an
image is the image's bytes converted to raw and imported. Both are made under a
``.part`` name and renamed once complete: a crash never leaves a half volume under a
volume's name.

Ceph is driven through the ``rbd`` and ``ceph`` CLIs (``polyvisor.common.rbd`` says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from polyvisor.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from polyvisor.common.procs import run_process
from polyvisor.common.rbd import Rbd, RbdBusy, RbdError, RbdNotFound, RbdTarget
from polyvisor.volumesvc.backends import register
from polyvisor.volumesvc.backends.base import (
    BackendCapacity,
    Connection,
    ImageSource,
    SnapshotRef,
    VolumeRef,
)
from polyvisor.volumesvc.backends.file import qemu_img

__all__ = ["RbdBackend"]

GIB = 1024**3
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_MONITOR = re.compile(r"^[A-Za-z0-9_.:\[\]-]+:\d{1,5}$")


def _mib(size_gb: int) -> str:
    return f"{size_gb * 1024}M"


class RbdBackend:
    kind = "rbd"

    def __init__(
        self,
        *,
        conf: str,
        pool: str,
        user: str,
        keyring: str,
        monitors: str,
        secret_uuid: str,
        scratch: Path | None = None,
    ) -> None:
        self.conf = conf
        self.pool = pool
        self.user = user
        self.keyring = keyring
        self.monitors = monitors
        self.secret_uuid = secret_uuid
        self.scratch = scratch
        self.rbd = Rbd(RbdTarget(conf, user, keyring))

    # ------------------------------------------------------------------ names

    def _volume(self, volume_id: str) -> str:
        return f"{self.pool}/volume-{volume_id}"

    def _snapshot(self, snapshot: SnapshotRef) -> str:
        return f"{self._volume(snapshot.volume_id)}@snapshot-{snapshot.id}"

    async def _call(self, what: str, *args: str, timeout: float = 3600.0) -> str:  # noqa: ASYNC109
        try:
            return await self.rbd.run(*args, timeout=timeout)
        except RbdNotFound:
            raise
        except RbdBusy as e:
            raise FailedPrecondition(f"{what}: in use ({e})") from e
        except RbdError as e:
            raise Unavailable(f"{what}: the Ceph cluster refused or did not answer: {e}") from e
        except TimeoutError as e:
            raise Unavailable(f"{what}: the Ceph cluster did not answer in time") from e

    async def _size(self, spec: str) -> int | None:
        try:
            info = json.loads(await self._call("read volume", "info", "--format", "json", spec))
        except RbdNotFound:
            return None
        return int(info["size"])

    async def _discard(self, spec: str) -> None:
        with contextlib.suppress(Exception):
            await self.rbd.remove(spec)

    # ------------------------------------------------------------------ volumes

    async def create(
        self,
        volume: VolumeRef,
        *,
        image: ImageSource | None = None,
        snapshot: SnapshotRef | None = None,
    ) -> str:
        if image is not None and snapshot is not None:
            raise InvalidArgument("a volume comes from an image or a snapshot, not both")
        if volume.size_gb <= 0:
            raise InvalidArgument(f"a volume needs a positive size, not {volume.size_gb} GiB")
        spec = self._volume(volume.id)
        have = await self._size(spec)
        if have is not None:
            if have != volume.size_gb * GIB:
                raise FailedPrecondition(
                    f"volume {volume.id} exists with {have} bytes, not {volume.size_gb} GiB"
                )
            return spec
        part = f"{spec}.part-{uuid.uuid4().hex[:8]}"
        try:
            if snapshot is not None:
                parent = snapshot.location or self._snapshot(snapshot)
                try:
                    await self._call("clone the snapshot", "clone", parent, part)
                except RbdNotFound as e:
                    raise FailedPrecondition(f"snapshot {snapshot.id} is gone") from e
                await self._call("flatten the new volume", "flatten", "--no-progress", part)
            elif image is not None:
                await self._import_image(image, part, volume)
            else:
                await self._call(
                    "create volume", "create", "--no-progress", "--size", _mib(volume.size_gb), part
                )
            size = await self._size(part) or 0
            if size > volume.size_gb * GIB:
                raise InvalidArgument(
                    f"the source needs {size} bytes, more than the volume's {volume.size_gb} GiB"
                )
            if size < volume.size_gb * GIB:
                await self._call(
                    "grow the new volume", "resize", "--no-progress", "--size",
                    _mib(volume.size_gb), part,
                )  # fmt: skip
            await self._call("name the new volume", "rename", part, spec)
        except BaseException:
            await asyncio.shield(self._discard(part))
            raise
        return spec

    async def _import_image(self, image: ImageSource, part: str, volume: VolumeRef) -> None:
        if image.virtual_size > volume.size_gb * GIB:
            raise InvalidArgument(
                f"image {image.image_id} is {image.virtual_size} bytes, more than the volume's "
                f"{volume.size_gb} GiB"
            )
        if image.disk_format == "raw":
            await self._call("import the image", "import", "--no-progress", str(image.path), part)
            return
        with tempfile.TemporaryDirectory(dir=self.scratch) as tmp:
            raw = Path(tmp) / "image.raw"
            await qemu_img(
                "convert", "-q", "-f", image.disk_format, "-O", "raw", str(image.path), str(raw)
            )
            await self._call("import the image", "import", "--no-progress", str(raw), part)

    async def delete(self, volume: VolumeRef) -> None:
        spec = volume.location or self._volume(volume.id)
        try:
            snaps = json.loads(
                await self._call("list snapshots", "snap", "ls", "--format", "json", spec)
            )
        except RbdNotFound:
            return
        if snaps:
            raise FailedPrecondition(
                f"volume {volume.id} has {len(snaps)} snapshot(s): delete them first"
            )
        try:
            await self._call("delete volume", "rm", "--no-progress", spec)
        except RbdNotFound:
            return

    async def extend(self, volume: VolumeRef, new_size_gb: int) -> None:
        spec = volume.location or self._volume(volume.id)
        have = await self._size(spec)
        if have is None:
            raise FailedPrecondition(f"volume {volume.id} has no storage")
        if new_size_gb * GIB < have:
            raise InvalidArgument(
                f"volume {volume.id} is {have // GIB} GiB; it cannot shrink to {new_size_gb} GiB"
            )
        if new_size_gb * GIB > have:
            await self._call(
                "extend volume", "resize", "--no-progress", "--size", _mib(new_size_gb), spec
            )

    # ------------------------------------------------------------------ snapshots

    async def create_snapshot(self, volume: VolumeRef, snapshot: SnapshotRef) -> str:
        spec = volume.location or self._volume(volume.id)
        snap = f"{spec}@snapshot-{snapshot.id}"
        try:
            snaps = json.loads(
                await self._call("list snapshots", "snap", "ls", "--format", "json", spec)
            )
        except RbdNotFound as e:
            raise FailedPrecondition(f"volume {volume.id} has no storage") from e
        mine = [s for s in snaps if s["name"] == f"snapshot-{snapshot.id}"]
        if not mine:
            await self._call("snapshot volume", "snap", "create", "--no-progress", snap)
        if not mine or mine[0].get("protected") not in ("true", True):
            await self._call("protect snapshot", "snap", "protect", snap)
        return snap

    async def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        snap = snapshot.location or self._snapshot(snapshot)
        try:
            await self._call("unprotect snapshot", "snap", "unprotect", snap)
        except RbdNotFound:
            return
        except Unavailable as e:
            if "not protected" not in str(e):
                raise
        try:
            await self._call("delete snapshot", "snap", "rm", "--no-progress", snap)
        except RbdNotFound:
            return

    # ------------------------------------------------------------------ attach, capacity

    def connection(self, volume: VolumeRef) -> Connection:
        spec = volume.location or self._volume(volume.id)
        pool, _, image = spec.partition("/")
        return Connection(
            "rbd",
            {
                "pool": pool,
                "image": image,
                "monitors": self.monitors,
                "user": self.user,
                "secret_uuid": self.secret_uuid,
            },
        )

    async def capacity(self) -> BackendCapacity:
        argv = ["ceph", "--conf", self.conf, "--id", self.user]
        if self.keyring:
            argv += ["--keyring", self.keyring]
        try:
            done = await run_process([*argv, "df", "--format", "json"], timeout=60)
        except TimeoutError as e:
            raise Unavailable("ceph df: the Ceph cluster did not answer in time") from e
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()[-300:]
            raise Unavailable(f"ceph df failed: {err}")
        out = done.stdout
        data = json.loads(out)
        total = int(data["stats"]["total_bytes"])
        free = next(
            (int(p["stats"]["max_avail"]) for p in data["pools"] if p["name"] == self.pool),
            int(data["stats"]["total_avail_bytes"]),
        )
        return BackendCapacity(total_gb=total // GIB, free_gb=free // GIB)


@register("rbd")
def _factory(options: Mapping[str, str]) -> RbdBackend:
    known = {"conf", "pool", "user", "keyring", "monitors", "secret_uuid", "scratch"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidArgument(f"rbd backend: unknown option(s) {', '.join(unknown)}")
    pool = options.get("pool", "volumes")
    user = options.get("user", "admin")
    for label, value in (("pool", pool), ("user", user)):
        if not _NAME.match(value):
            raise InvalidArgument(f"rbd backend: bad {label} {value!r}")
    monitors = options.get("monitors", "")
    if not monitors or not all(_MONITOR.match(m.strip()) for m in monitors.split(",")):
        raise InvalidArgument(
            f"rbd backend: monitors must be host:port[,host:port...], not {monitors!r}"
        )
    secret = options.get("secret_uuid", "")
    try:
        secret = str(uuid.UUID(secret))
    except ValueError as e:
        raise InvalidArgument(f"rbd backend: secret_uuid {secret!r} is not a UUID") from e
    scratch = options.get("scratch", "")
    return RbdBackend(
        conf=options.get("conf", "/etc/ceph/ceph.conf"),
        pool=pool,
        user=user,
        keyring=options.get("keyring", ""),
        monitors=monitors,
        secret_uuid=secret,
        scratch=Path(scratch) if scratch else None,
    )
