"""Checks that the deployment files tell the truth about the code they deploy.

Each check takes what `kubectl kustomize` renders for an overlay (or a Containerfile) and
returns problems, one sentence each, naming the object and the thing that is wrong:

- env: every variable a container gets (its `env`, the keys of the ConfigMaps and Secrets
  of its `envFrom`, its image's `ENV`) is a field of that program's settings class, and
  the values validate against it;
- dev parity: every setting `./dev up` gives a service (deploy/dev/services.py) is in its
  manifest, or in DELIBERATELY_DEFAULTED with the reason;
- refs: every Secret and ConfigMap a pod names (env, envFrom, volumes) exists in its
  namespace with the keys asked for;
- ports: every Service's targetPort is a container port of the pods it selects; every probe
  port is a port of its container; the gRPC probes and the metrics annotations agree with
  POLYVISOR_GRPC_PORT and POLYVISOR_METRICS_PORT;
- probes: readinessProbes ask gRPC health for `readiness` (PostgreSQL/NATS answer too),
  startup and liveness probes for "" (the process serves);
- agents: an agent's NATS URL carries no credentials (it logs in as agent-HOST with its
  own key); the KVM agent runs in the node's network with what its data plane needs;
- binaries: the Debian packages a Containerfile installs in its final stage provide the
  programs its service runs (qemu-img, ...);
- network: NetworkPolicies allow the flows of the design map and deny the rest.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "production")
VMWARE_CLUSTERS = ("cluster1",)
KVM_NODES = ("node-1",)  # what a fieldRef to spec.nodeName stands for here
BAREMETAL_NODES = ("node-a",)  # the machine components/baremetal-pool1 enrolls as an example

#: What make-secrets is given from the environment when the tests render an overlay.
FAKE_OPERATOR_ENV = {
    "POLYVISOR_DATABASE_URL": "postgresql://polyvisor:pw@polyvisor-db-rw.polyvisor-db.svc:5432/polyvisor",
    "POLYVISOR_NATS_URL": "nats://polyvisor:pw@nats.nats.svc:4222",
    "VCENTER_URL": "https://vcenter.example.test/sdk",
    "VCENTER_USER": "polyvisor@vsphere.local",
    "VCENTER_PASSWORD": "pw",
    "BMC_USERNAME": "admin",
    "BMC_PASSWORD": "pw",
}

#: Settings `./dev up` gives a service that its manifest leaves at the default, and why.
DELIBERATELY_DEFAULTED: dict[str, dict[str, str]] = {
    "*": {
        "POLYVISOR_GRPC_HOST": "the image sets 0.0.0.0 (ENV), dev binds loopback",
        "POLYVISOR_METRICS_HOST": "the default, 0.0.0.0, is what a pod wants",
    },
    "agent_kvm": {
        "POLYVISOR_AGENT_API_KEY": "given as POLYVISOR_AGENT_API_KEY_FILE, its node's Secret key",
        "POLYVISOR_NFT_TABLE": "one agent per node: the default table, polyvisor; dev stacks "
        "side by side on one machine need one each",
    },
    "console": {
        "POLYVISOR_HTTP_HOST": "the default, 0.0.0.0, is what a pod wants; dev binds loopback",
    },
    "dashboard": {
        "POLYVISOR_HTTP_HOST": "the default, 0.0.0.0, is what a pod wants; dev binds loopback",
    },
    "osapi": {
        "POLYVISOR_HTTP_HOST": "the default, 0.0.0.0, is what a pod wants; dev binds loopback",
    },
    "agent_vmware": {
        "POLYVISOR_VCENTER_PASSWORD": "given as POLYVISOR_VCENTER_PASSWORD_FILE, a mounted Secret",
        "POLYVISOR_CONSOLE_HOST": "consoles open on the ESXi host, not where the agent runs",
        "POLYVISOR_VMDK_VOLUMES": "off (the default) until the operator gives volumesvc a vmdk "
        "backend on datastores the cluster mounts; dev has one on vcsim's shared datastore",
    },
    "agent_baremetal": {
        "POLYVISOR_MEDIA_HOST": "the pod listens on 0.0.0.0 (set); dev binds loopback",
    },
}

#: Programs the services run, and the Debian package that provides each.
BINARY_PACKAGES = {
    "qemu-img": "qemu-utils",
    "prlimit": "util-linux",
    "ssh-keygen": "openssh-client",
    "dnsmasq": "dnsmasq-base",
    "nft": "nftables",
    "virsh": "libvirt-clients",
    "blkid": "util-linux",
    "genisoimage": "genisoimage",
    "ip": "iproute2",
    "bridge": "iproute2",
    "ovs-vsctl": "openvswitch-switch",
    "rbd": "ceph-common",
    "mkfs.ext4": "e2fsprogs",
    "resize2fs": "e2fsprogs",
}
#: Names distinctive enough to count wherever they are quoted (a setting's default, an argv);
#: the others (ip, nft, bridge, rbd) count only where the code runs them.
QUOTED_BINARIES = {b for b in BINARY_PACKAGES if b not in {"ip", "nft", "bridge", "rbd"}}
#: Packages an image must install whatever the scan finds: the KVM network data plane
#: (bridges and namespaces, security groups, DHCP).
REQUIRED_PACKAGES = {"agent_kvm": {"iproute2", "nftables", "dnsmasq-base"}}
#: What the KVM agent's container needs to plumb the node's network, and why.
KVM_CAPABILITIES = {
    "NET_ADMIN": "bridges, veths, routes, nftables",
    "SYS_ADMIN": "network namespaces (ip netns, setns)",
}
#: Packages every image has from its base (Debian's essential set).
BASE_IMAGE_PACKAGES = {"util-linux"}
#: Code that never runs in a service container (dev stack and tests only).
NOT_IN_CONTAINERS = {
    f"libs/common/src/polyvisor/common/{m}.py"
    for m in ("embedded", "embedded_process", "embedded_postgres", "embedded_nats")
}


# ------------------------------------------------------------------ rendering


def make_secrets(k8s: Path, overlay: str) -> None:
    """Run make-secrets for an overlay of the tree at `k8s`, as an operator would."""
    args = [str(k8s / "make-secrets"), str(k8s / "overlays" / overlay)]
    for cluster in VMWARE_CLUSTERS:
        args += ["--vmware-cluster", cluster]
    for node in KVM_NODES:
        args += ["--kvm-node", node]
    for node in BAREMETAL_NODES:
        args += ["--baremetal-node", node]
    env = {"PATH": "/usr/bin:/bin", **FAKE_OPERATOR_ENV}
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    if r.returncode != 0:
        raise AssertionError(f"make-secrets {overlay} failed: {r.stderr}")


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        raise AssertionError("kubectl is needed to render the overlays (Debian: kubectl)")
    return found


def render(k8s: Path, overlay: str) -> list[dict[str, Any]]:
    """`kubectl kustomize` of an overlay: the objects, or AssertionError with its stderr."""
    r = subprocess.run(
        [kubectl(), "kustomize", str(k8s / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if r.returncode != 0:
        raise AssertionError(f"kubectl kustomize overlays/{overlay}: {r.stderr.strip()}")
    return [d for d in yaml.safe_load_all(r.stdout) if d]


# ------------------------------------------------------------------ the objects


def ref(obj: dict[str, Any]) -> str:
    md = obj["metadata"]
    ns = md.get("namespace")
    return f"{obj['kind']} {ns + '/' if ns else ''}{md['name']}"


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"):
        return obj["spec"]["template"]  # type: ignore[no-any-return]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]  # type: ignore[no-any-return]
    return None


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod["spec"].get("initContainers", [])
    yield from pod["spec"].get("containers", [])


def workloads(docs: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for d in docs:
        pod = pod_template(d)
        if pod is not None:
            yield d, pod


def index(docs: Iterable[dict[str, Any]], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in docs
        if d["kind"] == kind
    }


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    out = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    out.update(secret.get("stringData") or {})
    return out


# ------------------------------------------------------------------ settings


def settings_class(container: dict[str, Any]) -> type[BaseModel] | None:
    """The settings class of the program a container runs, by its image and command."""
    command = " ".join(container.get("command", []) + container.get("args", []))
    if "polyvisor.common.migrate" in command:
        from polyvisor.common.config import ServiceSettings

        return ServiceSettings
    image = container["image"].split("@")[0].rsplit(":", 1)[0]
    name = image.rsplit("/", 1)[-1]
    if name == "api":
        from polyvisor.api.config import ApiSettings

        return ApiSettings
    if name == "scheduler":
        from polyvisor.scheduler.config import SchedulerSettings

        return SchedulerSettings
    if name == "imagesvc":
        from polyvisor.imagesvc.config import ImageSettings

        return ImageSettings
    if name == "networksvc":
        from polyvisor.networksvc.config import NetworkSettings

        return NetworkSettings
    if name == "volumesvc":
        from polyvisor.volumesvc.config import VolumeSettings

        return VolumeSettings
    if name == "console":
        from polyvisor.console.config import ConsoleSettings

        return ConsoleSettings
    if name == "dashboard":
        from polyvisor.dashboard.config import DashboardSettings

        return DashboardSettings
    if name == "osapi":
        from polyvisor.osapi.config import OsapiSettings

        return OsapiSettings
    if name == "agent-kvm":
        from polyvisor.agent_kvm.config import KvmSettings

        return KvmSettings
    if name == "agent-vmware":
        from polyvisor.agent_vmware.config import VmwareAgentSettings

        return VmwareAgentSettings
    if name == "agent-baremetal":
        from polyvisor.agent_baremetal.config import BaremetalAgentSettings

        return BaremetalAgentSettings
    return None


def service_of(container: dict[str, Any]) -> str | None:
    """The service module (api, agent_kvm, ...) a container's image holds."""
    image = container["image"].split("@")[0].rsplit(":", 1)[0]
    name = image.rsplit("/", 1)[-1].replace("-", "_")
    return name if (REPO / "deploy" / "containers" / f"{name}.Containerfile").exists() else None


def env_var(field: str) -> str:
    return f"POLYVISOR_{field.upper()}"


def image_env(service: str, containerfiles: Path) -> dict[str, str]:
    """The ENV of a Containerfile's final stage."""
    stages = final_stage(containerfiles / f"{service}.Containerfile")
    env: dict[str, str] = {}
    for line in stages:
        if line.startswith("ENV "):
            for m in re.finditer(r"(\w+)=(\S+)", line[4:]):
                env[m.group(1)] = m.group(2)
    return env


@dataclass
class ContainerEnv:
    """What a container's environment is made of: name -> (value, where it comes from)."""

    values: dict[str, str]
    sources: dict[str, str]


def container_env(
    obj: dict[str, Any],
    pod: dict[str, Any],
    container: dict[str, Any],
    docs: list[dict[str, Any]],
) -> ContainerEnv:
    ns = obj["metadata"].get("namespace", "")
    configmaps, secrets = index(docs, "ConfigMap"), index(docs, "Secret")
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            cm = configmaps.get((ns, source["configMapRef"]["name"]))
            for k, v in ((cm or {}).get("data") or {}).items():
                values[k], sources[k] = str(v), ref(cm) if cm else "?"
        if "secretRef" in source:
            sec = secrets.get((ns, source["secretRef"]["name"]))
            for k, v in secret_data(sec or {}).items():
                values[k], sources[k] = v, ref(sec) if sec else "?"
    for e in container.get("env", []):
        name = e["name"]
        sources[name] = "env"
        if "value" in e:
            values[name] = str(e["value"])
        elif "secretKeyRef" in e.get("valueFrom", {}):
            r = e["valueFrom"]["secretKeyRef"]
            values[name] = secret_data(secrets.get((ns, r["name"]), {})).get(r["key"], "")
        elif "configMapKeyRef" in e.get("valueFrom", {}):
            r = e["valueFrom"]["configMapKeyRef"]
            cm = configmaps.get((ns, r["name"]), {})
            values[name] = str((cm.get("data") or {}).get(r["key"], ""))
        else:  # fieldRef / resourceFieldRef: known only on the node
            values[name] = "10.0.0.1" if "IP" in str(e["valueFrom"]) else KVM_NODES[0]
        # $(NAME) refers to a variable defined before it, as the kubelet expands it
        values[name] = re.sub(
            r"\$\((\w+)\)", lambda m: values.get(m.group(1), m.group(0)), values[name]
        )
    return ContainerEnv(values, sources)


def secret_files(
    obj: dict[str, Any], pod: dict[str, Any], container: dict[str, Any], docs: list[dict[str, Any]]
) -> dict[str, str]:
    """The files a container sees from the Secrets mounted into it: path -> content."""
    ns = obj["metadata"].get("namespace", "")
    secrets = index(docs, "Secret")
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    files: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        v = volumes.get(mount["name"], {})
        if "secret" not in v:
            continue
        data = secret_data(secrets.get((ns, v["secret"]["secretName"]), {}))
        items = v["secret"].get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] in data:
                files[f"{mount['mountPath'].rstrip('/')}/{item['path']}"] = data[item["key"]]
    return files


def check_env(docs: list[dict[str, Any]], containerfiles: Path) -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="deploy-truth-") as scratch:
        return _check_env(docs, containerfiles, Path(scratch))


def _check_env(docs: list[dict[str, Any]], containerfiles: Path, scratch: Path) -> list[str]:
    problems = []
    for obj, pod in workloads(docs):
        for c in containers(pod):
            cls = settings_class(c)
            where = f"{ref(obj)} container {c['name']}"
            if cls is None:
                problems.append(f"{where}: image {c['image']} runs no known service")
                continue
            env = container_env(obj, pod, c, docs)
            fields = {env_var(f): f for f in cls.model_fields}
            for name in sorted(env.values):
                if name not in fields:
                    problems.append(
                        f"{where} sets {name} (from {env.sources[name]}), "
                        f"which {cls.__name__} has no field for"
                    )
            service = service_of(c)
            given = dict(image_env(service, containerfiles)) if service else {}
            given.update(env.values)
            # a setting naming a file under a mounted Secret must find it there; the check
            # reads a copy of it (settings may read their files when built)
            files = secret_files(obj, pod, c, docs)
            mounts = {
                m["mountPath"].rstrip("/")
                for m in c.get("volumeMounts", [])
                for v in pod["spec"].get("volumes", [])
                if v["name"] == m["name"] and "secret" in v
            }
            for name, value in list(given.items()):
                if any(value.startswith(m + "/") for m in mounts):
                    if value not in files:
                        problems.append(
                            f"{where}: {name} names {value}, which no mounted Secret provides"
                        )
                        continue
                    copy = scratch / str(len(list(scratch.iterdir())))
                    copy.write_text(files[value])
                    given[name] = str(copy)
            kwargs = {fields[k]: v for k, v in given.items() if k in fields}
            try:
                cls(**kwargs)
            except OSError as e:
                problems.append(f"{where}: {cls.__name__} cannot read a file it is given: {e}")
            except ValidationError as e:
                for err in e.errors():
                    field = ".".join(str(p) for p in err["loc"]) or "(model)"
                    problems.append(
                        f"{where}: {cls.__name__} refuses {env_var(field)}: {err['msg']}"
                    )
            for name, value in env.values.items():
                if value != value.strip():
                    problems.append(f"{where}: {name} has leading or trailing whitespace")
    return problems


def dev_environments() -> dict[str, dict[str, str]]:
    """What `./dev up` gives each service module (the first process of each)."""
    from deploy.dev.layout import Layout
    from deploy.dev.services import Credentials, Infra, plan

    layout = Layout(Path("/nonexistent/.polyvisor"))
    infra = Infra(
        database_url="postgresql://x@127.0.0.1:1/x",
        nats_url="nats://127.0.0.1:1",
        vcenter_url="http://127.0.0.1:1/sdk",
        vcenter_user="user",
        vcenter_password="pass",
        clusters=("DC0_C0",),
        libvirt_uri="qemu:///system",
        baremetal=("/nonexistent/nodes.json", "/nonexistent/bmc-credentials"),
    )
    creds = Credentials(Path("/k/token.key"), Path("/k/token.pub"), "admin", "pw", "admin", "s")
    names = (
        "api", "scheduler", "imagesvc", "networksvc", "agent_kvm", "agent_vmware-DC0_C0",
        "agent_baremetal",
    )  # fmt: skip
    recorded = {n: {"grpc_port": 1, "metrics_port": 2} for n in names}
    out: dict[str, dict[str, str]] = {}
    for spec in plan(layout, infra, creds, recorded):
        out.setdefault(spec.module, spec.env)
    return out


def check_dev_parity(docs: list[dict[str, Any]], containerfiles: Path) -> list[str]:
    """Every setting ./dev up gives a service is in its manifest, or deliberately defaulted."""
    problems = []
    manifest_env: dict[str, set[str]] = {}
    for obj, pod in workloads(docs):
        for c in pod["spec"].get("containers", []):
            service = service_of(c)
            if service is None:
                continue
            names = set(container_env(obj, pod, c, docs).values)
            names |= set(image_env(service, containerfiles))
            manifest_env.setdefault(service, set()).update(names)
    for service, env in dev_environments().items():
        if service not in manifest_env:
            problems.append(f"./dev up runs {service}, which no workload of this overlay runs")
            continue
        fake = {"image": f"polyvisor/{service.replace('_', '-')}", "name": service}
        cls = settings_class(fake)
        assert cls is not None, service
        fields = {env_var(f) for f in cls.model_fields}
        defaulted = {**DELIBERATELY_DEFAULTED["*"], **DELIBERATELY_DEFAULTED.get(service, {})}
        for name in sorted(env):
            if name in fields and name not in manifest_env[service] and name not in defaulted:
                problems.append(
                    f"./dev up gives {service} {name}, which its manifest does not set "
                    "(set it, or list it in DELIBERATELY_DEFAULTED with the reason)"
                )
    return problems


# ------------------------------------------------------------------ references


def check_refs(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    configmaps, secrets = index(docs, "ConfigMap"), index(docs, "Secret")
    pvcs = index(docs, "PersistentVolumeClaim")

    def need(kind: str, ns: str, name: str, keys: Iterable[str], where: str) -> None:
        table = secrets if kind == "Secret" else configmaps
        obj = table.get((ns, name))
        if obj is None:
            problems.append(f"{where} names {kind} {ns}/{name}, which does not exist")
            return
        have = set(secret_data(obj)) if kind == "Secret" else set(obj.get("data") or {})
        for key in keys:
            if key not in have:
                problems.append(f"{where} needs key {key!r} of {kind} {ns}/{name}, which has none")

    for obj, pod in workloads(docs):
        ns = obj["metadata"].get("namespace", "")
        for c in containers(pod):
            where = f"{ref(obj)} container {c['name']}"
            for source in c.get("envFrom", []):
                for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    r = source.get(field)
                    if r and not r.get("optional"):
                        need(kind, ns, r["name"], (), where)
            for e in c.get("env", []):
                vf = e.get("valueFrom", {})
                for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    r = vf.get(field)
                    if r and not r.get("optional"):
                        need(kind, ns, r["name"], [r["key"]], f"{where} ({e['name']})")
        for v in pod["spec"].get("volumes", []):
            where = f"{ref(obj)} volume {v['name']}"
            if "secret" in v and not v["secret"].get("optional"):
                keys = [i["key"] for i in v["secret"].get("items", [])]
                need("Secret", ns, v["secret"]["secretName"], keys, where)
            if "configMap" in v and not v["configMap"].get("optional"):
                keys = [i["key"] for i in v["configMap"].get("items", [])]
                need("ConfigMap", ns, v["configMap"]["name"], keys, where)
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                if (ns, claim) not in pvcs:
                    problems.append(
                        f"{where} names PersistentVolumeClaim {ns}/{claim}, which does not exist"
                    )
    return problems


# ------------------------------------------------------------------ ports


def _port_matches(port: int | str, cports: list[dict[str, Any]]) -> bool:
    return any(p["containerPort"] == port or p.get("name") == port for p in cports)


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_ports(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for obj, pod in workloads(docs):
        annotations = pod["metadata"].get("annotations") or {}
        metrics_ports: list[int] = []
        for c in containers(pod):
            where = f"{ref(obj)} container {c['name']}"
            cports = c.get("ports", [])
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                spec = c.get(probe)
                if spec is None:
                    continue
                for kind in ("grpc", "httpGet", "tcpSocket"):
                    if kind in spec:
                        port = spec[kind]["port"]
                        if not _port_matches(port, cports):
                            problems.append(f"{where}: {probe} port {port} is not a container port")
                        if kind == "grpc" and env.get("POLYVISOR_GRPC_PORT") != str(port):
                            problems.append(
                                f"{where}: {probe} checks gRPC on {port} but "
                                f"POLYVISOR_GRPC_PORT is {env.get('POLYVISOR_GRPC_PORT')}"
                            )
            if c in pod["spec"].get("containers", []):
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if probe not in c:
                        problems.append(f"{where} has no {probe}")
                if "POLYVISOR_METRICS_PORT" in env:
                    metrics_ports.append(int(env["POLYVISOR_METRICS_PORT"] or 0))
                    if not _port_matches(int(env["POLYVISOR_METRICS_PORT"] or 0), cports):
                        problems.append(
                            f"{where}: POLYVISOR_METRICS_PORT {env['POLYVISOR_METRICS_PORT']} "
                            "is not a container port"
                        )
        if annotations.get("prometheus.io/scrape") == "true":
            port = annotations.get("prometheus.io/port")
            if port is None or int(port) not in metrics_ports:
                problems.append(
                    f"{ref(obj)}: annotation prometheus.io/port {port} is not the metrics port "
                    f"(POLYVISOR_METRICS_PORT {metrics_ports})"
                )
    pods = [(o, p) for o, p in workloads(docs)]
    for svc in (d for d in docs if d["kind"] == "Service"):
        ns = svc["metadata"].get("namespace", "")
        selector = svc["spec"].get("selector") or {}
        chosen = [
            (o, p)
            for o, p in pods
            if o["metadata"].get("namespace", "") == ns
            and _selects(selector, p["metadata"].get("labels") or {})
        ]
        if not chosen:
            problems.append(f"{ref(svc)} selects no pods ({selector})")
            continue
        for sp in svc["spec"]["ports"]:
            target = sp.get("targetPort", sp["port"])
            for o, p in chosen:
                cports = [cp for c in p["spec"]["containers"] for cp in c.get("ports", [])]
                if not _port_matches(target, cports):
                    problems.append(
                        f"{ref(svc)} port {sp.get('name', sp['port'])}: targetPort {target} "
                        f"is not a container port of {ref(o)}"
                    )
    return problems


# ------------------------------------------------------------------ probes and agents


def check_probes(docs: list[dict[str, Any]]) -> list[str]:
    """Readiness asks for gRPC health `readiness`; startup and liveness for ""."""
    from polyvisor.common.readiness import READINESS_SERVICE

    problems = []
    for obj, pod in workloads(docs):
        for c in pod["spec"].get("containers", []):
            where = f"{ref(obj)} container {c['name']}"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                grpc = (c.get(probe) or {}).get("grpc")
                if grpc is None:
                    continue
                want = READINESS_SERVICE if probe == "readinessProbe" else ""
                if grpc.get("service", "") != want:
                    problems.append(
                        f"{where}: {probe} asks gRPC health for {grpc.get('service', '')!r}, "
                        f"not {want!r}"
                    )
    return problems


def check_agents(docs: list[dict[str, Any]]) -> list[str]:
    """Agents' NATS URLs carry no credentials; the KVM agent can plumb the node's network."""
    from urllib.parse import urlsplit

    from polyvisor.agentkit.settings import AgentSettings

    problems = []
    for obj, pod in workloads(docs):
        for c in pod["spec"].get("containers", []):
            cls = settings_class(c)
            if cls is None or not issubclass(cls, AgentSettings):
                continue
            where = f"{ref(obj)} container {c['name']}"
            env = container_env(obj, pod, c, docs).values
            for url in env.get("POLYVISOR_NATS_URL", "").split(","):
                url = url.strip()
                parts = urlsplit(url if "://" in url else f"nats://{url}")
                if parts.username is not None or parts.password is not None:
                    problems.append(
                        f"{where}: POLYVISOR_NATS_URL carries credentials; an agent logs in "
                        "to NATS as agent-HOST with its own key"
                    )
            if service_of(c) != "agent_kvm":
                continue
            spec = pod["spec"]
            if spec.get("hostNetwork") is not True:
                problems.append(f"{where}: no hostNetwork; bridges and taps are the node's")
            if spec.get("dnsPolicy") != "ClusterFirstWithHostNet":
                problems.append(
                    f"{where}: dnsPolicy is not ClusterFirstWithHostNet; with hostNetwork it "
                    "could not resolve the cluster's Services"
                )
            added = set(((c.get("securityContext") or {}).get("capabilities") or {}).get("add", []))
            for cap, why in KVM_CAPABILITIES.items():
                if cap not in added:
                    problems.append(f"{where}: capability {cap} not added ({why})")
            if not env.get("POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS", "").strip():
                problems.append(
                    f"{where}: no POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS; the agent would "
                    "plumb no network"
                )
    return problems


# ------------------------------------------------------------------ containers


def final_stage(containerfile: Path) -> list[str]:
    """The instructions of the last stage, continuation lines joined, comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in containerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    starts = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    return lines[starts[-1] :] if starts else lines


def installed_packages(containerfile: Path) -> set[str]:
    pkgs: set[str] = set()
    for line in final_stage(containerfile):
        for m in re.finditer(r"apt-get install ([^&;|]*)", line):
            pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
    return pkgs


def _member_sources(service: str) -> list[Path]:
    import tomllib

    roots = [REPO / "services" / service]
    deps = tomllib.loads((roots[0] / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0]
        if name.startswith("polyvisor-"):
            roots.append(REPO / "libs" / name.removeprefix("polyvisor-"))
    files = []
    for root in roots:
        for f in sorted((root / "src").rglob("*.py")):
            if str(f.relative_to(REPO)) not in NOT_IN_CONTAINERS:
                files.append(f)
    return files


_EXEC_RE = re.compile(
    r"""(?:which|create_subprocess_exec|Popen|subprocess\.run|check_output)\(\s*\[?\s*["']([\w.+-]+)["']"""
)


def binaries_called(service: str) -> dict[str, str]:
    """Programs the service's code runs: binary -> first file naming it."""
    found: dict[str, str] = {}
    for f in _member_sources(service):
        text = f.read_text()
        rel = str(f.relative_to(REPO))
        for binary in QUOTED_BINARIES:
            if re.search(rf"""["']{re.escape(binary)}["']""", text):
                found.setdefault(binary, rel)
        for m in _EXEC_RE.finditer(text):
            found.setdefault(m.group(1), rel)
    return found


def check_binaries(service: str, containerfiles: Path) -> list[str]:
    problems = []
    cf = containerfiles / f"{service}.Containerfile"
    have = installed_packages(cf) | BASE_IMAGE_PACKAGES
    for package in sorted(REQUIRED_PACKAGES.get(service, set()) - have):
        problems.append(f"{cf.name} does not install {package}, which {service} needs")
    for binary, where in sorted(binaries_called(service).items()):
        package = BINARY_PACKAGES.get(binary)
        if package is None:
            problems.append(
                f"{service} runs {binary} ({where}): add it to BINARY_PACKAGES with its "
                "Debian package, and install that in the Containerfile"
            )
        elif package not in have:
            problems.append(
                f"{cf.name} does not install {package}, which provides {binary} "
                f"that {service} runs ({where})"
            )
    return problems


# ------------------------------------------------------------------ network policies


@dataclass(frozen=True)
class Peer:
    namespace: str
    labels: dict[str, str]

    @staticmethod
    def outside() -> Peer:
        return Peer("", {})


def _match_selector(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def _peer_matches(rule_peers: list[dict[str, Any]] | None, own_ns: str, peer: Peer) -> bool:
    if not rule_peers:  # no from/to: everyone
        return True
    for p in rule_peers:
        if "ipBlock" in p:
            if peer.namespace == "":  # outside the cluster
                return True
            continue
        if peer.namespace == "":
            continue
        ns_labels = {"kubernetes.io/metadata.name": peer.namespace}
        if "namespaceSelector" in p:
            if not _match_selector(p["namespaceSelector"], ns_labels):
                continue
        elif peer.namespace != own_ns:
            continue
        if _match_selector(p.get("podSelector"), peer.labels):
            return True
    return False


def _ports_match(rule_ports: list[dict[str, Any]] | None, port: int) -> bool:
    if not rule_ports:
        return True
    return any(
        p.get("port") is None or p["port"] <= port <= p.get("endPort", p["port"])
        for p in rule_ports
    )


def _allowed(
    policies: list[dict[str, Any]], pod: Peer, direction: str, other: Peer, port: int
) -> bool:
    """Whether the policies of pod's namespace let `other` talk to/from `pod` on `port`."""
    if pod.namespace == "":  # outside the cluster: no policy of ours applies
        return True
    kind = "Ingress" if direction == "ingress" else "Egress"
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace") == pod.namespace
        and kind in p["spec"].get("policyTypes", ["Ingress"])
        and _match_selector(p["spec"].get("podSelector"), pod.labels)
    ]
    if not selecting:
        return True
    peers_key = "from" if direction == "ingress" else "to"
    for p in selecting:
        for rule in p["spec"].get(direction, []) or []:
            if _peer_matches(rule.get(peers_key), pod.namespace, other) and _ports_match(
                rule.get("ports"), port
            ):
                return True
    return False


def flow_allowed(docs: list[dict[str, Any]], src: Peer, dst: Peer, port: int) -> bool:
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    return _allowed(policies, src, "egress", dst, port) and _allowed(
        policies, dst, "ingress", src, port
    )


def pod_peer(docs: list[dict[str, Any]], name: str) -> Peer:
    """The pods of the workload labelled app.kubernetes.io/name=`name`."""
    for obj, pod in workloads(docs):
        labels = pod["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/name") == name:
            return Peer(obj["metadata"].get("namespace", ""), labels)
    raise AssertionError(f"no workload named {name}")
