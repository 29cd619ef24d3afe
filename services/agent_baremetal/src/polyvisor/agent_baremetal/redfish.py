"""One machine's BMC over Redfish, through sushy: inspect, power, boot device, virtual media.

Blocking (sushy uses requests): the driver calls it from the runtime's executor. sushy's
errors stop here: an unreachable or failing BMC is HypervisorUnavailable (retryable), a BMC
that refuses our credentials or a request is DriverError with the BMC's message.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import sushy
from sushy import exceptions as sushy_exc

from polyvisor.agentkit.driver import DriverError, HypervisorUnavailable, PowerState

__all__ = ["Bmc", "Hardware"]

T = TypeVar("T")

_ARCH = {"x86": "x86_64", "x86-64": "x86_64", "ARM": "aarch64", "Power": "ppc64le"}


@dataclass(frozen=True, slots=True)
class Hardware:
    """What inspection found."""

    cpus: int
    memory_mb: int
    disk_gb: int
    architecture: str
    redfish_version: str


@contextlib.contextmanager
def _mapped(what: str) -> Iterator[None]:
    try:
        yield
    except sushy_exc.AccessError as e:
        raise DriverError(f"{what}: the BMC refused our credentials ({e.status_code})") from e
    except sushy_exc.ConnectionError as e:
        raise HypervisorUnavailable(f"{what}: the BMC does not answer: {e}") from e
    except sushy_exc.ServerSideError as e:
        raise HypervisorUnavailable(f"{what}: the BMC failed: {e}") from e
    except sushy_exc.SushyError as e:
        raise DriverError(f"{what}: {e}") from e
    except requests.RequestException as e:
        raise HypervisorUnavailable(f"{what}: the BMC does not answer: {e}") from e


class Bmc:
    """A connection to one ComputerSystem of one BMC (connected on first use)."""

    def __init__(
        self,
        url: str,
        system_id: str,
        username: str,
        password: str,
        *,
        verify: bool = True,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.system_id = system_id
        self._username = username
        self._password = password
        self._verify = verify
        self._timeout = timeout_s
        self._root: sushy.Sushy | None = None

    def _connect(self) -> sushy.Sushy:
        if self._root is None:
            with _mapped(f"BMC {self.url}"):
                self._root = sushy.Sushy(
                    self.url + "/redfish/v1",
                    auth=sushy.auth.BasicAuth(username=self._username, password=self._password),
                    verify=self._verify,
                    read_timeout=math.ceil(self._timeout),
                    connect_timeout=math.ceil(self._timeout),
                    server_side_retries=1,
                    server_side_retries_delay=1,
                )
        return self._root

    def _call(self, what: str, fn: Callable[[Any], T]) -> T:
        with _mapped(what):
            root = self._connect()
            system = root.get_system(self.system_id or None)
            return fn(system)

    # -- inspection

    def inspect(self) -> Hardware:
        def read(system: Any) -> Hardware:
            cpus = system.processors.summary.count or 0
            arch = system.processors.summary.architecture
            mem_gib = system.memory_summary.size_gib if system.memory_summary else 0
            disk = 0
            missing = (
                sushy_exc.MissingAttributeError, sushy_exc.ResourceNotFoundError,
                sushy_exc.ServerSideError,
            )  # fmt: skip
            with contextlib.suppress(*missing):
                disk = system.simple_storage.max_size_bytes or 0
            if not disk:
                with contextlib.suppress(*missing):
                    disk = system.storage.max_drive_size_bytes or 0
            return Hardware(
                cpus=int(cpus),
                memory_mb=round(float(mem_gib or 0) * 1024),
                disk_gb=int(disk // 2**30),
                architecture=_ARCH.get(str(getattr(arch, "value", arch or "")), "x86_64"),
                redfish_version=str(self._connect().redfish_version or ""),
            )

        return self._call(f"inspecting {self.url}", read)

    # -- power

    def power_state(self) -> PowerState:
        def read(system: Any) -> PowerState:
            state = system.power_state
            if state in (sushy.POWER_STATE_ON, sushy.POWER_STATE_POWERING_ON):
                return PowerState.RUNNING
            if state in (sushy.POWER_STATE_OFF, sushy.POWER_STATE_POWERING_OFF):
                return PowerState.SHUTDOWN
            return PowerState.NOSTATE

        return self._call(f"power state of {self.url}", read)

    def _reset(self, what: str, reset: Any) -> None:
        self._call(what, lambda system: system.reset_system(reset))

    def _wait(self, want: PowerState, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.power_state() != want:
            if time.monotonic() > deadline:
                raise DriverError(f"{self.url}: the machine did not reach {want} in {timeout_s}s")
            time.sleep(0.5)

    def power_on(self, timeout_s: float) -> None:
        if self.power_state() != PowerState.RUNNING:
            self._reset("power on", sushy.RESET_ON)
        self._wait(PowerState.RUNNING, timeout_s)

    def power_off(self, timeout_s: float) -> None:
        if self.power_state() != PowerState.SHUTDOWN:
            self._reset("power off", sushy.RESET_FORCE_OFF)
        self._wait(PowerState.SHUTDOWN, timeout_s)

    def reboot(self, *, hard: bool, timeout_s: float) -> None:
        if self.power_state() != PowerState.RUNNING:
            self.power_on(timeout_s)
            return
        reset = sushy.RESET_FORCE_RESTART if hard else sushy.RESET_GRACEFUL_RESTART
        self._reset("reboot", reset)
        self._wait(PowerState.RUNNING, timeout_s)

    # -- boot

    def boot_from(self, target: str) -> None:
        """``hdd``, ``cd`` or ``none`` (no override), persistently."""
        targets = {
            "hdd": sushy.BOOT_SOURCE_TARGET_HDD,
            "cd": sushy.BOOT_SOURCE_TARGET_CD,
        }

        def set_boot(system: Any) -> None:
            if target == "none":
                system.set_system_boot_options(
                    target=sushy.BOOT_SOURCE_TARGET_HDD,
                    enabled=sushy.BOOT_SOURCE_ENABLED_DISABLED,
                )
            else:
                system.set_system_boot_options(
                    target=targets[target], enabled=sushy.BOOT_SOURCE_ENABLED_CONTINUOUS
                )

        self._call(f"boot device {target}", set_boot)

    def _cd_media(self) -> Any:
        root = self._connect()
        for manager in root.get_manager_collection().get_members():
            for media in manager.virtual_media.get_members():
                types = set(media.media_types or ())
                if types & {sushy.VIRTUAL_MEDIA_CD, sushy.VIRTUAL_MEDIA_DVD}:
                    return media
        raise DriverError(f"{self.url}: the BMC offers no virtual CD")

    def insert_iso(self, url: str) -> None:
        with _mapped("virtual media insert"):
            media = self._cd_media()
            if media.inserted:
                media.eject_media()
                media.refresh()
            media.insert_media(url, inserted=True, write_protected=True)

    def eject_iso(self) -> None:
        with _mapped("virtual media eject"):
            media = self._cd_media()
            if media.inserted or media.image:
                media.eject_media()

    def close(self) -> None:
        root, self._root = self._root, None
        if root is not None:
            with contextlib.suppress(Exception):
                root.close()
