"""The NoCloud config drive, written with pycdlib and read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from polyvisor.agent_kvm.config_drive import (
    ConfigDrive,
    meta_data,
    read_config_drive,
    write_config_drive,
)


def test_nocloud_files_and_label(tmp_path: Path) -> None:
    path = tmp_path / "cd.iso"
    drive = ConfigDrive(
        instance_id="srv-1",
        hostname='web "one"',
        user_data=b"#cloud-config\nruncmd: [touch /x]\n",
        public_keys=("ssh-ed25519 AAAAC3 alice@x", "  ", "ssh-rsa AAAAB3 bob"),
    )
    write_config_drive(path, drive)
    files = read_config_drive(path)
    assert files["volume_label"] == b"cidata"
    assert files["user-data"] == drive.user_data
    assert files["vendor-data"] == b""
    assert files["meta-data"] == (
        b'instance-id: "srv-1"\n'
        b'local-hostname: "web \\"one\\""\n'
        b"public-keys:\n"
        b'  - "ssh-ed25519 AAAAC3 alice@x"\n'
        b'  - "ssh-rsa AAAAB3 bob"\n'
    )
    assert not list(tmp_path.glob("*.tmp"))
    # util-linux (on every Debian) sees what cloud-init's NoCloud datasource looks for.
    blkid = subprocess.run(
        ["blkid", "-o", "export", str(path)], capture_output=True, text=True, check=True
    )
    assert "LABEL=cidata" in blkid.stdout and "TYPE=iso9660" in blkid.stdout


def test_no_keys_no_key_list() -> None:
    assert b"public-keys" not in meta_data(ConfigDrive("i", "h"))


def test_network_data_json_rides_on_the_drive(tmp_path: Path) -> None:
    path = tmp_path / "cd.iso"
    nd = {
        "links": [{"id": "pvt1", "ethernet_mac_address": "fa:16:3e:00:00:01"}],
        "networks": [],
        "services": [],
    }
    write_config_drive(path, ConfigDrive(instance_id="i-1", hostname="h", network_data=nd))
    assert json.loads(read_config_drive(path)["network_data.json"]) == nd
    write_config_drive(path, ConfigDrive(instance_id="i-1", hostname="h"))
    empty = json.loads(read_config_drive(path)["network_data.json"])
    assert empty == {"links": [], "networks": [], "services": []}
