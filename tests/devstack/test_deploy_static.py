"""The static deployment files agree with the workspace: members, modules, images, ports."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CONTAINERS = REPO / "deploy" / "containers"
K8S = REPO / "deploy" / "k8s"
SERVICES = ("api", "scheduler", "imagesvc", "agent_kvm", "agent_vmware")


def _members() -> dict[str, Path]:
    found = {}
    for pyproject in [*REPO.glob("libs/*/pyproject.toml"), *REPO.glob("services/*/pyproject.toml")]:
        found[tomllib.loads(pyproject.read_text())["project"]["name"]] = pyproject.parent
    return found


def test_one_containerfile_per_service_installing_only_its_member() -> None:
    members = _members()
    for service in SERVICES:
        text = (CONTAINERS / f"{service}.Containerfile").read_text()
        package = re.search(r"uv sync .*--package (\S+)", text)
        assert package, service
        member = members[package.group(1)]
        assert member == REPO / "services" / service
        assert (member / "src" / "polyvisor" / service).is_dir()
        assert f'"polyvisor.{service}"]' in text
        assert "--frozen" in text and "--no-dev" in text


def _docs() -> list[dict]:  # type: ignore[type-arg]
    docs = []
    for f in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def test_kustomization_lists_every_manifest_and_images_exist() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    images = {i["name"] for i in kustomization["images"]}
    assert images == {f"polyvisor/{s.replace('_', '-')}" for s in SERVICES}


def test_workloads_use_known_images_config_and_conventional_ports() -> None:
    expected_ports = {"api": 50051, "imagesvc": 50052, "scheduler": 50053}
    configmaps = {d["metadata"]["name"] for d in _docs() if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"] for d in _docs() if d["kind"] == "Secret"}
    workloads = [d for d in _docs() if d["kind"] in ("Deployment", "DaemonSet")]
    assert {c["image"] for w in workloads for c in w["spec"]["template"]["spec"]["containers"]} == {
        f"polyvisor/{s.replace('_', '-')}" for s in SERVICES
    }
    for w in workloads:
        for c in w["spec"]["template"]["spec"]["containers"]:
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            name = c["image"].split("/")[1]
            if name in expected_ports:
                assert env["POLYVISOR_GRPC_PORT"] == str(expected_ports[name])
                assert c["readinessProbe"]["grpc"]["port"] == expected_ports[name]
            else:  # agents never get database credentials
                refs = [s.get("secretRef", {}).get("name") for s in c.get("envFrom", [])]
                assert "polyvisor-database" not in refs
