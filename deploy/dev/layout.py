"""Where the dev stack keeps its state: everything lives under one directory.

    .polyvisor/
      endpoints.json        what `./dev up` started and where it listens
      logs/<name>.log       one log per service process
      run/<name>.json       one record per running service process (pid, ports, argv)
      postgres/ nats/       embedded PostgreSQL and NATS (data, log, pid file)
      vcsim/                vcsim (log, endpoint info, datastore files)
      ceph/                 the one-node Ceph, when POLYVISOR_DEV_CEPH=1 (config, keys, data, logs)
      data/<service>/       service working directories (image store, instances, caches)

`POLYVISOR_DEV_HOME` moves it (a second stack for end-to-end tests, for instance).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @classmethod
    def default(cls) -> Layout:
        home = os.environ.get("POLYVISOR_DEV_HOME")
        return cls(Path(home).absolute() if home else REPO / ".polyvisor")

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def nats(self) -> Path:
        return self.root / "nats"

    @property
    def vcsim(self) -> Path:
        return self.root / "vcsim"

    @property
    def ceph(self) -> Path:
        """The one-node Ceph `POLYVISOR_DEV_CEPH=1 ./dev up` runs (tests/fixtures/ceph.py)."""
        return self.root / "ceph"

    @property
    def endpoints(self) -> Path:
        return self.root / "endpoints.json"

    @property
    def libvirt_record(self) -> Path:
        """Present when `./dev up` started libvirtd itself (so `down` stops it)."""
        return self.run / "libvirtd.json"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def data(self, name: str) -> Path:
        return self.root / "data" / name

    def create(self) -> None:
        for d in (self.root, self.logs, self.run, self.root / "data"):
            d.mkdir(parents=True, exist_ok=True)
