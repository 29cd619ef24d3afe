"""Attachments: reserve a volume for a server, and move or remove the attachment (the
volume's status follows)."""

from __future__ import annotations

import uuid

from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, NotFound
from polyvisor.volumesvc.model import Attachment, Volume
from polyvisor.volumesvc.store.rows import Queries, as_uuid


class AttachmentQueries(Queries):
    async def reserve(self, volume_id: str, att: Attachment, multiattach: bool) -> Volume:
        """Add the attachment (ATTACHING) if the volume can take it; the volume after.

        Idempotent: the same server's attachment, there already, answers as done."""
        vid = uuid.UUID(volume_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT status FROM volume.volumes WHERE id = $1 FOR UPDATE", vid
                )
                if row is None:
                    raise NotFound(f"volume {volume_id} not found", {"volume_id": volume_id})
                others = await conn.fetch(
                    "SELECT server_id FROM volume.attachments WHERE volume_id = $1", vid
                )
                if any(o["server_id"] == att.server_id for o in others):
                    vol = await self._get(conn, volume_id)
                    assert vol is not None
                    return vol
                status = row["status"]
                if others and not multiattach:
                    raise FailedPrecondition(
                        f"volume {volume_id} is in use by server {others[0]['server_id']}"
                        " and its type does not allow multi-attach",
                        {"volume_id": volume_id, "server_id": others[0]["server_id"]},
                    )
                ok = ("available", "in-use") if multiattach else ("available",)
                if status not in ok:
                    raise FailedPrecondition(
                        f"volume {volume_id} is {status}: it cannot be attached now",
                        {"volume_id": volume_id, "status": status},
                    )
                await conn.execute(
                    "INSERT INTO volume.attachments (volume_id, server_id, host, hypervisor_type,"
                    " state, root, delete_on_termination) VALUES ($1, $2, $3, $4, 'attaching',"
                    " $5, $6)",
                    vid,
                    att.server_id,
                    att.host,
                    att.hypervisor_type,
                    att.root,
                    att.delete_on_termination,
                )
                if status == "available":
                    await conn.execute(
                        "UPDATE volume.volumes SET status = 'attaching' WHERE id = $1", vid
                    )
                vol = await self._event(conn, "attaching", volume_id, server_id=att.server_id)
        assert vol is not None
        return vol

    async def set_attachment(
        self, volume_id: str, server_id: str, state: str | None, event: str
    ) -> Volume:
        """Move the server's attachment to `state` (None: remove it); the volume's status
        follows (in-use while any attachment is attached, attaching/detaching while its only
        one is, available when none is left)."""
        vid = as_uuid(volume_id, "volume")
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                if (
                    await conn.fetchval(
                        "SELECT 1 FROM volume.volumes WHERE id = $1 FOR UPDATE", vid
                    )
                    is None
                ):
                    raise NotFound(f"volume {volume_id} not found", {"volume_id": volume_id})
                if state is None:
                    await conn.execute(
                        "DELETE FROM volume.attachments WHERE volume_id = $1 AND server_id = $2",
                        vid,
                        server_id,
                    )
                else:
                    done = await conn.execute(
                        "UPDATE volume.attachments SET state = $3 WHERE volume_id = $1"
                        " AND server_id = $2",
                        vid,
                        server_id,
                        state,
                    )
                    if done.endswith(" 0"):
                        raise FailedPrecondition(
                            f"volume {volume_id} is not attached to server {server_id}",
                            {"volume_id": volume_id, "server_id": server_id},
                        )
                states = [
                    r["state"]
                    for r in await conn.fetch(
                        "SELECT state FROM volume.attachments WHERE volume_id = $1", vid
                    )
                ]
                status = (
                    "available" if not states else "in-use" if "attached" in states else states[0]
                )
                await conn.execute(
                    "UPDATE volume.volumes SET status = $2 WHERE id = $1", vid, status
                )
                vol = await self._event(conn, event, volume_id, server_id=server_id)
        assert vol is not None
        return vol
