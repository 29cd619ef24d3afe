"""ImageCache over a real gRPC DownloadImage: resume, checksums, one download, LRU, pins."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polyvisor.agentkit.credentials import AgentCredentials
from polyvisor.agentkit.driver import ImageRef, RenditionWanted
from polyvisor.agentkit.errors import ImageUnavailable
from polyvisor.agentkit.image_cache import ImageCache, cache_key
from polyvisor.agentkit.image_source import GrpcImageSource
from polyvisor.agentkit.testing import AgentTestServers, AssignmentBoard, ImageStore

MiB = 1 << 20
QCOW2 = RenditionWanted("qcow2")


def blob(n: int, seed: int) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (n // 32) + b"x" * (n % 32)


@pytest.fixture
async def store() -> AsyncIterator[tuple[ImageStore, GrpcImageSource]]:
    images = ImageStore()
    async with AgentTestServers(images, AssignmentBoard()) as servers:
        source = GrpcImageSource(servers.address, AgentCredentials())
        yield images, source
        await source.close()


def ref(image_id: str) -> ImageRef:
    return ImageRef(image_id=image_id, disk_format="qcow2")


async def test_download_verify_hit_and_one_download_for_concurrent_fetches(
    tmp_path: Path, store: tuple[ImageStore, GrpcImageSource]
) -> None:
    images, source = store
    data = blob(3 * MiB + 123, 1)
    digest = images.put("img-1", "qcow2", data)
    cache = ImageCache(tmp_path, source)
    results = await asyncio.gather(
        *(cache.fetch(ref("img-1"), QCOW2, user=f"s{i}") for i in range(5))
    )
    assert len(images.requests) == 1  # one download, shared
    assert {r.path for r in results} == {cache.path_of(cache_key("img-1", QCOW2))}
    assert results[0].path.read_bytes() == data
    assert results[0].sha256 == digest and results[0].size == len(data)
    assert sorted(cache.users_of(cache_key("img-1", QCOW2))) == [f"s{i}" for i in range(5)]
    again = await cache.fetch(ref("img-1"), QCOW2, expected_sha256=digest.upper())
    assert again.path == results[0].path
    assert len(images.requests) == 1  # a hit
    await cache.close()


async def test_a_cut_download_resumes_where_it_stopped(
    tmp_path: Path, store: tuple[ImageStore, GrpcImageSource]
) -> None:
    images, source = store
    data = blob(5 * MiB, 2)
    images.put("img-2", "qcow2", data)
    images.cut_after, images.cut_times = 2 * MiB + 7, 1
    cache = ImageCache(tmp_path, source)
    with pytest.raises(ImageUnavailable) as err:
        await cache.fetch(ref("img-2"), QCOW2)
    assert err.value.retryable
    key = cache_key("img-2", QCOW2)
    assert cache.part_of(key).stat().st_size == 2 * MiB + 7
    local = await cache.fetch(ref("img-2"), QCOW2)
    assert [r[2] for r in images.requests] == [0, 2 * MiB + 7]
    assert images.bytes_sent == len(data)  # nothing downloaded twice
    assert local.path.read_bytes() == data
    assert not cache.part_of(key).exists()
    await cache.close()


async def test_checksum_mismatch_keeps_nothing(
    tmp_path: Path, store: tuple[ImageStore, GrpcImageSource]
) -> None:
    images, source = store
    images.put("img-3", "qcow2", blob(MiB, 3))
    images.lie_times = 1
    cache = ImageCache(tmp_path, source)
    with pytest.raises(ImageUnavailable, match="sha256"):
        await cache.fetch(ref("img-3"), QCOW2)
    key = cache_key("img-3", QCOW2)
    assert not cache.path_of(key).exists() and not cache.part_of(key).exists()
    assert cache.entries == {}
    # the command's own checksum is checked too
    with pytest.raises(ImageUnavailable, match="expected"):
        await cache.fetch(ref("img-3"), QCOW2, expected_sha256="0" * 64)
    await cache.close()


async def test_a_corrupt_partial_file_is_downloaded_again_from_zero(
    tmp_path: Path, store: tuple[ImageStore, GrpcImageSource]
) -> None:
    images, source = store
    data = blob(2 * MiB, 4)
    images.put("img-4", "qcow2", data)
    cache = ImageCache(tmp_path, source)
    await cache.open()
    cache.part_of(cache_key("img-4", QCOW2)).write_bytes(b"garbage" * 1000)
    local = await cache.fetch(ref("img-4"), QCOW2)
    assert local.path.read_bytes() == data
    assert [r[2] for r in images.requests] == [7000, 0]
    await cache.close()


async def test_missing_image_is_final(
    tmp_path: Path, store: tuple[ImageStore, GrpcImageSource]
) -> None:
    _, source = store
    cache = ImageCache(tmp_path, source)
    with pytest.raises(ImageUnavailable) as err:
        await cache.fetch(ref("nope"), QCOW2)
    assert not err.value.retryable
    await cache.close()


async def test_lru_eviction_never_takes_an_image_in_use(
    tmp_path: Path, store: tuple[ImageStore, GrpcImageSource]
) -> None:
    images, source = store
    for n in "abcd":
        images.put(n, "qcow2", blob(MiB, ord(n)))
    cache = ImageCache(tmp_path, source, max_bytes=int(2.5 * MiB))
    await cache.fetch(ref("a"), QCOW2, user="srv-a")  # pinned: a server's overlay base
    await cache.fetch(ref("b"), QCOW2)
    await cache.fetch(ref("c"), QCOW2)  # over the cap: b (LRU, unused) goes, not a
    assert sorted(e.image_id for e in cache.entries.values()) == ["a", "c"]
    assert not cache.path_of(cache_key("b", QCOW2)).exists()
    await cache.release("srv-a")  # a is free now, but we are under the cap
    assert sorted(e.image_id for e in cache.entries.values()) == ["a", "c"]
    await cache.fetch(ref("d"), QCOW2)  # over again: a is the least recently used
    assert sorted(e.image_id for e in cache.entries.values()) == ["c", "d"]
    assert cache.total_bytes <= cache.max_bytes
    await cache.close()


async def test_index_and_pins_survive_a_restart_and_strays_are_removed(
    tmp_path: Path, store: tuple[ImageStore, GrpcImageSource]
) -> None:
    images, source = store
    images.put("img-5", "qcow2", blob(MiB, 5))
    cache = ImageCache(tmp_path, source)
    await cache.fetch(ref("img-5"), QCOW2, user="srv-1")
    await cache.close()
    stray = cache.data_dir / "unknown.img"
    stray.write_bytes(b"?")
    again = ImageCache(tmp_path, source)
    await again.open()
    key = cache_key("img-5", QCOW2)
    assert again.users_of(key) == ["srv-1"]
    assert not stray.exists()
    await again.retain_users({"srv-2"})
    assert again.users_of(key) == []
    assert os.stat(again.data_dir).st_mode & 0o755 == 0o755  # QEMU must reach the bases
    await again.fetch(ref("img-5"), QCOW2)
    assert len(images.requests) == 1
    await again.close()
