"""What `./dev up` gives the KVM agent for its data plane: a virt type that boots the Linux
image, and nftables tables of its own, so that stacks side by side keep their rules apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from deploy.dev import kvm
from deploy.dev.layout import Layout
from polyvisor.agent_kvm.config import KvmSettings


def test_each_state_directory_gets_its_own_valid_table() -> None:
    a = kvm.nft_table(Layout(Path("/tmp/stack-a")))
    b = kvm.nft_table(Layout(Path("/tmp/stack-b")))
    assert a != b
    assert a == kvm.nft_table(Layout(Path("/tmp/stack-a")))
    for table in (a, b):
        assert KvmSettings(nft_table=table).nft_table == table


def test_the_agent_refuses_a_table_name_nft_would_not_take() -> None:
    for bad in ("", "1abc", "has space", "x" * 40, "semi;colon"):
        with pytest.raises(ValidationError):
            KvmSettings(nft_table=bad)


def test_virt_type_follows_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    for chosen in ("kvm", "qemu"):
        monkeypatch.setenv("POLYVISOR_DEV_VIRT_TYPE", chosen)
        assert kvm.virt_type("qemu:///system") == chosen


def test_virt_type_is_tcg_inside_a_virtual_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYVISOR_DEV_VIRT_TYPE", raising=False)
    monkeypatch.setattr(kvm, "_nested", lambda: True)
    assert kvm.virt_type("qemu:///system") == "qemu"
    assert kvm.virt_type("test:///default") == "qemu"
