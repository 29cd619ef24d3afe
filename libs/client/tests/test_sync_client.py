"""The synchronous wrapper: same API, no await, streams as iterators."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.client.tests.fake_cloud import ADMIN_PASSWORD, ADMIN_USER, FakeEndpoints
from polyvisor.client import Client, NotFound
from polyvisor.types.v1 import server_status_pb2


def test_sync_client_covers_the_async_api(fake: FakeEndpoints, tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"q" * 5000)
    client = Client(api_url=fake.api_url, image_url=fake.image_url, username=ADMIN_USER,
                    password=ADMIN_PASSWORD, use_config_file=False, poll_interval=0.02)  # fmt: skip
    with client:
        image = client.images.create_from_file("img", disk, disk_format="qcow2")
        server = client.servers.create("s", image_id=image.id, flavor_id="1", wait=True)
        assert server.state == server_status_pb2.SERVER_STATE_ACTIVE
        changes = [c.type for c in client.servers.watch(server_id=server.id)]
        assert changes == ["CREATED", "SYNCED"]
        with pytest.raises(NotFound):
            client.flavors.get("missing")
        assert "create" in dir(client.servers)
    client.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        client.flavors.list()


def test_breaking_out_of_a_watch_closes_the_stream(fake: FakeEndpoints, tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"q" * 100)
    with Client(api_url=fake.api_url, image_url=fake.image_url, username=ADMIN_USER,
                password=ADMIN_PASSWORD, use_config_file=False) as client:  # fmt: skip
        image = client.images.create_from_file("img", disk, disk_format="qcow2")
        for _ in range(2):
            client.servers.create("s", image_id=image.id, flavor_id="1")
        for change in client.servers.watch():
            assert change.type == "CREATED"
            break
        assert len(client.servers.list()) == 2  # the client still works after the early break
