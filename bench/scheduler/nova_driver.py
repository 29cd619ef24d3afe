"""Nova's own filter scheduler on a host set, timed per request: the baseline of
bench/scheduler/run.py. Runs inside a separate virtualenv holding nova==34.0.0 (never a
project dependency): `nova-venv/bin/python nova_driver.py INPUT.json` prints one JSON line.

INPUT.json: {"hosts": [...], "requests": [...], "requests_to_time": n} as run.py writes it.
Every host becomes a nova HostState (the fields its filters and weighers read: resources,
hypervisor type and version, supported instances, service record, stats); every request a
nova RequestSpec (flavor, image properties). Each request then runs what
SchedulerManager._get_sorted_hosts runs: the filter handler with the enabled filters, then the
weight handler with the weighers, over every host.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

# Nova's default enabled_filters. Placement's prefilters (availability zone, resources,
# traits) are SQL in another service and have no in-process equivalent here.
FILTERS = [
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
]

HV_NAMES = {1: "kvm", 2: "qemu", 3: "vmware"}


def _version_int(text: str) -> int:
    parts = [int(p) for p in text.split(".")[:3]] + [0, 0, 0]
    return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    import nova.conf
    from nova import objects
    from nova.scheduler import filters as nova_filters
    from nova.scheduler import host_manager
    from nova.scheduler import weights as nova_weights

    nova.conf.CONF([], project="nova", default_config_files=[])
    objects.register_all()

    data = json.load(open(sys.argv[1]))
    now = datetime.now(UTC).replace(tzinfo=None)
    cell = str(uuid.uuid4())

    hosts = []
    for h in data["hosts"]:
        hs = host_manager.HostState(h["id"], h["id"], cell)
        hs.uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, h["id"]))
        hv = HV_NAMES[h["hypervisor_type"]]
        hs.hypervisor_type = "VMware vCenter Server" if hv == "vmware" else "QEMU"
        hs.hypervisor_version = _version_int(h["hypervisor_version"])
        hs.hypervisor_hostname = h["id"]
        triples = [[a, HV_NAMES[t], m] for a, t, m in h["supported_instances"]]
        if hv == "kvm":  # the libvirt driver reports qemu beside kvm
            triples += [[a, "qemu", m] for a, t, m in h["supported_instances"]]
        hs.supported_instances = triples
        hs.total_usable_ram_mb = h["memory_mb"]
        hs.free_ram_mb = h["memory_mb"] - h["memory_reserved_mb"] - h["memory_used_mb"]
        hs.total_usable_disk_gb = h["disk_gb"]
        hs.free_disk_mb = (h["disk_gb"] - h["disk_used_gb"]) * 1024
        hs.disk_mb_used = h["disk_used_gb"] * 1024
        hs.vcpus_total = h["vcpus"]
        hs.vcpus_used = h["vcpus_used"]
        hs.cpu_allocation_ratio = h["cpu_ratio"]
        hs.ram_allocation_ratio = 1.0
        hs.disk_allocation_ratio = 1.0
        hs.cpu_info = {}
        hs.stats = {}
        hs.num_instances = h["instances"]
        hs.num_io_ops = 0
        hs.failed_builds = h["failed_builds"]
        hs.host_ip = "192.0.2.1"
        hs.limits = {}
        hs.numa_topology = None
        hs.pci_stats = None
        hs.metrics = objects.MonitorMetricList(objects=[])
        hs.instances = {}
        hs.aggregates = [
            objects.Aggregate(id=1, name=h["availability_zone"],
                              metadata={"availability_zone": h["availability_zone"]})
        ]  # fmt: skip
        hs.service = {
            "disabled": False,
            "disabled_reason": None,
            "last_seen_up": now,
            "created_at": now,
            "updated_at": now,
            "host": h["id"],
            "binary": "nova-compute",
        }
        hs.updated = now
        hs.allocation_candidates = [{"mappings": {}}]
        hosts.append(hs)

    filter_handler = nova_filters.HostFilterHandler()
    all_filters = {
        cls.__name__: cls
        for cls in filter_handler.get_matching_classes(["nova.scheduler.filters.all_filters"])
    }
    enabled = [all_filters[name]() for name in FILTERS]
    weight_handler = nova_weights.HostWeightHandler()
    weigher_classes = weight_handler.get_matching_classes(["nova.scheduler.weights.all_weighers"])

    def make_spec(r: dict) -> objects.RequestSpec:
        props = {}
        if r["architecture"]:
            props["hw_architecture"] = r["architecture"]
        if r["hypervisor_type"]:
            props["img_hv_type"] = HV_NAMES[r["hypervisor_type"]]
        if r["vm_mode"]:
            props["hw_vm_mode"] = r["vm_mode"]
        flavor = objects.Flavor(
            id=1, flavorid="f", name="f", vcpus=r["vcpus"], memory_mb=r["memory_mb"],
            root_gb=r["disk_gb"], ephemeral_gb=0, swap=0, extra_specs={},
        )  # fmt: skip
        return objects.RequestSpec(
            instance_uuid=str(uuid.uuid4()),
            project_id="p",
            user_id="u",
            num_instances=1,
            flavor=flavor,
            image=objects.ImageMeta(properties=objects.ImageMetaProps(**props)),
            availability_zone=r["availability_zone"] or None,
            instance_group=None,
            scheduler_hints={},
            ignore_hosts=None,
            force_hosts=None,
            force_nodes=None,
            requested_destination=None,
            retry=None,
            numa_topology=None,
            pci_requests=objects.InstancePCIRequests(requests=[]),
            is_bfv=False,
            request_level_params=objects.RequestLevelParams(),
        )

    # Keep the weighers that run on a bare HostState; say which.
    probe = make_spec(data["requests"][0])
    weighers, skipped = [], []
    for cls in weigher_classes:
        w = cls()
        try:
            weight_handler.get_weighed_objects([w], hosts[:5], probe)
            weighers.append(w)
        except Exception as e:  # a weigher needing state a bare HostState lacks
            skipped.append(f"{cls.__name__}: {type(e).__name__}")

    timings, cpu = [], []
    passed = []
    count = min(len(data["requests"]), data["requests_to_time"])
    for r in data["requests"][:count]:
        spec = make_spec(r)
        c0 = time.thread_time()
        t0 = time.perf_counter()
        filtered = list(filter_handler.get_filtered_objects(enabled, hosts, spec, 0) or [])
        weighed = weight_handler.get_weighed_objects(weighers, filtered, spec) if filtered else []
        timings.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        passed.append(len(weighed))

    def p99(values: list[float]) -> float:
        v = sorted(values)
        return v[min(len(v) - 1, int(len(v) * 0.99))]

    print(
        json.dumps(
            {
                "nova_version": _nova_version(),
                "hosts": len(hosts),
                "requests_timed": count,
                "filters": FILTERS,
                "weighers": [type(w).__name__ for w in weighers],
                "weighers_skipped": skipped,
                "median_ms": statistics.median(timings) * 1000,
                "p99_ms": p99(timings) * 1000,
                "cpu_median_ms": statistics.median(cpu) * 1000,
                "cpu_p99_ms": p99(cpu) * 1000,
                "mean_hosts_passing": statistics.mean(passed),
            }
        )
    )
    return 0


def _nova_version() -> str:
    from importlib.metadata import version

    return version("nova")


if __name__ == "__main__":
    sys.exit(main())
