"""Keypairs of a user in a project: generated (the private key is returned once, never
stored; an X509 keypair gets a self-signed certificate) or imported (the public key or
certificate is checked)."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api import sshkeys, validation
from polyvisor.api.pagination import page_request
from polyvisor.api.store import keypairs as store
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import AlreadyExists, InvalidArgument, NotFound


class Keypairs:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def _owner(self, p: Principal, user_id: str) -> str:
        if user_id and user_id != p.user_id:
            p.require_admin()
            return user_id
        return p.user_id

    async def create(
        self, p: Principal, name: str, key_type: str, algorithm: str
    ) -> tuple[m.Keypair, str]:
        p.require_write()
        name = sshkeys.validate_keypair_name(name)
        if key_type == "X509":
            generated = sshkeys.generate_x509(f"{name}@polyvisor")
        elif key_type in ("", "SSH"):
            generated = sshkeys.generate(algorithm or "ED25519", f"{name}@polyvisor")
        else:
            raise InvalidArgument(f"unknown keypair type {key_type}", {"field": "type"})
        kp = await self._insert(
            m.Keypair(
                name,
                generated.fingerprint,
                generated.public_key,
                key_type or "SSH",
                p.user_id,
                p.project_id,
            )
        )
        return kp, generated.private_key

    async def import_(self, p: Principal, name: str, public_key: str, key_type: str) -> m.Keypair:
        p.require_write()
        name = sshkeys.validate_keypair_name(name)
        if key_type in ("", "SSH"):
            line = sshkeys.normalize_public_key(public_key)
            kp = m.Keypair(name, sshkeys.fingerprint(line), line, "SSH", p.user_id, p.project_id)
        else:
            pem, fp = sshkeys.normalize_x509(public_key)
            kp = m.Keypair(name, fp, pem, "X509", p.user_id, p.project_id)
        return await self._insert(kp)

    async def _insert(self, kp: m.Keypair) -> m.Keypair:
        with db_errors():
            created = await store.insert(self.pool, kp)
        if created is None:
            raise AlreadyExists(f"keypair {kp.name} already exists", {"name": kp.name})
        return created

    async def get(self, p: Principal, name: str, user_id: str = "") -> m.Keypair:
        owner = self._owner(p, user_id)
        with db_errors():
            kp = await store.get(self.pool, p.project_id, owner, validation.required(name, "name"))
        if kp is None:
            raise NotFound(f"keypair {name} not found", {"name": name})
        return kp

    async def list(
        self, p: Principal, page_size: int, page_token: str, user_id: str = ""
    ) -> tuple[list[m.Keypair], str]:
        owner = self._owner(p, user_id)
        page = page_request(page_size, page_token, owner=owner, project=p.project_id)
        with db_errors():
            found = await store.list_page(self.pool, p.project_id, owner, page.after, page.size + 1)
        items = found[: page.size]
        return items, page.next_token(found, items[-1].name if items else "")

    async def delete(self, p: Principal, name: str, user_id: str = "") -> None:
        p.require_write()
        owner = self._owner(p, user_id)
        with db_errors():
            deleted = await store.delete(
                self.pool, p.project_id, owner, validation.required(name, "name")
            )
        if not deleted:
            raise NotFound(f"keypair {name} not found", {"name": name})
