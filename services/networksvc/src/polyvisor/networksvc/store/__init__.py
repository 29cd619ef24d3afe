"""All SQL of the network service (schema `network`).

IPAM is atomic in PostgreSQL, without retries:

- a subnet whose allocation pools hold at most `MATERIALISE_LIMIT` addresses gets one row per
  pool address in `ip_addresses` when it is created (port_id NULL: free). Handing out "any
  free address" is one statement: lock the lowest free row nobody else has locked
  (`FOR UPDATE SKIP LOCKED`) and give it the port. Concurrent creates skip each other's rows
  instead of waiting or colliding, so N concurrent creates take N distinct addresses, and when
  no free row is left the answer is an immediate "no free address";
- a larger subnet (an IPv6 /64) is sparse: a random pool address is claimed with
  `INSERT .. ON CONFLICT DO UPDATE .. WHERE port_id IS NULL` (a collision, improbable in such
  a pool, tries another address, a bounded number of times);
- a specific address is claimed the same way (the row may be a free pool row, a free row
  outside the pools, or new); a row held by a port is never taken.

Freeing is the port's delete: `port_id` goes back to NULL (ON DELETE SET NULL).

Security group membership changes and rule changes lock the group rows (in id order, always
after any address rows), bump their revision and write the whole new member and rule set as
an event, in the same transaction: events of one group are totally ordered by revision.
"""

from __future__ import annotations

from polyvisor.networksvc.store.bindings import BindingQueries
from polyvisor.networksvc.store.groups import GroupQueries
from polyvisor.networksvc.store.networks import NetworkQueries
from polyvisor.networksvc.store.outbox import OutboxQueries
from polyvisor.networksvc.store.rows import EventEncoder, NetworkDraft, PortDraft, SubnetDraft

__all__ = ["EventEncoder", "NetworkDraft", "PortDraft", "Store", "SubnetDraft"]


class Store(NetworkQueries, BindingQueries, GroupQueries, OutboxQueries):
    """All SQL of the service over one pool: one query class per table family (networks and
    subnets, ports with their addresses, bindings, security groups, the outbox)."""
