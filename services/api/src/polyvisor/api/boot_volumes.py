"""Booting a server from a volume (CreateServer with `boot_volume_id`): the volume is reserved
for the new server as its root disk before the server is inserted, through the same volume
service calls as AttachVolume (`VolumeClient.reserve`, `complete`, `remove`).

The volume service refuses another project's volume (NOT_FOUND) and one that is not available
or in use without multi-attach (FAILED_PRECONDITION). The attachment is confirmed at once
(the volume is in-use, attached to the server, from the moment the server exists); the server
is then placed only on hosts that report the capability of the volume's backend kind
(``volume_file``, ``volume_rbd``, ...) and ``boot_volume``, and its spawn command carries the
volume's connection instead of an image. A create that does not go through gives the volume
back. Deleting the server detaches the volume and keeps it (available), or deletes it when the
create asked for that (`boot_volume_delete_on_termination`, Nova's delete_on_termination of the
boot volume, recorded on the attachment as for AttachVolume): the orchestrator's
`ReleaseVolumes`, as for every attached volume, once the server is gone from its host.

What would copy, grow or replace the root disk on a host is refused for such a server
(`refuse_for_volume_root`: rebuild, resize, cold and live migration, shelve): the volume's
bytes are the volume service's, and those actions work on a host's own disk.
"""

from __future__ import annotations

from polyvisor.api import validation
from polyvisor.api.clients.volume import VolumeClient
from polyvisor.api.spawnspec import RootVolume, SpawnSpec
from polyvisor.common.errors import FailedPrecondition, InvalidArgument, PolyvisorError
from polyvisor.common.logging import get_logger

__all__ = ["BootVolumes", "image_or_volume", "refuse_for_volume_root"]

log = get_logger(__name__)


def image_or_volume(
    image_id: str, boot_volume_id: str, max_count: int, *, delete_on_termination: bool = False
) -> tuple[str, str]:
    """(image id, boot volume id) of a create: exactly one of them, validated."""
    image_id, boot_volume_id = image_id.strip(), boot_volume_id.strip()
    if delete_on_termination and not boot_volume_id:
        raise InvalidArgument(
            "server.boot_volume_delete_on_termination needs server.boot_volume_id: a server "
            "booted from an image has no boot volume",
            {"field": "server.boot_volume_delete_on_termination"},
        )
    if image_id and boot_volume_id:
        raise InvalidArgument(
            "give server.image_id or server.boot_volume_id, not both: a server boots from "
            "an image or from a volume",
            {"field": "server.boot_volume_id"},
        )
    if not boot_volume_id:
        return validation.required(image_id, "server.image_id"), ""
    if max_count > 1:
        raise InvalidArgument(
            "a volume is the root disk of one server: create one server with boot_volume_id",
            {"field": "max_count"},
        )
    return "", validation.required(boot_volume_id, "server.boot_volume_id")


def refuse_for_volume_root(spec: SpawnSpec | None, server_id: str, action: str) -> None:
    """FAILED_PRECONDITION when the server boots from a volume: `action` works on a root disk
    of the host's own."""
    if spec is not None and spec.root_volume is not None:
        raise FailedPrecondition(
            f"server {server_id} boots from volume {spec.root_volume.volume_id}: it cannot be "
            f"{action} (its root disk is the volume, not a disk of its host)",
            {"server_id": server_id, "volume_id": spec.root_volume.volume_id},
        )


class BootVolumes:
    """The reservation of a new server's root volume in the volume service."""

    def __init__(self, volumes: VolumeClient | None) -> None:
        self.volumes = volumes

    def _client(self) -> VolumeClient:
        if self.volumes is None:
            raise FailedPrecondition(
                "this cloud has no volume service: a server cannot boot from a volume",
                {"field": "server.boot_volume_id"},
            )
        return self.volumes

    async def reserve(
        self,
        volume_id: str,
        server_id: str,
        project_id: str,
        hypervisor_type: str = "",
        *,
        delete_on_termination: bool = False,
    ) -> RootVolume:
        """Reserve `volume_id` as the root disk of the server about to be created, attached
        (in-use) at once. `hypervisor_type`: the create's hint, if any (the volume's type must
        allow it); none: the server's placement on a host of the backend kind decides.
        `delete_on_termination`: the volume goes with the server."""
        volumes = self._client()
        conn = await volumes.reserve(
            volume_id,
            server_id,
            project_id,
            "",
            hypervisor_type,
            root=True,
            delete_on_termination=delete_on_termination,
        )
        try:
            await volumes.complete(volume_id, server_id)
        except PolyvisorError:
            await self.give_back(volume_id, server_id)
            raise
        log.info("boot volume reserved", volume_id=volume_id, server_id=server_id, kind=conn.kind)
        return RootVolume(conn.volume_id, conn.kind, dict(conn.attrs))

    async def give_back(self, volume_id: str, server_id: str) -> None:
        """The create did not go through: the volume is available again."""
        await self._client().remove(volume_id, server_id)
