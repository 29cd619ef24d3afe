"""Settings from the environment, as the deploy files set them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from polyvisor.agent_vmware.config import VmwareAgentSettings

BASE = {
    "POLYVISOR_VCENTER_URL": "https://vc.example.com/sdk",
    "POLYVISOR_VCENTER_USER": "polyvisor@vsphere.local",
    "POLYVISOR_CLUSTER_NAME": "dc1/cluster1",
}


def test_password_from_a_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    for k, v in {**BASE, "POLYVISOR_VCENTER_PASSWORD_FILE": str(secret)}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("POLYVISOR_DATASTORE_REGEX", "^ssd-")
    monkeypatch.setenv("POLYVISOR_VM_FOLDER", "cloud/polyvisor")
    settings = VmwareAgentSettings()  # type: ignore[call-arg]
    options = settings.options()
    assert options.password == "s3cret"
    assert (options.host, options.port, options.protocol) == ("vc.example.com", 443, "https")
    assert options.cluster_name == "dc1/cluster1"
    assert options.folder_path == ("cloud", "polyvisor")
    assert options.datastore_regex == "^ssd-"
    assert (options.vnc_port_min, options.vnc_port_max) == (5900, 6105)
    assert settings.host_id == ""  # derived from vCenter unless set
    assert "s3cret" not in repr(settings)


def test_a_password_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("POLYVISOR_VCENTER_PASSWORD", raising=False)
    monkeypatch.delenv("POLYVISOR_VCENTER_PASSWORD_FILE", raising=False)
    with pytest.raises(ValidationError):
        VmwareAgentSettings()  # type: ignore[call-arg]


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**BASE, "POLYVISOR_VCENTER_PASSWORD": "x"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("POLYVISOR_VCENTER_URL", "ftp://vc")
    with pytest.raises(ValueError):
        VmwareAgentSettings().options()  # type: ignore[call-arg]
    monkeypatch.setenv("POLYVISOR_VCENTER_URL", "http://127.0.0.1:8989/sdk")
    monkeypatch.setenv("POLYVISOR_DATASTORE_REGEX", "([")
    with pytest.raises(ValueError):
        VmwareAgentSettings().options()  # type: ignore[call-arg]


def test_image_cache_age_and_sweep_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**BASE, "POLYVISOR_VCENTER_PASSWORD": "x"}.items():
        monkeypatch.setenv(k, v)
    options = VmwareAgentSettings().options()  # type: ignore[call-arg]
    assert (options.image_cache_max_age_s, options.image_cache_sweep_interval_s) == (86400, 2400)
    monkeypatch.setenv("POLYVISOR_VMWARE_IMAGE_CACHE_MAX_AGE_S", "0")  # never
    monkeypatch.setenv("POLYVISOR_VMWARE_IMAGE_CACHE_SWEEP_INTERVAL_S", "60")
    options = VmwareAgentSettings().options()  # type: ignore[call-arg]
    assert (options.image_cache_max_age_s, options.image_cache_sweep_interval_s) == (0, 60)
    monkeypatch.setenv("POLYVISOR_VMWARE_IMAGE_CACHE_MAX_AGE_S", "-1")
    with pytest.raises(ValidationError):
        VmwareAgentSettings()  # type: ignore[call-arg]
