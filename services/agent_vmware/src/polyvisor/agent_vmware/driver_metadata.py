"""A server's metadata after its spawn: the ``meta`` of the cloud-init metadata document in
the VM's ``guestinfo.metadata`` (see ``guestinfo``) is replaced, the rest of the document
kept, with one ReconfigVM_Task (the guest reads it again when cloud-init next looks)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pyVmomi import vim

from polyvisor.agent_vmware.driver_registry import Registry
from polyvisor.agent_vmware.guestinfo import ENCODING, MAX_VALUE_BYTES, decode, encode
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agentkit.driver import DriverError

__all__ = ["GuestMetadataVerbs", "with_meta"]

_KEY = "guestinfo.metadata"


def with_meta(value: str, encoding: str, metadata: Mapping[str, str]) -> str:
    """The encoded metadata document `value` with its ``meta`` replaced by `metadata`."""
    doc = json.loads(decode(value, encoding)) if value else {}
    if metadata:
        doc["meta"] = dict(metadata)
    else:
        doc.pop("meta", None)
    out = encode(json.dumps(doc, sort_keys=True).encode())
    if len(out) > MAX_VALUE_BYTES:
        raise DriverError(f"{_KEY} would be {len(out)} bytes encoded (at most {MAX_VALUE_BYTES})")
    return out


class GuestMetadataVerbs(Registry):
    def set_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            props = retrieve_one(conn.content, vm, ["config.extraConfig"]) or {}
            extra = {o.key: str(o.value) for o in props.get("config.extraConfig") or ()}
            value = with_meta(
                extra.get(_KEY, ""), extra.get(f"{_KEY}.encoding", ENCODING), metadata
            )
            if value == extra.get(_KEY):
                return
            spec = vim.vm.ConfigSpec(
                extraConfig=[
                    vim.option.OptionValue(key=_KEY, value=value),
                    vim.option.OptionValue(key=f"{_KEY}.encoding", value=ENCODING),
                ]
            )
            self._wait(conn, vm.ReconfigVM_Task(spec=spec))
