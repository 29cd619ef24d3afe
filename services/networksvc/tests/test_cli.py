"""`polyvisor network|subnet|port|security group|security group rule` against the real
service: what a user types and sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from netsvc_client import Service, physnet

from polyvisor.client.cli.app import build_parser, run


@pytest.fixture
def cli(
    service: Service,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # type: ignore[no-untyped-def]
    admin = service.admin(f"cli-{tmp_path.name[-12:]}")
    monkeypatch.setenv("POLYVISOR_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("POLYVISOR_TOKEN", admin.token)
    monkeypatch.setenv("COLUMNS", "250")

    async def polyvisor(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        args = build_parser().parse_args(["--network-url", service.address, *argv])
        code = await run(args)
        out = capsys.readouterr()
        return code, out.out, out.err

    return polyvisor


async def test_network_subnet_port_commands(cli) -> None:  # type: ignore[no-untyped-def]
    phys = physnet()
    code, out, err = await cli("network", "create", "prod", "--physical-network", phys,
                               "--segmentation-id", "120", "-f", "json")  # fmt: skip
    assert code == 0, err
    net = json.loads(out)
    assert (net["network_type"], net["segmentation_id"], net["physical_network"]) == (
        "vlan", 120, phys,
    )  # fmt: skip
    code, out, err = await cli("subnet", "create", "prod-v4", "--network", "prod", "--cidr",
                               "10.77.0.0/24", "--dns", "10.77.0.2", "--route",
                               "192.168.0.0/16=10.77.0.254", "--pool", "10.77.0.10-10.77.0.20")  # fmt: skip
    assert code == 0, err
    assert "10.77.0.10-10.77.0.20" in out and "192.168.0.0/16 via 10.77.0.254" in out
    code, out, err = await cli("port", "create", "p1", "--network", "prod",
                               "--fixed-ip", "subnet=prod-v4,ip=10.77.0.15", "-f", "value",
                               "-c", "fixed_ips")  # fmt: skip
    assert code == 0, err
    assert "10.77.0.15" in out
    code, out, _ = await cli("port", "list", "--network", "prod")
    assert code == 0 and "p1" in out and "10.77.0.15" in out
    # Bad input is the service's clear message and a non-zero exit.
    code, _, err = await cli("port", "create", "--network", "prod", "--fixed-ip", "ip=10.77.0.15")
    assert code != 0 and "already allocated" in err
    code, _, err = await cli("network", "delete", "prod")
    assert code != 0 and "in use" in err
    code, out, _ = await cli("port", "delete", "p1")
    assert code == 0 and "deleted p1" in out
    assert (await cli("subnet", "delete", "prod-v4"))[0] == 0
    assert (await cli("network", "delete", "prod"))[0] == 0
    code, out, _ = await cli("network", "list", "--name", "prod", "-f", "json")
    assert json.loads(out) == []


async def test_security_group_commands(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = await cli("security", "group", "create", "web", "--description", "front")
    assert code == 0, err
    code, out, err = await cli("security", "group", "rule", "create", "web", "--ingress",
                               "--protocol", "tcp", "--port", "80:443", "--remote-ip",
                               "0.0.0.0/0", "-f", "value", "-c", "id")  # fmt: skip
    assert code == 0, err
    rule_id = out.strip()
    code, out, _ = await cli("security", "group", "rule", "create", "web", "--ingress",
                             "--protocol", "icmp", "--icmp-type", "8", "--remote-group", "web")  # fmt: skip
    assert code == 0 and "type 8" in out
    code, out, _ = await cli("security", "group", "show", "web")
    assert code == 0 and "ingress IPv4 tcp 80-443 0.0.0.0/0" in out
    code, out, _ = await cli("security", "group", "rule", "list", "web")
    assert code == 0 and rule_id in out
    code, _, err = await cli("security", "group", "rule", "create", "web", "--protocol", "tcp",
                             "--port", "443:80")  # fmt: skip
    assert code != 0 and "greater than" in err
    code, out, _ = await cli("security", "group", "list")
    assert code == 0 and "default" in out and "web" in out
    assert (await cli("security", "group", "rule", "delete", rule_id))[0] == 0
    assert (await cli("security", "group", "delete", "web"))[0] == 0
