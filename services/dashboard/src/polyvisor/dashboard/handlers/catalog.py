"""The catalogue pages: images, flavors, key pairs, quotas, networks, identity."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import BodyPartReader, web

from polyvisor.common.logging import get_logger
from polyvisor.compute.v1 import (
    flavors_pb2,
    keypairs_pb2,
    quotas_pb2,
)
from polyvisor.dashboard.clients import Apis
from polyvisor.dashboard.sessions import Session
from polyvisor.identity.v1 import identity_requests_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.network.v1 import networks_pb2
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2

__all__ = ["Catalog"]

log = get_logger(__name__)

UPLOAD_CHUNK = 1 << 20


from polyvisor.dashboard.handlers.common import as_dict, short  # noqa: E402


class Catalog:
    """Images (upload with progress, properties, renditions), flavors, key pairs, quotas,
    networks, identity: the pages that list and show what the user's project holds."""

    apis: Apis
    render: Any
    stubs: Any

    # ------------------------------------------------------------------ images

    async def images(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        resp = await st.images.ListImages(
            images_pb2.ListImagesRequest(page_size=1000), metadata=st.md
        )
        return self.render(request, "images.html", images=[as_dict(i) for i in resp.images])

    async def image(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        iid = request.match_info["id"]
        img, rend = await asyncio.gather(
            st.images.GetImage(images_pb2.GetImageRequest(image_id=iid), metadata=st.md),
            st.images.ListRenditions(
                images_pb2.ListRenditionsRequest(image_id=iid), metadata=st.md
            ),
        )
        return self.render(
            request, "image.html", i=as_dict(img.image),
            renditions=[as_dict(r) for r in rend.renditions],
        )  # fmt: skip

    async def upload_image(self, request: web.Request) -> web.Response:
        """multipart: name, disk_format, [hypervisor_type], then the file, streamed to the
        image service as it arrives (never held whole)."""
        st = self.stubs(request)
        reader = await request.multipart()
        fields: dict[str, str] = {}
        image: images_pb2.Image | None = None
        async for got in reader:
            if not isinstance(got, BodyPartReader):
                raise web.HTTPBadRequest(text="nested multipart is not an upload\n")
            part = got
            if part.name != "file":
                fields[str(part.name)] = (await part.read()).decode()  # type: ignore[union-attr]
                continue
            spec = images_pb2.Image(
                name=fields.get("name") or (part.filename or "image"),
                disk_format=disk_pb2.DiskFormat.Value(
                    "DISK_FORMAT_" + (fields.get("disk_format") or "raw").upper()
                ),
                visibility=images_pb2.VISIBILITY_PRIVATE,
            )
            if fields.get("hypervisor_type"):
                spec.hypervisor_type = hypervisor_pb2.HypervisorType.Value(
                    "HYPERVISOR_TYPE_" + fields["hypervisor_type"].upper()
                )
            created = await st.images.CreateImage(
                images_pb2.CreateImageRequest(request_id=uuid.uuid4().hex, image=spec),
                metadata=st.md,
            )
            size = int(fields.get("size") or 0)

            async def chunks(
                part: BodyPartReader = part, iid: str = created.image.id, size: int = size
            ) -> AsyncIterator[images_pb2.UploadImageRequest]:
                yield images_pb2.UploadImageRequest(
                    header=images_pb2.UploadImageHeader(image_id=iid, size=size)
                )
                while chunk := await part.read_chunk(UPLOAD_CHUNK):
                    yield images_pb2.UploadImageRequest(chunk=chunk)

            done = await st.images.UploadImage(chunks(), metadata=st.md)
            image = done.image
        if image is None:
            raise web.HTTPBadRequest(text="no file\n")
        return web.json_response(
            {"id": image.id, "status": short(images_pb2.ImageStatus.Name(image.status))}
        )

    # ------------------------------------------------------------------ catalogue

    async def flavors(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        r = await st.compute.ListFlavors(
            flavors_pb2.ListFlavorsRequest(page_size=1000), metadata=st.md
        )
        return self.render(request, "flavors.html", flavors=[as_dict(f) for f in r.flavors])

    async def keypairs(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        r = await st.compute.ListKeypairs(
            keypairs_pb2.ListKeypairsRequest(page_size=1000), metadata=st.md
        )
        return self.render(request, "keypairs.html", keypairs=[as_dict(k) for k in r.keypairs])

    async def quotas(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        r = await st.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=st.md)
        return self.render(request, "quotas.html", quota=as_dict(r.quota))

    async def networks(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        r = await st.network.ListNetworks(
            networks_pb2.ListNetworksRequest(page_size=1000), metadata=st.md
        )
        return self.render(request, "networks.html", networks=[as_dict(n) for n in r.networks])

    async def identity(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        s: Session = request["session"]
        if not s.is_admin:
            raise web.HTTPForbidden(text="identity is for admins\n")
        users, projects = await asyncio.gather(
            st.identity.ListUsers(
                identity_requests_pb2.ListUsersRequest(page_size=1000), metadata=st.md
            ),
            st.identity.ListProjects(
                identity_requests_pb2.ListProjectsRequest(page_size=1000), metadata=st.md
            ),
        )
        return self.render(
            request, "identity.html", users=[as_dict(u) for u in users.users],
            projects=[as_dict(p) for p in projects.projects],
        )  # fmt: skip

    async def projects(self, request: web.Request) -> web.Response:
        """The projects the user may switch to (for the header's switch form)."""
        st = self.stubs(request)
        s: Session = request["session"]
        r = await st.identity.ListProjects(
            identity_requests_pb2.ListProjectsRequest(page_size=1000, user_id=s.user_id),
            metadata=st.md,
        )
        return self.render(request, "_projects.html", projects=[as_dict(p) for p in r.projects])

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")
