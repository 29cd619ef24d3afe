"""A port's virtual NIC: the image's model, the port's MAC set manually, on its port group."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyVmomi import vim

__all__ = [
    "DEFAULT_MODEL",
    "PORT_KEY_PREFIX",
    "VIF_MODELS",
    "find_nic",
    "nic_add_spec",
    "nic_model",
    "nics_of",
    "port_key",
]

#: extraConfig ``polyvisor.port.<port id>`` = the NIC's MAC: a detach finds the NIC even
#: when the port's binding is already gone.
PORT_KEY_PREFIX = "polyvisor.port."


def port_key(port_id: str) -> str:
    return PORT_KEY_PREFIX + port_id


DEFAULT_MODEL = "vmxnet3"
VIF_MODELS: dict[str, type] = {
    "vmxnet3": vim.vm.device.VirtualVmxnet3,
    "e1000": vim.vm.device.VirtualE1000,
    "e1000e": vim.vm.device.VirtualE1000e,
}


def nic_model(hw_vif_model: str) -> str:
    """The image's ``hw_vif_model`` as a vSphere NIC model; "" means vmxnet3."""
    model = (hw_vif_model or DEFAULT_MODEL).strip().lower()
    if model not in VIF_MODELS:
        raise ValueError(
            f"hw_vif_model {hw_vif_model!r} has no vSphere NIC (one of {', '.join(VIF_MODELS)})"
        )
    return model


def nic_add_spec(
    model: str, mac: str, backing: vim.vm.device.VirtualDevice.BackingInfo, key: int
) -> vim.vm.device.VirtualDeviceSpec:
    nic = VIF_MODELS[model](
        key=key,
        addressType="manual",
        macAddress=mac.lower(),
        backing=backing,
        connectable=vim.vm.device.VirtualDevice.ConnectInfo(
            startConnected=True, connected=True, allowGuestControl=True
        ),
    )
    return vim.vm.device.VirtualDeviceSpec(operation="add", device=nic)


def nics_of(devices: Iterable[Any]) -> list[vim.vm.device.VirtualEthernetCard]:
    return [d for d in devices or () if isinstance(d, vim.vm.device.VirtualEthernetCard)]


def find_nic(devices: Iterable[Any], mac: str) -> vim.vm.device.VirtualEthernetCard | None:
    want = mac.lower()
    return next((d for d in nics_of(devices) if (d.macAddress or "").lower() == want), None)
