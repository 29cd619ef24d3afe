"""The JSON schemas Glance v2 serves at /v2/schemas/image(s): what clients read to know an
image's fields (the typed properties of the recipe among them)."""

from __future__ import annotations

from typing import Any

__all__ = ["image_schema", "images_schema"]

_STR_OR_NULL = {"type": ["null", "string"]}


def image_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
               "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$", "description": "An identifier for the image"},
        "name": {**_STR_OR_NULL, "maxLength": 255, "description": "Descriptive name for the image"},
        "status": {"type": "string", "readOnly": True,
                   "enum": ["queued", "saving", "active", "killed", "deleted", "uploading",
                            "importing", "pending_delete", "deactivated"]},
        "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
        "protected": {"type": "boolean"},
        "os_hidden": {"type": "boolean"},
        "checksum": {**_STR_OR_NULL, "readOnly": True, "maxLength": 32},
        "os_hash_algo": {**_STR_OR_NULL, "readOnly": True, "maxLength": 64},
        "os_hash_value": {**_STR_OR_NULL, "readOnly": True, "maxLength": 128},
        "owner": {**_STR_OR_NULL, "maxLength": 255},
        "size": {"type": ["null", "integer"], "readOnly": True},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True},
        "container_format": {"type": ["null", "string"],
                             "enum": [None, "ami", "ari", "aki", "bare", "ovf", "ova", "docker",
                                      "compressed"]},
        "disk_format": {"type": ["null", "string"],
                        "enum": [None, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw",
                                 "qcow2", "vdi", "iso", "ploop"]},
        "created_at": {"type": "string", "readOnly": True},
        "updated_at": {"type": "string", "readOnly": True},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": True},
        "min_ram": {"type": "integer"},
        "min_disk": {"type": "integer"},
        "self": {"type": "string", "readOnly": True},
        "file": {"type": "string", "readOnly": True},
        "stores": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True},
        "locations": {"type": "array", "items": {"type": "object"}},
        "hypervisor_type": {"type": "string", "enum": ["kvm", "qemu", "vmware", "xen", "lxc", "hyperv"],
                            "description": "The hypervisor type this image runs on"},
        "vmware_disktype": {"type": "string", "enum": ["sparse", "streamOptimized", "preallocated"]},
        "vmware_adaptertype": {"type": "string",
                               "enum": ["lsiLogic", "busLogic", "ide", "paraVirtual", "lsiLogicsas"]},
        "vmware_ostype": {"type": "string"},
        "architecture": {"type": "string"},
        "vm_mode": {"type": "string"},
        "os_type": {"type": "string"},
        "hw_disk_bus": {"type": "string", "enum": ["virtio", "scsi", "ide", "sata", "usb"]},
    }  # fmt: skip
    return {
        "name": "image",
        "properties": props,
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
