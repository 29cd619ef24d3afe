"""Keypairs of the caller: generate one (the private key is returned once) or import one."""

from __future__ import annotations

from polyvisor.client import enums
from polyvisor.client.session import Session
from polyvisor.compute.v1 import keypairs_pb2

__all__ = ["KeypairsApi"]


class KeypairsApi:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def create(
        self,
        name: str,
        *,
        key_type: str | int | None = None,
        algorithm: str | int | None = None,
    ) -> tuple[keypairs_pb2.Keypair, str]:
        """A new keypair and its OpenSSH private key (never stored by the service)."""
        req = keypairs_pb2.CreateKeypairRequest(
            name=name,
            type=enums.coerce(enums.KEYPAIR_TYPE, key_type),
            algorithm=enums.coerce(enums.KEY_ALGORITHM, algorithm),
        )
        resp = await self._s.call(self._s.compute.CreateKeypair, req)
        return resp.keypair, resp.private_key

    async def import_key(
        self, name: str, public_key: str, *, key_type: str | int | None = None
    ) -> keypairs_pb2.Keypair:
        req = keypairs_pb2.ImportKeypairRequest(
            name=name,
            public_key=public_key.strip(),
            type=enums.coerce(enums.KEYPAIR_TYPE, key_type),
        )
        resp = await self._s.call(self._s.compute.ImportKeypair, req)
        return resp.keypair

    async def get(self, name: str, *, user_id: str = "") -> keypairs_pb2.Keypair:
        resp = await self._s.call(
            self._s.compute.GetKeypair, keypairs_pb2.GetKeypairRequest(name=name, user_id=user_id)
        )
        return resp.keypair

    async def list(self, *, user_id: str = "", page_size: int = 0) -> list[keypairs_pb2.Keypair]:
        req = keypairs_pb2.ListKeypairsRequest(user_id=user_id, page_size=page_size)
        out: list[keypairs_pb2.Keypair] = []
        while True:
            resp = await self._s.call(self._s.compute.ListKeypairs, req)
            out.extend(resp.keypairs)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def delete(self, name: str, *, user_id: str = "") -> None:
        await self._s.call(
            self._s.compute.DeleteKeypair,
            keypairs_pb2.DeleteKeypairRequest(name=name, user_id=user_id),
        )
