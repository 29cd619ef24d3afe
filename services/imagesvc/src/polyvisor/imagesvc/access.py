"""Who may see and who may change an image.

- admin sees every image; a service token (an agent) reads and downloads every image;
- a user sees the images of their project, public images, and shared images listing their
  project; an image they may not see does not exist for them (NotFound, never a hint);
- only the owner project (member role) or an admin changes, uploads to or deletes an image;
  the reader role changes nothing; only an admin makes an image public;
- the api's own identity may kill a snapshot image it made (an upload carrying only a
  failure) when the snapshot failed or timed out: it uploads no bytes, to no other image;
  and it may delete the images that carried a server's disk across hypervisor types (a
  snapshot with the property `transfer_of`) once the move is over, no other image.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyvisor.common.auth import API_IDENTITY, KIND_SERVICE, Principal
from polyvisor.common.errors import NotFound, PermissionDenied, Unauthenticated
from polyvisor.imagesvc.model import Image, ImageStatus, Visibility

__all__ = [
    "ListScope",
    "can_see",
    "list_scope",
    "require_create",
    "require_delete",
    "require_mutate",
    "require_see",
    "require_upload",
]


def _require_principal(p: Principal | None) -> Principal:
    if p is None:
        raise Unauthenticated("this call needs a token")
    return p


def can_see(p: Principal, image: Image) -> bool:
    if image.status is ImageStatus.DELETED:
        return False
    if p.is_admin or p.is_service or image.owner == p.project_id:
        return True
    if image.visibility is Visibility.PUBLIC:
        return True
    return image.visibility is Visibility.SHARED and p.project_id in image.shared_with


def require_see(p: Principal | None, image: Image | None, image_id: str) -> Image:
    principal = _require_principal(p)
    if image is None or not can_see(principal, image):
        raise NotFound(f"image {image_id} not found", {"image_id": image_id})
    return image


def require_mutate(p: Principal | None, image: Image | None, image_id: str) -> Image:
    """The image, if the caller may change it; NotFound if they cannot even see it."""
    principal = _require_principal(p)
    img = require_see(principal, image, image_id)
    if principal.is_admin:
        return img
    if img.owner != principal.project_id:
        raise PermissionDenied(f"only the owner project may change image {image_id}")
    if "member" not in principal.roles:
        raise PermissionDenied("the reader role cannot change resources")
    return img


def require_delete(p: Principal | None, image: Image | None, image_id: str) -> Image:
    """The image, if the caller may delete it: who may change it, and the api for the
    transfer images of moves across hypervisor types."""
    principal = _require_principal(p)
    if principal.kind == KIND_SERVICE and principal.user_id == API_IDENTITY:
        props = image.extra_properties if image is not None else {}
        if (
            image is None
            or image.status is ImageStatus.DELETED
            or props.get("image_type") != "snapshot"
            or not props.get("transfer_of")
        ):
            raise PermissionDenied(
                f"the api only deletes the transfer images of moves it made; not {image_id}"
            )
        return image
    return require_mutate(principal, image, image_id)


def require_upload(
    p: Principal | None, image: Image | None, image_id: str, *, failure: bool = False
) -> Image:
    """The image, if the caller may upload its data: who may change it, and the one agent a
    snapshot image names (`snapshot_host`, set by the api when it asked that host for the
    snapshot) for that image only. A `failure` (no data, the image is killed) of a snapshot
    image may also come from the api, which made it."""
    principal = _require_principal(p)
    if principal.kind == KIND_SERVICE and principal.user_id == API_IDENTITY:
        if (
            not failure
            or image is None
            or image.status is ImageStatus.DELETED
            or image.extra_properties.get("image_type") != "snapshot"
        ):
            raise PermissionDenied(
                f"the api only kills the snapshot images it made; not {image_id}"
            )
        return image
    if principal.is_agent:
        if (
            image is None
            or image.status is ImageStatus.DELETED
            or image.extra_properties.get("image_type") != "snapshot"
            or not principal.host
            or image.extra_properties.get("snapshot_host") != principal.host
        ):
            raise PermissionDenied(
                f"an agent uploads only the snapshot images it was asked for; not {image_id}"
            )
        return image
    return require_mutate(principal, image, image_id)


def require_create(p: Principal | None, visibility: Visibility) -> Principal:
    principal = _require_principal(p)
    if not (principal.is_admin or "member" in principal.roles):
        raise PermissionDenied("creating an image needs the member or admin role")
    if visibility is Visibility.PUBLIC and not principal.is_admin:
        raise PermissionDenied("only an admin may make an image public")
    return principal


@dataclass(frozen=True, slots=True)
class ListScope:
    """What a List may return: everything, or what `project_id` sees."""

    all_projects: bool
    project_id: str


def list_scope(p: Principal | None, all_projects: bool) -> ListScope:
    principal = _require_principal(p)
    if all_projects and not (principal.is_admin or principal.is_service):
        raise PermissionDenied("all_projects needs the admin role")
    return ListScope(all_projects=all_projects, project_id=principal.project_id)
