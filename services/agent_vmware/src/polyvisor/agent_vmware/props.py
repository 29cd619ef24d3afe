"""Reading managed objects through the PropertyCollector: only the properties asked for.

Reading ``vm.config`` attribute by attribute costs one round trip each and drags whole
objects over the wire; these helpers ask for exact property paths, for many objects at once,
and page through large answers (RetrievePropertiesEx / ContinueRetrievePropertiesEx).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyVmomi import vim, vmodl

__all__ = ["container_view", "retrieve", "retrieve_one", "traversal_to"]

PC = vmodl.query.PropertyCollector
_PAGE = 500


def _collect(content: vim.ServiceInstanceContent, spec: Any) -> list[tuple[Any, dict[str, Any]]]:
    pc = content.propertyCollector
    out: list[tuple[Any, dict[str, Any]]] = []
    result = pc.RetrievePropertiesEx([spec], PC.RetrieveOptions(maxObjects=_PAGE))
    while result is not None:
        for oc in result.objects or ():
            if not oc.propSet and any(
                isinstance(m.fault, vmodl.fault.ManagedObjectNotFound) for m in oc.missingSet or ()
            ):
                continue  # deleted meanwhile
            out.append((oc.obj, {p.name: p.val for p in oc.propSet or ()}))
        if not result.token:
            break
        result = pc.ContinueRetrievePropertiesEx(result.token)
    return out


def retrieve(
    content: vim.ServiceInstanceContent, objs: Sequence[Any], type_: type, paths: Sequence[str]
) -> list[tuple[Any, dict[str, Any]]]:
    """``paths`` of each object in ``objs`` (all of type ``type_``); deleted ones are skipped."""
    if not objs:
        return []
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=o, skip=False) for o in objs],
        propSet=[PC.PropertySpec(type=type_, pathSet=list(paths), all=False)],
        reportMissingObjectsInResults=True,  # a deleted object is skipped, not a fault
    )
    return _collect(content, spec)


def retrieve_one(
    content: vim.ServiceInstanceContent, obj: Any, paths: Sequence[str]
) -> dict[str, Any] | None:
    """The properties of one object, or None when it no longer exists."""
    try:
        found = retrieve(content, [obj], type(obj), paths)
    except vmodl.fault.ManagedObjectNotFound:
        return None
    return found[0][1] if found else None


def traversal_to(
    content: vim.ServiceInstanceContent,
    root: Any,
    via: str,
    from_type: type,
    type_: type,
    paths: Sequence[str],
) -> list[tuple[Any, dict[str, Any]]]:
    """``paths`` of the objects that ``root.<via>`` points at (e.g. a cluster's hosts)."""
    spec = PC.FilterSpec(
        objectSet=[
            PC.ObjectSpec(
                obj=root,
                skip=True,
                selectSet=[PC.TraversalSpec(name="t", type=from_type, path=via, skip=False)],
            )
        ],
        propSet=[PC.PropertySpec(type=type_, pathSet=list(paths), all=False)],
    )
    return _collect(content, spec)


def container_view(
    content: vim.ServiceInstanceContent, container: Any, type_: type, paths: Sequence[str]
) -> list[tuple[Any, dict[str, Any]]]:
    """``paths`` of every ``type_`` object under ``container`` (recursively)."""
    view = content.viewManager.CreateContainerView(container, [type_], True)
    try:
        spec = PC.FilterSpec(
            objectSet=[
                PC.ObjectSpec(
                    obj=view,
                    skip=True,
                    selectSet=[
                        PC.TraversalSpec(
                            name="v", type=vim.view.ContainerView, path="view", skip=False
                        )
                    ],
                )
            ],
            propSet=[PC.PropertySpec(type=type_, pathSet=list(paths), all=False)],
        )
        return _collect(content, spec)
    finally:
        try:
            view.DestroyView()
        except vmodl.MethodFault:
            pass
