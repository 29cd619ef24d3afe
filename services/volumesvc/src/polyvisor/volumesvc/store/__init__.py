"""All SQL of the volume service (schema `volume`).

State changes are compare-and-set on the row's status (`UPDATE .. WHERE status = ANY(..)`), so
two calls racing on one volume never both act: the loser sees the new status and is refused.
Quotas are checked in the transaction that inserts, with the project's quota row locked, so
concurrent creates never overshoot. Every change writes its event to the outbox in the same
transaction.
"""

from __future__ import annotations

from polyvisor.volumesvc.store.attachments import AttachmentQueries
from polyvisor.volumesvc.store.outbox import OutboxQueries
from polyvisor.volumesvc.store.rows import EventEncoder, QuotaDefaults
from polyvisor.volumesvc.store.snapshots import SnapshotQueries
from polyvisor.volumesvc.store.volume_types import TypeQueries
from polyvisor.volumesvc.store.volumes import VolumeQueries

__all__ = ["EventEncoder", "QuotaDefaults", "Store"]


class Store(VolumeQueries, AttachmentQueries, SnapshotQueries, TypeQueries, OutboxQueries):
    """All SQL of the service over one pool: one query class per table family (volumes,
    attachments, snapshots, types, quotas, the outbox)."""
