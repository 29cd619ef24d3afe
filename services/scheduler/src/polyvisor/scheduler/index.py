"""HostIndex: every known host as one row of numpy arrays, plus boolean masks per trait.

Filtering never walks hosts one by one. Discrete traits (hypervisor type, availability zone,
supported (architecture, hypervisor_type, vm_mode) triples and every partial pattern of them,
native disk formats, features, console types, capabilities) are kept as boolean masks keyed by value, so "hosts that run aarch64 kvm
images" is one dictionary lookup. Resources are (rows, 3) integer arrays in the column order
VCPU, MEMORY_MB, DISK_GB:

    free = capacity - used,     capacity = floor((total - reserved) * allocation_ratio)

`used` is what the database's allocations sum to (`db_used`, refreshed after every claim,
release, compare-and-swap conflict and periodic refresh) plus this replica's claims in flight
(`pending`), so two requests in the same process do not both pick the last slot.

For a cluster reporting its member hosts (a VMware cluster), max_unit comes from the
per-member detail (see `host_facts.effective_inventories`). A request that fits the cluster
total but exceeds this is rejected with its own explanation.

Row arrays have spare capacity (doubling); views `[:n]` are what filters see.

One concern: one columnar structure. Its row arrays, per-trait masks and pending claims grow
and change together (a new row, a report, a claim touch several at once), so the views and
the writes that keep them in step stay in one class; what a report is turned into before it
gets here (mask keys, enforced inventories) is in `host_facts`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from polyvisor.scheduler.host_facts import TraitKey, effective_inventories, host_trait_keys
from polyvisor.scheduler.model import (
    RESOURCE_CLASSES,
    HostCapabilities,
    HostReport,
    HvType,
    Inventory,
    ProviderRecord,
    Resources,
)
from polyvisor.scheduler.traits import version_key

__all__ = ["FIT32_MAX", "NO_LIMIT", "HostIndex", "TraitKey"]

#: max_unit meaning "no limit beyond capacity".
NO_LIMIT = np.int64(2**62)
#: The largest amount `HostIndex.fit_col32` tells apart.
FIT32_MAX = 2**31 - 1


class HostIndex:
    def __init__(
        self,
        host_timeout_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.time,
        initial_capacity: int = 64,
    ) -> None:
        self.host_timeout_s = host_timeout_s
        self.clock = clock
        self.n = 0
        self._cap = max(1, initial_capacity)
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.hostnames: list[str] = []
        self.caps: list[HostCapabilities] = []
        self.inventories: list[dict[str, Inventory]] = []
        self.disabled_reason: list[str] = []
        self._row_keys: list[set[TraitKey]] = []
        self._masks: dict[TraitKey, np.ndarray] = {}
        #: Per host, the last applied report's (agent_id, incarnation, sequence).
        self._report_seq: dict[str, tuple[str, str, int]] = {}
        c = self._cap
        self._hv_type = np.zeros(c, np.int8)
        self._hv_version = np.full(c, math.nan)
        self._enabled = np.zeros(c, bool)
        self._connected = np.zeros(c, bool)
        self._last_report = np.zeros(c)
        self._deadline = np.full(c, -math.inf)
        self._timeout = np.zeros(c)
        # Per resource class, column-major (3, capacity): one contiguous row per class.
        self._capacity = np.zeros((3, c), np.int64)
        self._db_used = np.zeros((3, c), np.int64)
        self._pending = np.zeros((3, c), np.int64)
        self._min_unit = np.ones((3, c), np.int64)
        self._max_unit = np.full((3, c), NO_LIMIT, np.int64)
        self._step = np.ones((3, c), np.int64)
        # Kept up to date on every change: free = capacity - db_used - pending, and
        # fit = min(free, max_unit), the largest amount one consumer can get now.
        self._free = np.zeros((3, c), np.int64)
        self._fit = np.zeros((3, c), np.int64)
        # fit clipped to int32: what the resources filter compares (half the bytes to read).
        self._fit32 = np.zeros((3, c), np.int32)
        # free as float64, what the weighers compute on (no int-to-float cast per request).
        self._free_f = np.zeros((3, c))
        # Rows whose min_unit or step_size is not 1 (rare: the filter skips those checks
        # when there are none).
        self._odd_units = np.zeros(c, bool)
        self._generation = np.zeros(c, np.int64)
        self._failures = np.zeros(c)
        #: Rows with failures != 0, ascending (few): computed when asked after a change.
        self._failure_rows: np.ndarray | None = None
        self._has_members = np.zeros(c, bool)
        #: Work arrays of one request's weighing (see `scratch`).
        self._scratch: list[np.ndarray] = []

    # ----- views (what filters and weighers read) -----

    @property
    def hv_type(self) -> np.ndarray:
        return self._hv_type[: self.n]

    @property
    def hv_version(self) -> np.ndarray:
        return self._hv_version[: self.n]

    @property
    def enabled(self) -> np.ndarray:
        return self._enabled[: self.n]

    @property
    def connected(self) -> np.ndarray:
        return self._connected[: self.n]

    @property
    def last_report(self) -> np.ndarray:
        return self._last_report[: self.n]

    @property
    def deadline(self) -> np.ndarray:
        return self._deadline[: self.n]

    @property
    def timeout(self) -> np.ndarray:
        return self._timeout[: self.n]

    # (rows, 3) views, indexed [row, col] or [:, col]:

    @property
    def capacity(self) -> np.ndarray:
        return self._capacity[:, : self.n].T

    @property
    def used(self) -> np.ndarray:
        return (self._db_used[:, : self.n] + self._pending[:, : self.n]).T

    @property
    def free(self) -> np.ndarray:
        return self._free[:, : self.n].T

    @property
    def min_unit(self) -> np.ndarray:
        return self._min_unit[:, : self.n].T

    @property
    def max_unit(self) -> np.ndarray:
        return self._max_unit[:, : self.n].T

    @property
    def step(self) -> np.ndarray:
        return self._step[:, : self.n].T

    @property
    def fit(self) -> np.ndarray:
        return self._fit[:, : self.n].T

    # one resource class, contiguous (the filters' and weighers' hot path):

    def free_col(self, col: int) -> np.ndarray:
        return self._free[col, : self.n]

    def free_col_f(self, col: int) -> np.ndarray:
        """`free_col` as float64 (the same values: they are far below 2**53)."""
        return self._free_f[col, : self.n]

    def fit_col(self, col: int) -> np.ndarray:
        """The largest amount of the class one more consumer can get on each host."""
        return self._fit[col, : self.n]

    def fit_col32(self, col: int) -> np.ndarray:
        """`fit_col` clipped to int32: `fit_col32(col) >= r` is `fit_col(col) >= r` for any
        0 < r <= FIT32_MAX, reading half the bytes."""
        return self._fit32[col, : self.n]

    @property
    def any_odd_units(self) -> bool:
        """True when some host has a min_unit or step_size other than 1."""
        return bool(self._odd_units[: self.n].any())

    def _recompute(self, row: int) -> None:
        free = self._capacity[:, row] - self._db_used[:, row] - self._pending[:, row]
        self._free[:, row] = free
        self._free_f[:, row] = free
        self._fit[:, row] = np.minimum(free, self._max_unit[:, row])
        # (np.minimum/np.maximum: np.clip's Python wrapper costs more than this whole method)
        self._fit32[:, row] = np.minimum(np.maximum(self._fit[:, row], -FIT32_MAX - 1), FIT32_MAX)

    @property
    def generation(self) -> np.ndarray:
        return self._generation[: self.n]

    @property
    def failures(self) -> np.ndarray:
        return self._failures[: self.n]

    @property
    def failure_rows(self) -> np.ndarray:
        """The rows whose failures are not zero, ascending (a few: the weigher's sparse
        path)."""
        if self._failure_rows is None:
            self._failure_rows = np.flatnonzero(self._failures[: self.n])
        return self._failure_rows

    def scratch(self, slot: int) -> np.ndarray:
        """Work array number `slot`: float64, one element per host, contents undefined.

        For the arithmetic of one request's weighing, reused from request to request: a
        fresh array per step at 100,000 hosts is 800 kB the allocator maps and the kernel
        faults in page by page, which cost more than the arithmetic itself. Whoever takes it
        uses it before the next request does (the scheduler is one event loop and weighs
        without awaiting)."""
        while len(self._scratch) <= slot:
            self._scratch.append(np.empty(0))
        if self._scratch[slot].size < self.n:
            self._scratch[slot] = np.empty(self._cap)
        return self._scratch[slot][: self.n]

    @property
    def has_members(self) -> np.ndarray:
        return self._has_members[: self.n]

    def mask(self, key: TraitKey) -> np.ndarray:
        """Rows having the trait (a fresh array the caller may modify)."""
        m = self._masks.get(key)
        if m is None:
            return np.zeros(self.n, bool)
        return m[: self.n].copy()

    def mask_view(self, key: TraitKey) -> np.ndarray | None:
        """Rows having the trait, as a read-only view (None if no host has it)."""
        m = self._masks.get(key)
        return None if m is None else m[: self.n]

    def __len__(self) -> int:
        return self.n

    def __contains__(self, host_id: object) -> bool:
        return host_id in self.row_of

    def row(self, host_id: str) -> int | None:
        return self.row_of.get(host_id)

    # ----- writes -----

    def _grow(self) -> None:
        old = self._cap
        new = old * 2

        def grow(a: np.ndarray, fill: object) -> np.ndarray:
            shape = (new, *a.shape[1:])
            b = np.full(shape, fill, dtype=a.dtype)
            b[:old] = a
            return b

        def grow_cols(a: np.ndarray, fill: object) -> np.ndarray:
            b = np.full((a.shape[0], new), fill, dtype=a.dtype)
            b[:, :old] = a
            return b

        self._hv_type = grow(self._hv_type, 0)
        self._hv_version = grow(self._hv_version, math.nan)
        self._enabled = grow(self._enabled, False)
        self._connected = grow(self._connected, False)
        self._last_report = grow(self._last_report, 0.0)
        self._deadline = grow(self._deadline, -math.inf)
        self._timeout = grow(self._timeout, 0.0)
        self._capacity = grow_cols(self._capacity, 0)
        self._db_used = grow_cols(self._db_used, 0)
        self._pending = grow_cols(self._pending, 0)
        self._min_unit = grow_cols(self._min_unit, 1)
        self._max_unit = grow_cols(self._max_unit, NO_LIMIT)
        self._step = grow_cols(self._step, 1)
        self._free = grow_cols(self._free, 0)
        self._free_f = grow_cols(self._free_f, 0.0)
        self._fit = grow_cols(self._fit, 0)
        self._fit32 = grow_cols(self._fit32, 0)
        self._odd_units = grow(self._odd_units, False)
        self._generation = grow(self._generation, 0)
        self._failures = grow(self._failures, 0.0)
        self._has_members = grow(self._has_members, False)
        for key, m in self._masks.items():
            self._masks[key] = grow(m, False)
        self._cap = new

    def _new_row(self, host_id: str) -> int:
        if self.n == self._cap:
            self._grow()
        row = self.n
        self.n += 1
        self.ids.append(host_id)
        self.row_of[host_id] = row
        self.hostnames.append(host_id)
        self.caps.append(HostCapabilities(hypervisor_type=HvType.UNSPECIFIED))
        self.inventories.append({})
        self.disabled_reason.append("")
        self._row_keys.append(set())
        self._enabled[row] = True
        return row

    def _set_traits(self, row: int, caps: HostCapabilities) -> None:
        new = host_trait_keys(caps)
        old = self._row_keys[row]
        for key in old - new:
            self._masks[key][row] = False
        for key in new - old:
            m = self._masks.get(key)
            if m is None:
                m = self._masks[key] = np.zeros(self._cap, bool)
            m[row] = True
        self._row_keys[row] = new
        self.caps[row] = caps
        self._hv_type[row] = int(caps.hypervisor_type)
        self._hv_version[row] = version_key(caps.hypervisor_version)
        self._has_members[row] = bool(caps.members)

    def _set_inventories(self, row: int, inventories: dict[str, Inventory]) -> None:
        self.inventories[row] = inventories
        for col, rc in enumerate(RESOURCE_CLASSES):
            inv = inventories.get(rc)
            if inv is None:
                self._capacity[col, row] = 0
                self._min_unit[col, row] = 1
                self._max_unit[col, row] = NO_LIMIT
                self._step[col, row] = 1
                continue
            self._capacity[col, row] = inv.capacity
            self._min_unit[col, row] = max(1, inv.min_unit)
            self._max_unit[col, row] = NO_LIMIT if inv.max_unit is None else inv.max_unit
            self._step[col, row] = max(1, inv.step_size)
        self._odd_units[row] = bool(
            (self._min_unit[:, row] != 1).any() or (self._step[:, row] != 1).any()
        )
        self._recompute(row)

    def drop_reason(self, report: HostReport) -> str | None:
        """Why the report must not be applied ("duplicate", "stale"), or None to apply it.

        Reports are ordered per agent incarnation (one run of its reporter: a process start,
        a VMware lease term). Within the incarnation of the last applied report, one whose
        sequence is equal is a "duplicate" (a replay), lower is "stale". A report of another
        agent or another incarnation is always applied: the agent restarted or its lease
        changed hands, and its sequence starts again from 1."""
        prev = self._report_seq.get(report.host_id)
        if prev is None or not report.agent_id:
            return None
        agent_id, incarnation, sequence = prev
        if (agent_id, incarnation) != (report.agent_id, report.incarnation):
            return None
        if report.sequence == sequence:
            return "duplicate"
        if report.sequence < sequence:
            return "stale"
        return None

    def accepts(self, report: HostReport) -> bool:
        """False when the report is not newer than one applied (see `drop_reason`)."""
        return self.drop_reason(report) is None

    def last_applied(self, host_id: str) -> tuple[str, str, int] | None:
        """(agent_id, incarnation, sequence) of the host's last applied report."""
        return self._report_seq.get(host_id)

    def apply_report(self, report: HostReport) -> bool:
        """Apply an agent's report. Returns False when it is not newer than one applied (see
        `drop_reason`) and was dropped."""
        if not self.accepts(report):
            return False
        self._report_seq[report.host_id] = (report.agent_id, report.incarnation, report.sequence)
        row = self.row_of.get(report.host_id)
        if row is None:
            row = self._new_row(report.host_id)
        self.hostnames[row] = report.hostname or report.host_id
        self._set_traits(row, report.capabilities)
        self._set_inventories(row, effective_inventories(report.capabilities, report.inventories))
        self._connected[row] = report.connected
        received = report.received_at or self.clock()
        timeout = max(self.host_timeout_s, 3.0 * report.report_interval_s)
        self._last_report[row] = received
        self._timeout[row] = timeout
        self._deadline[row] = received + timeout
        return True

    def load(self, record: ProviderRecord) -> int:
        """A provider as the database has it (start-up): alive only if its last report is
        recent; reports replayed from the bus bring the rest up."""
        row = self.row_of.get(record.id)
        if row is None:
            row = self._new_row(record.id)
        self.hostnames[row] = record.hostname or record.id
        self._set_traits(row, record.capabilities)
        self._set_inventories(row, record.inventories)
        self._enabled[row] = record.enabled
        self.disabled_reason[row] = record.disabled_reason
        self._connected[row] = record.connected
        if record.last_report_at > self._last_report[row]:
            self._last_report[row] = record.last_report_at
            self._timeout[row] = self.host_timeout_s
            self._deadline[row] = record.last_report_at + self.host_timeout_s
        self._generation[row] = record.generation
        self._db_used[:, row] = record.used.as_tuple()
        self._recompute(row)
        return row

    def set_usage(self, row: int, generation: int, used: Resources) -> bool:
        """The database's generation and allocation sums for a provider. Ignored when older
        than what the index holds (a slow refresh must not undo a newer claim)."""
        if generation < self._generation[row]:
            return False
        self._generation[row] = generation
        self._db_used[:, row] = used.as_tuple()
        self._recompute(row)
        return True

    def add_pending(self, row: int, req: np.ndarray) -> None:
        self._pending[:, row] += req
        self._recompute(row)

    def remove_pending(self, row: int, req: np.ndarray) -> None:
        self._pending[:, row] -= req
        self._recompute(row)

    def set_enabled(self, row: int, enabled: bool, reason: str = "") -> None:
        self._enabled[row] = enabled
        self.disabled_reason[row] = "" if enabled else reason

    def set_failures(self, counts: dict[str, float]) -> None:
        """Recent build failures per provider id (missing ids have none)."""
        self._failures[: self.n] = 0.0
        self._failure_rows = None
        for host_id, count in counts.items():
            row = self.row_of.get(host_id)
            if row is not None:
                self._failures[row] = count

    def add_failure(self, row: int, weight: float = 1.0) -> None:
        self._failures[row] += weight
        self._failure_rows = None

    def alive(self, now: float | None = None) -> np.ndarray:
        now = self.clock() if now is None else now
        return (self._deadline[: self.n] >= now) & self._connected[: self.n]

    def is_alive(self, row: int, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        return bool(self._deadline[row] >= now and self._connected[row])
