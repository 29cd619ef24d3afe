"""The `polyvisor` CLI against the fake cloud: parsing, output formats, errors, exit codes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import yaml

from libs.client.tests.conftest import CliResult
from libs.client.tests.fake_cloud import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    API_KEY,
    PROJECT,
    FakeCloud,
    start_fake_cloud,
)
from polyvisor.client.cli import main
from polyvisor.client.config import ClientConfig

Cli = Callable[..., CliResult]


def _disk(
    tmp_path: Path, name: str = "cirros.qcow2", data: bytes = b"QFI\xfb" + b"\0" * 3000
) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _image(cli: Cli, tmp_path: Path, name: str = "cirros", *extra: str) -> dict:
    r = cli("image", "create", name, "--file", str(_disk(tmp_path, f"{name}.qcow2")),
            "--disk-format", "qcow2", *extra, "-f", "json")  # fmt: skip
    assert r.code == 0, r.err
    return json.loads(r.out)


# ---------------------------------------------------------------------- parsing and help


def test_help_documents_the_exit_codes(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0  success", "2  usage error", "3  not found", "4  timed out waiting"):
        assert line in out


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli().code == 2
    assert cli("server").code == 2
    assert cli("server", "list", "-f", "xml").code == 2
    assert cli("server", "create", "x", "--flavor", "m1.small").code == 2  # --image missing
    r = cli("flavor", "create", "f", "--vcpus", "two", "--ram", "1")
    assert r.code == 2 and "invalid int value" in r.err


def test_migration_abort_without_a_server_is_a_usage_error(logged_in: Cli) -> None:
    r = logged_in("server", "migration", "abort")
    assert r.code == 2 and "migration abort needs a SERVER" in r.err


def test_not_logged_in_is_a_usage_error_with_a_hint(cli: Cli) -> None:
    r = cli("server", "list")
    assert r.code == 2
    assert "polyvisor login" in r.err


# ---------------------------------------------------------------------- login


def test_login_saves_endpoints_credentials_and_token(
    cli: Cli, cloud: FakeCloud, isolated_env: Path
) -> None:
    r = cli(
        "login",
        "--username",
        ADMIN_USER,
        "--password",
        ADMIN_PASSWORD,
        "--project",
        PROJECT,
        "-f",
        "json",
    )
    assert r.code == 0, r.err
    shown = json.loads(r.out)
    assert (
        shown["user"] == ADMIN_USER and shown["project"] == PROJECT and shown["roles"] == ["admin"]
    )
    assert stat.S_IMODE(isolated_env.stat().st_mode) == 0o600
    cfg = ClientConfig.load(isolated_env)
    assert cfg.api_url and cfg.image_url and cfg.token is not None and cfg.token.valid()
    # Later commands need no endpoint flags and no new authentication.
    r = cli("flavor", "list", "-f", "value", "-c", "name", endpoints=False)
    assert r.code == 0, r.err
    assert r.out.split() == ["m1.small", "m1.large", "m1.huge"]
    assert cloud.auth_count == 1


def test_login_with_api_key_and_with_a_password_from_the_environment(cli: Cli, monkeypatch) -> None:
    assert cli("login", "--api-key", API_KEY).code == 0
    monkeypatch.setenv("POLYVISOR_PASSWORD", ADMIN_PASSWORD)
    r = cli("login", "--username", ADMIN_USER, "-f", "value", "-c", "user")
    assert r.code == 0 and r.out.strip() == ADMIN_USER


def test_login_as_the_dev_stack_admin(cli: Cli, fake, isolated_env: Path) -> None:
    assert cli("login", "--dev").code == 2  # no dev stack around
    stack = Path.cwd() / ".polyvisor"
    stack.mkdir()
    (stack / "endpoints.json").write_text(json.dumps({
        "api": {"grpc": fake.api_url, "state": "running"},
        "imagesvc": {"grpc": fake.image_url, "state": "running"},
        "admin": {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "project": PROJECT},
    }))  # fmt: skip
    r = cli("login", "--dev", "-f", "json", endpoints=False)
    assert r.code == 0, r.err
    shown = json.loads(r.out)
    assert (shown["user"], shown["api_url"], shown["image_url"]) == (
        ADMIN_USER,
        fake.api_url,
        fake.image_url,
    )
    assert ClientConfig.load(isolated_env).credentials.username == ADMIN_USER


def test_login_dev_takes_the_restarted_stacks_endpoints(
    cli: Cli, fake, isolated_env: Path, monkeypatch
) -> None:
    stack = Path.cwd() / ".polyvisor"
    stack.mkdir()

    def dev_up(endpoints) -> None:  # type: ignore[no-untyped-def]
        (stack / "endpoints.json").write_text(json.dumps({
            "api": {"grpc": endpoints.api_url, "state": "running"},
            "imagesvc": {"grpc": endpoints.image_url, "state": "running"},
            "admin": {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "project": PROJECT},
        }))  # fmt: skip

    dev_up(fake)
    assert cli("login", "--dev", endpoints=False).code == 0
    assert ClientConfig.load(isolated_env).api_url == fake.api_url
    # ./dev down && ./dev up with ephemeral ports: the old ports are gone, the stack is elsewhere
    fake.stop()
    again = start_fake_cloud(FakeCloud())
    try:
        dev_up(again)
        monkeypatch.setenv("POLYVISOR_API_URL", fake.api_url)  # nor does a stale export
        r = cli("login", "--dev", "-f", "json", endpoints=False)
        assert r.code == 0, r.err
        shown = json.loads(r.out)
        assert (shown["api_url"], shown["image_url"]) == (again.api_url, again.image_url)
        saved = ClientConfig.load(isolated_env)
        assert (saved.api_url, saved.image_url) == (again.api_url, again.image_url)
        # the next command follows the saved, current endpoints
        monkeypatch.delenv("POLYVISOR_API_URL")
        assert cli("flavor", "list", endpoints=False).code == 0
        # a stack whose api is not running is a usage error, not a call to a dead port
        (stack / "endpoints.json").write_text(json.dumps({"api": {"state": "failed"}}))
        assert cli("login", "--dev", endpoints=False).code == 2
    finally:
        again.stop()


def test_login_failures(cli: Cli, isolated_env: Path) -> None:
    r = cli("login", "--username", ADMIN_USER, "--password", "wrong")
    assert r.code == 1 and "UNAUTHENTICATED" in r.err
    assert not isolated_env.exists()
    assert cli("login").code == 2
    assert cli("login", "--username", "u", "--password", "p", "--api-key", "k").code == 2


def test_env_credentials_override_the_config(cli: Cli, cloud: FakeCloud, monkeypatch) -> None:
    monkeypatch.setenv("POLYVISOR_API_KEY", API_KEY)
    assert cli("quota", "show").code == 0
    assert cloud.auth_count == 1


# ---------------------------------------------------------------------- output formats


def test_every_format_of_flavor_show(logged_in: Cli) -> None:
    table = logged_in("flavor", "show", "m1.large")
    assert table.code == 0
    assert "| vcpus " in table.out.replace("  ", " ") or "vcpus" in table.out
    assert "m1.large" in table.out and "8192" in table.out
    as_json = json.loads(logged_in("flavor", "show", "m1.large", "-f", "json").out)
    assert as_json["vcpus"] == 4 and as_json["extra_specs"] == {} and as_json["create_time"] is None
    as_yaml = yaml.safe_load(logged_in("flavor", "show", "2", "-f", "yaml").out)
    assert as_yaml == as_json
    value = logged_in("flavor", "show", "m1.large", "-f", "value", "-c", "id", "-c", "ram_mb")
    assert value.out.splitlines() == ["2", "8192"]
    picked = json.loads(logged_in("flavor", "show", "m1.large", "-f", "json", "-c", "name").out)
    assert picked == {"name": "m1.large"}


def test_flavor_lifecycle(logged_in: Cli, cloud: FakeCloud) -> None:
    r = logged_in("flavor", "create", "vm.big", "--vcpus", "8", "--ram", "16384", "--disk", "40",
                  "--property", "hypervisor_type=vmware", "--private", "--project", "p-demo", "-f", "json")  # fmt: skip
    assert r.code == 0, r.err
    created = json.loads(r.out)
    assert created["extra_specs"] == {"hypervisor_type": "vmware"}
    assert created["is_public"] is False and created["project_ids"] == ["p-demo"]
    listed = json.loads(logged_in("flavor", "list", "-f", "json").out)
    assert "vm.big" in [f["name"] for f in listed]
    assert logged_in("flavor", "create", "vm.big", "--vcpus", "1", "--ram", "1").code == 1  # exists
    assert logged_in("flavor", "delete", "vm.big").code == 0
    assert logged_in("flavor", "show", "vm.big").code == 3


# ---------------------------------------------------------------------- images


def test_image_create_uploads_and_shows_the_result(
    logged_in: Cli, cloud: FakeCloud, tmp_path: Path
) -> None:
    img = _image(logged_in, tmp_path, "cirros", "--property", "hypervisor_type=kvm", "--property",
                 "architecture=x86_64", "--property", "team=infra", "--public", "--min-ram", "64")  # fmt: skip
    assert img["status"] == "active"
    assert img["disk_format"] == "qcow2" and img["container_format"] == "bare"
    assert img["hypervisor_type"] == "kvm" and img["architecture"] == "x86_64"
    assert (
        img["properties"] == {"team": "infra"}
        and img["visibility"] == "public"
        and img["min_ram"] == 64
    )
    assert img["renditions"][0]["original"] is True
    assert cloud.upload_chunks == [3004]
    table = logged_in("image", "list")
    assert table.code == 0 and "cirros" in table.out and "active" in table.out
    r = logged_in(
        "image", "renditions", "cirros", "-f", "value", "-c", "disk_format", "-c", "status"
    )
    assert r.out.strip() == "qcow2 active"


def test_image_create_with_a_bad_property_is_a_usage_error(logged_in: Cli, tmp_path: Path) -> None:
    disk = str(_disk(tmp_path))
    r = logged_in(
        "image",
        "create",
        "x",
        "--file",
        disk,
        "--disk-format",
        "qcow2",
        "--property",
        "hypervisor_type=bochs",
    )
    assert r.code == 2 and "bochs" in r.err
    assert (
        logged_in(
            "image",
            "create",
            "x",
            "--file",
            disk,
            "--disk-format",
            "qcow2",
            "--property",
            "novalue",
        ).code
        == 2
    )
    assert (
        logged_in(
            "image", "create", "x", "--file", str(tmp_path / "missing"), "--disk-format", "qcow2"
        ).code
        == 2
    )
    assert logged_in("image", "create", "x", "--file", disk, "--disk-format", "vhdx").code == 2


def test_a_refused_upload_exits_1_with_the_reason(logged_in: Cli, tmp_path: Path) -> None:
    evil = _disk(tmp_path, "evil.qcow2", b"BAD" + b"\0" * 10)
    r = logged_in("image", "create", "evil", "--file", str(evil), "--disk-format", "qcow2")
    assert r.code == 1
    assert "backing file" in r.err and "killed" in r.out


def test_image_set_save_and_delete(logged_in: Cli, cloud: FakeCloud, tmp_path: Path) -> None:
    img = _image(logged_in, tmp_path, "base", "--property", "team=a")
    r = logged_in(
        "image",
        "set",
        "base",
        "--property",
        "os_type=linux",
        "--property",
        "tier=gold",
        "-f",
        "json",
    )
    assert r.code == 0, r.err
    updated = json.loads(r.out)
    assert updated["os_type"] == "linux" and updated["properties"] == {"team": "a", "tier": "gold"}
    assert logged_in("image", "set", "base").code == 2
    out = tmp_path / "saved.vmdk"
    r = logged_in(
        "image", "save", "base", "--file", str(out), "--disk-format", "vmdk", "-f", "json"
    )
    assert r.code == 0, r.err
    saved = json.loads(r.out)
    assert saved["disk_format"] == "vmdk" and saved["vmware_disktype"] == "streamOptimized"
    assert out.read_bytes().startswith(b"CONVERTED:")
    assert logged_in("image", "delete", img["id"]).code == 0
    assert logged_in("image", "show", img["id"]).code == 3
    assert logged_in("image", "delete", "base").code == 3


# ---------------------------------------------------------------------- servers


def test_server_create_wait_and_operate(logged_in: Cli, cloud: FakeCloud, tmp_path: Path) -> None:
    _image(logged_in, tmp_path)
    user_data = tmp_path / "init.yaml"
    user_data.write_text("#cloud-config\n")
    r = logged_in("server", "create", "web-1", "--image", "cirros", "--flavor", "m1.small",
                  "--key-name", "mine", "--user-data", str(user_data), "--availability-zone", "nova",
                  "--hint", "hypervisor_type=vmware", "--property", "role=web", "--wait", "-f", "json")  # fmt: skip
    assert r.code == 0, r.err
    server = json.loads(r.out)
    assert server["state"] == "ACTIVE" and server["hypervisor_type"] == "vmware"
    req = next(q for m, q in cloud.calls if m == "CreateServer")
    assert req.server.scheduler_hints == {"hypervisor_type": "vmware"}
    assert req.server.metadata == {"role": "web"}
    assert req.server.user_data == b"#cloud-config\n"
    assert (req.server.key_name, req.server.availability_zone, req.server.flavor_id) == (
        "mine",
        "nova",
        "1",
    )

    listed = logged_in("server", "list", "-f", "value", "-c", "name", "-c", "state")
    assert listed.out.strip() == "web-1 ACTIVE"
    shown = logged_in("server", "show", "web-1")
    assert shown.code == 0 and "vnc 127.0.0.1:5901" in shown.out

    r = logged_in("server", "stop", "web-1", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "SHUTOFF")
    r = logged_in("server", "start", "web-1", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "ACTIVE")
    r = logged_in("server", "reboot", "web-1", "--hard", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "ACTIVE")
    assert next(q for m, q in cloud.calls if m == "RebootServer").type == 2

    r = logged_in("server", "pause", "web-1", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "PAUSED")
    r = logged_in("server", "unpause", "web-1", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "ACTIVE")
    # A suspend the host refuses ends back in ACTIVE: --wait says so, with the fault.
    r = logged_in("server", "suspend", "web-1", "--wait")
    assert r.code != 0 and "still ACTIVE: host h1 cannot suspend servers" in r.err
    assert [m for m, _ in cloud.calls if m in ("PauseServer", "UnpauseServer")] == [
        "PauseServer",
        "UnpauseServer",
    ]

    r = logged_in("server", "tag", "add", "web-1", "web", "prod", "-f", "value")
    assert (r.code, r.out.split()) == (0, ["web", "prod"])
    r = logged_in("server", "tag", "remove", "web-1", "web", "-f", "value")
    assert (r.code, r.out.split()) == (0, ["prod"])
    assert logged_in("server", "tag", "list", "web-1", "-f", "value").out.split() == ["prod"]
    logged_in("server", "list", "--tag", "prod", "--tag", "x")
    listing = [q for m, q in cloud.calls if m == "ListServers"][-1]
    assert list(listing.tags) == ["prod", "x"]

    r = logged_in("server", "event", "list", "web-1", "-f", "value", "-c", "action", "-c", "result")
    lines = r.out.strip().splitlines()
    assert r.code == 0 and lines[0] == "SuspendServer SUCCESS" and "PauseServer SUCCESS" in lines

    r = logged_in("server", "resize", "web-1", "m1.large", "--wait", "-f", "json")
    resized = json.loads(r.out)
    assert r.code == 0 and resized["state"] == "VERIFY_RESIZE", r.err
    assert resized["flavor"]["name"] == "m1.large"
    assert resized["resize"]["old_flavor"]["name"] == "m1.small"
    assert "VERIFY_RESIZE" in r.err  # the progress line while waiting
    assert next(q for m, q in cloud.calls if m == "ResizeServer").flavor_id == "2"
    r = logged_in("server", "resize", "confirm", "web-1", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "ACTIVE")
    r = logged_in("server", "resize", "web-1", "m1.large", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "VERIFY_RESIZE")
    r = logged_in("server", "resize", "revert", "web-1", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "ACTIVE")
    # A flavor no host has room for: the resize settles back in ACTIVE with the explanation.
    r = logged_in("server", "resize", "web-1", "m1.huge", "--wait")
    assert r.code != 0 and "no host fits flavor m1.huge" in r.err
    assert [m for m, _ in cloud.calls if "Resize" in m] == [
        "ResizeServer",
        "ConfirmResize",
        "ResizeServer",
        "RevertResize",
        "ResizeServer",
    ]

    r = logged_in("server", "migrate", "web-1", "--host", "kvm-2", "--wait", "-f", "json")
    migrated = json.loads(r.out)
    assert r.code == 0 and migrated["state"] == "VERIFY_RESIZE", r.err
    assert migrated["resize"]["dest_host"] == "kvm-2"
    asked = next(q for m, q in cloud.calls if m == "MigrateServer")
    assert (asked.host, asked.live) == ("kvm-2", False)
    r = logged_in("server", "resize", "confirm", "web-1", "--wait", "-f", "value", "-c", "state")
    assert (r.code, r.out.strip()) == (0, "ACTIVE")
    r = logged_in("server", "migrate", "web-1", "--live")
    assert r.code != 0 and "live migration is not available" in r.err

    r = logged_in("server", "console", "log", "web-1", "--lines", "2")
    assert (r.code, r.out) == (0, "web-1 boot line 9\nweb-1 boot line 10\n")

    console = json.loads(logged_in("server", "console", "web-1", "-f", "json").out)
    assert (
        console["type"] == "vnc"
        and console["port"] == 5901
        and console["url"] == "vnc://127.0.0.1:5901"
    )
    assert logged_in("server", "console", "web-1", "--type", "telnet").code == 2

    r = logged_in("server", "delete", "web-1", "--wait")
    assert r.code == 0, r.err
    assert logged_in("server", "show", "web-1").code == 3
    assert logged_in("server", "list", "-f", "json").out.strip() == "[]"


def test_user_data_too_big_and_bad_hints_are_usage_errors(logged_in: Cli, tmp_path: Path) -> None:
    _image(logged_in, tmp_path)
    big = tmp_path / "big"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    assert (
        logged_in(
            "server",
            "create",
            "s",
            "--image",
            "cirros",
            "--flavor",
            "m1.small",
            "--user-data",
            str(big),
        ).code
        == 2
    )
    assert (
        logged_in(
            "server",
            "create",
            "s",
            "--image",
            "cirros",
            "--flavor",
            "m1.small",
            "--hint",
            "novalue",
        ).code
        == 2
    )


def test_unknown_image_or_flavor_exits_3(logged_in: Cli, tmp_path: Path) -> None:
    _image(logged_in, tmp_path)
    r = logged_in("server", "create", "s", "--image", "nope", "--flavor", "m1.small")
    assert r.code == 3 and "nope" in r.err
    assert logged_in("server", "create", "s", "--image", "cirros", "--flavor", "m9.nope").code == 3


def test_no_valid_host_fault_is_shown_as_a_table(logged_in: Cli, tmp_path: Path) -> None:
    _image(logged_in, tmp_path)
    r = logged_in("server", "create", "big", "--image", "cirros", "--flavor", "m1.huge", "--wait")
    assert r.code == 1
    assert "No valid host was found" in r.err
    assert "NO_VALID_HOST" in r.err
    assert "EsxiHostFitFilter" in r.err and "ImagePropertiesFilter" in r.err
    assert "no single ESXi host has 65536 MB" in r.err
    assert "largest ESXi host has 32768 MB free" in r.err
    # The server exists in ERROR; `server show` prints the fault too.
    shown = logged_in("server", "show", "big")
    assert shown.code == 0 and "EsxiHostFitFilter" in shown.out


def test_an_explanation_in_the_error_details_is_shown_as_a_table(
    logged_in: Cli, tmp_path: Path
) -> None:
    _image(logged_in, tmp_path)
    r = logged_in(
        "server", "create", "s", "--image", "cirros", "--flavor", "m1.small", "--hint", "refuse=rpc"
    )
    assert r.code == 1
    assert "FAILED_PRECONDITION" in r.err
    assert "EsxiHostFitFilter" in r.err and "request id: req-fake-1" in r.err


def test_spawn_failure_while_waiting_exits_1(logged_in: Cli, tmp_path: Path) -> None:
    _image(logged_in, tmp_path, "broken")
    r = logged_in("server", "create", "s", "--image", "broken", "--flavor", "m1.small", "--wait")
    assert r.code == 1
    assert "SPAWN_FAILED" in r.err and "disk is unreadable" in r.err and "kvm-1" in r.err


def test_waiting_too_long_exits_4(logged_in: Cli, cloud: FakeCloud, tmp_path: Path) -> None:
    _image(logged_in, tmp_path)
    cloud.watch_enabled = False  # and polling never sees progress
    r = logged_in(
        "server",
        "create",
        "s",
        "--image",
        "cirros",
        "--flavor",
        "m1.small",
        "--wait",
        "--wait-timeout",
        "0.2",
    )
    assert r.code == 4
    assert "BUILDING" in r.err


def test_deleting_several_reports_each_failure(logged_in: Cli, tmp_path: Path) -> None:
    _image(logged_in, tmp_path)
    assert logged_in("server", "create", "a", "--image", "cirros", "--flavor", "m1.small").code == 0
    r = logged_in("server", "delete", "a", "ghost")
    assert r.code == 3
    assert "ghost" in r.err and "failed for some of 2 servers" in r.err


# ---------------------------------------------------------------------- keypairs, hypervisors, quotas


def test_keypairs(logged_in: Cli, tmp_path: Path) -> None:
    r = logged_in("keypair", "create", "k1")
    assert r.code == 0 and r.out.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    key_file = tmp_path / "k2.pem"
    r = logged_in("keypair", "create", "k2", "--private-key", str(key_file), "-f", "json")
    assert r.code == 0 and json.loads(r.out)["private_key_file"] == str(key_file)
    assert (
        stat.S_IMODE(os.stat(key_file).st_mode) == 0o600 and "PRIVATE KEY" in key_file.read_text()
    )
    assert (
        logged_in("keypair", "create", "k3", "--private-key", str(key_file)).code == 2
    )  # no overwrite
    pub = tmp_path / "id.pub"
    pub.write_text("ssh-ed25519 AAAAC3 me@host\n")
    r = logged_in(
        "keypair", "import", "k4", "--public-key", str(pub), "-f", "value", "-c", "fingerprint"
    )
    assert (r.code, r.out.strip()) == (0, "SHA256:imported")
    pub.write_text("not a key")
    assert logged_in("keypair", "import", "k5", "--public-key", str(pub)).code == 1
    assert logged_in("keypair", "list", "-f", "value", "-c", "name").out.split() == [
        "k1",
        "k2",
        "k4",
    ]
    assert logged_in("keypair", "delete", "k1", "k2").code == 0
    assert logged_in("keypair", "show", "k1").code == 3


def test_hypervisor_show_lists_the_esxi_hosts_of_a_cluster(logged_in: Cli) -> None:
    r = logged_in("hypervisor", "list")
    assert r.code == 0 and "kvm-1" in r.out and "DC0_C0" in r.out
    vm = json.loads(logged_in("hypervisor", "list", "--type", "vmware", "-f", "json").out)
    assert [h["id"] for h in vm] == ["vmware:DC0_C0"]
    r = logged_in("hypervisor", "show", "DC0_C0")
    assert r.code == 0
    assert (
        "ESXi hosts of DC0_C0" in r.out
        and "DC0_C0_H0" in r.out
        and "DC0_C0_H1" in r.out
        and "/32768" in r.out  # RAM used/total of an ESXi host
    )
    full = json.loads(logged_in("hypervisor", "show", "vmware:DC0_C0", "-f", "json").out)
    assert [e["name"] for e in full["esxi_hosts"]] == ["DC0_C0_H0", "DC0_C0_H1"]
    assert full["esxi_hosts"][0]["connection_state"] == "connected"
    kvm = json.loads(logged_in("hypervisor", "show", "kvm-1", "-f", "json").out)
    assert kvm["features"]["vnc_port_range"] == {"min": 5900, "max": 6000}
    assert logged_in("hypervisor", "show", "nowhere").code == 3


def test_quota_show_and_set(logged_in: Cli) -> None:
    r = logged_in("quota", "show")
    assert r.code == 0 and "0 used of 10" in r.out
    r = logged_in(
        "quota", "set", "--project", "p-demo", "--instances", "-1", "--ram", "1024", "-f", "json"
    )
    assert r.code == 0, r.err
    limits = json.loads(r.out)["limits"]
    assert limits == {"instances": -1, "vcpus": 20, "ram_mb": 1024}
    assert "unlimited" in logged_in("quota", "show").out
    assert logged_in("quota", "set").code == 2
    # Without --project: the project the token is scoped to.
    r = logged_in("quota", "set", "--cores", "7", "-f", "value", "-c", "project_id")
    assert (r.code, r.out.strip()) == (0, "p-demo"), r.err


def test_server_create_nic_needs_a_network_or_a_port(logged_in: Cli, tmp_path: Path) -> None:
    _image(logged_in, tmp_path)
    for nic in ("port-id=a,net-id=b", "v4-fixed-ip=10.0.0.5", "net-id=n,colour=red"):
        r = logged_in("server", "create", "s", "--image", "cirros", "--flavor", "m1.small",
                      "--nic", nic)  # fmt: skip
        assert r.code == 2, (nic, r.err)
        assert "net-id=NETWORK" in r.err


def test_every_wait_shows_a_progress_line(logged_in: Cli, tmp_path: Path) -> None:
    """While `--wait` waits, stderr says where the server is (stdout keeps the result)."""
    _image(logged_in, tmp_path)
    r = logged_in("server", "create", "web-p", "--image", "cirros", "--flavor", "m1.small",
                  "--wait", "-f", "value", "-c", "state")  # fmt: skip
    assert (r.code, r.out.strip()) == (0, "ACTIVE")
    assert "server web-p: " in r.err
    for action, state in (("stop", "SHUTOFF"), ("start", "ACTIVE"), ("reboot", "ACTIVE")):
        r = logged_in("server", action, "web-p", "--wait", "-f", "value", "-c", "state")
        assert (r.code, r.out.strip()) == (0, state), r.err
        assert f"server web-p: {state}" in r.err
    r = logged_in("server", "delete", "web-p", "--wait")
    assert r.code == 0 and "server web-p: " in r.err
    r = logged_in("server", "list", "-f", "value", "-c", "name")
    assert "web-p" not in r.out


def test_server_set_and_unset_properties(logged_in: Cli, cloud: FakeCloud, tmp_path: Path) -> None:
    _image(logged_in, tmp_path)
    r = logged_in("server", "create", "web-m", "--image", "cirros", "--flavor", "m1.small",
                  "--property", "role=web", "--wait")  # fmt: skip
    assert r.code == 0, r.err
    r = logged_in("server", "set", "web-m", "--property", "tier=gold", "--property", "role=db",
                  "-f", "json")  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["metadata"] == {"role": "db", "tier": "gold"}
    r = logged_in("server", "unset", "web-m", "--property", "role", "-f", "json")
    assert (r.code, json.loads(r.out)["metadata"]) == (0, {"tier": "gold"})
    # Each write is a patch (keys set, keys removed), not the map read before it: a key
    # another writer set meanwhile stays.
    updates = [req for method, req in cloud.calls if method == "UpdateServer"]
    assert [(dict(u.metadata_patch.set), list(u.metadata_patch.remove)) for u in updates] == [
        ({"tier": "gold", "role": "db"}, []),
        ({}, ["role"]),
    ]
    assert all("metadata" not in u.update_mask.paths for u in updates)
    r = logged_in("server", "unset", "web-m", "--property", "nope")
    assert r.code == 2 and "no property nope" in r.err
    r = logged_in("server", "set", "web-m", "--name", "web-n", "-f", "value", "-c", "name")
    assert (r.code, r.out.strip()) == (0, "web-n")
    assert logged_in("server", "set", "web-n").code == 2  # nothing to change
