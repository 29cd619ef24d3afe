"""libvirt's event loop, in one thread per process.

    loop = EventLoop.acquire()     # registers the default impl (once), starts the thread
    ...                            # open connections, domainEventRegisterAny(...)
    loop.release()                 # the last release stops the thread (joined)

``virEventRegisterDefaultImpl`` must run before the first connection is opened, and only
once per process; the thread then runs ``virEventRunDefaultImpl`` until released. A periodic
no-op timer wakes the loop so that the thread notices a stop request within a tenth of a second.
Connection keepalives (a dead libvirtd detected) need this loop as well.
"""

from __future__ import annotations

import threading
from typing import ClassVar

import libvirt

from polyvisor.common.logging import get_logger

__all__ = ["EventLoop"]

log = get_logger(__name__)

_WAKE_MS = 100


class EventLoop:
    _lock: ClassVar[threading.Lock] = threading.Lock()
    _registered: ClassVar[bool] = False
    _timer: ClassVar[int | None] = None
    _instance: ClassVar[EventLoop | None] = None

    def __init__(self) -> None:
        self._users = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def register(cls) -> None:
        """Register libvirt's default event implementation (once per process)."""
        with cls._lock:
            if not cls._registered:
                # libvirt prints every error on stderr by default; ours become exceptions
                # mapped at the driver's boundary, and are logged there when they matter.
                libvirt.registerErrorHandler(_quiet, None)
                libvirt.virEventRegisterDefaultImpl()
                cls._timer = libvirt.virEventAddTimeout(_WAKE_MS, _wake, None)
                cls._registered = True

    @classmethod
    def acquire(cls) -> EventLoop:
        cls.register()
        with cls._lock:
            if cls._instance is None:
                cls._instance = EventLoop()
            loop = cls._instance
            loop._users += 1
            if loop._thread is not None and loop._stop.is_set():
                loop._thread.join(timeout=5.0)  # a stopping thread finishes first
                loop._thread = None
            if loop._thread is None or not loop._thread.is_alive():
                loop._stop.clear()
                loop._thread = threading.Thread(
                    target=loop._run, name="libvirt-events", daemon=True
                )
                loop._thread.start()
            return loop

    def release(self) -> None:
        with EventLoop._lock:
            self._users = max(0, self._users - 1)
            if self._users > 0:
                return
            self._stop.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        with EventLoop._lock:
            if self._thread is thread and self._stop.is_set():
                self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if libvirt.virEventRunDefaultImpl() < 0:
                    log.warning("libvirt event loop iteration failed")
            except Exception:
                log.exception("libvirt event loop error")


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt's error callback: keep stderr clean."""


def _wake(timer: int, opaque: object) -> None:
    """Runs every tenth of a second so that the loop thread can notice a stop request."""
