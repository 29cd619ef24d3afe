"""A JetStream key/value bucket, with compare-and-set on revisions."""

from __future__ import annotations

from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue as NatsKeyValue

from polyvisor.common.bus.errors import KV_WRONG_LAST_SEQUENCE, map_nats_error, mapped_errors
from polyvisor.common.errors import (
    Aborted,
    AlreadyExists,
)


@dataclass(frozen=True, slots=True)
class KvEntry:
    key: str
    value: bytes
    revision: int


class KeyValue:
    """A JetStream KV bucket with compare-and-set (used for leases).

    Keys: letters, digits and `-/_=.`; encode ids with `subject_token`."""

    def __init__(self, kv: NatsKeyValue, bucket: str) -> None:
        self._kv = kv
        self.bucket = bucket

    async def get(self, key: str) -> KvEntry | None:
        try:
            e = await self._kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise map_nats_error(exc) from exc
        return KvEntry(key, e.value or b"", int(e.revision or 0))

    async def put(self, key: str, value: bytes) -> int:
        with mapped_errors():
            return int(await self._kv.put(key, value))

    async def create(self, key: str, value: bytes, ttl: float | None = None) -> int:
        """Create `key`; AlreadyExists if it holds a value. `ttl`: this entry expires."""
        for _ in range(3):
            try:
                return int(await self._kv.create(key, value, msg_ttl=ttl))
            except nats.js.errors.KeyNotFoundError:
                # nats-py found the key present, then gone when it looked again: the entry
                # expired in between (bucket max age). The key is free now; create again.
                continue
            except (
                nats.js.errors.KeyWrongLastSequenceError,
                nats.js.errors.BadRequestError,
            ) as e:
                if isinstance(e, nats.js.errors.KeyWrongLastSequenceError) or (
                    e.err_code == KV_WRONG_LAST_SEQUENCE
                ):
                    raise AlreadyExists(f"key {key!r} exists in {self.bucket}") from e
                raise map_nats_error(e) from e
            except (TimeoutError, nats.errors.Error, OSError) as e:
                raise map_nats_error(e) from e
        raise Aborted(f"key {key!r} in {self.bucket} kept changing while being created")

    async def update(self, key: str, value: bytes, revision: int) -> int:
        """Set `key` only if it is still at `revision`; Aborted otherwise."""
        try:
            return int(await self._kv.update(key, value, last=revision))
        except (TimeoutError, nats.errors.Error, OSError) as e:
            err = map_nats_error(e)
            if isinstance(e, nats.js.errors.BadRequestError):
                err = Aborted(f"key {key!r} is no longer at revision {revision}")
            raise err from e

    async def delete(self, key: str, revision: int | None = None) -> None:
        """Delete `key` (only if still at `revision` when given; Aborted otherwise)."""
        try:
            await self._kv.delete(key, last=revision)
        except (TimeoutError, nats.errors.Error, OSError) as e:
            err = map_nats_error(e)
            if revision is not None and isinstance(e, nats.js.errors.BadRequestError):
                err = Aborted(f"key {key!r} is no longer at revision {revision}")
            raise err from e

    async def keys(self) -> list[str]:
        try:
            return list(await self._kv.keys())
        except nats.js.errors.NoKeysError:
            return []
        except (TimeoutError, nats.errors.Error, OSError) as e:
            raise map_nats_error(e) from e
