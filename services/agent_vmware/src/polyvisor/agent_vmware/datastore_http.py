"""Files on a datastore over vCenter's HTTP ``/folder`` endpoint.

    PUT  https://vc/folder/<path>?dcPath=<datacenter>&dsName=<datastore>
    GET  (the same), streamed into a local file by ``download``

authenticated by the SOAP session's cookie. Uploads stream: the body is produced chunk by
chunk (the flat extent of a disk is expanded from the image while it is sent).
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, urlencode

from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agentkit.driver import DriverError, HypervisorUnavailable

__all__ = ["DatastoreHttp"]


class DatastoreHttp:
    def __init__(self, options: VmwareOptions, cookie: str) -> None:
        self.options = options
        # "vmware_soap_session=...; Path=/; HttpOnly" -> "vmware_soap_session=..."
        self.cookie = cookie.split(";", 1)[0].strip()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        o = self.options
        if o.protocol == "https":
            ctx = ssl.create_default_context()
            if o.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(o.host, o.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(o.host, o.port, timeout=timeout)

    @staticmethod
    def target(datacenter: str, datastore: str, path: str) -> str:
        query = urlencode({"dcPath": datacenter, "dsName": datastore})
        return f"/folder/{quote(path.lstrip('/'))}?{query}"

    def put(
        self,
        datacenter: str,
        datastore: str,
        path: str,
        body: Iterable[bytes],
        size: int,
        *,
        timeout: float = 300.0,
    ) -> None:
        conn = self._connection(timeout)
        try:
            conn.putrequest(
                "PUT", self.target(datacenter, datastore, path), skip_accept_encoding=True
            )
            conn.putheader("Cookie", self.cookie)
            conn.putheader("Content-Type", "application/octet-stream")
            conn.putheader("Content-Length", str(size))
            conn.endheaders()
            sent = 0
            for chunk in body:
                if chunk:
                    conn.send(chunk)
                    sent += len(chunk)
            if sent != size:
                raise DriverError(f"upload of {path} produced {sent} bytes, announced {size}")
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise HypervisorUnavailable(f"datastore upload of {path} failed: {e!r}") from e
        finally:
            conn.close()
        _check(resp.status, "PUT", path)

    def get(
        self, datacenter: str, datastore: str, path: str, *, max_bytes: int = 1 << 20
    ) -> bytes | None:
        """The file's bytes (at most ``max_bytes``), or None when it does not exist."""
        conn = self._connection(60.0)
        try:
            conn.request(
                "GET", self.target(datacenter, datastore, path), headers={"Cookie": self.cookie}
            )
            resp = conn.getresponse()
            data = resp.read(max_bytes + 1)
        except (OSError, http.client.HTTPException) as e:
            raise HypervisorUnavailable(f"datastore read of {path} failed: {e!r}") from e
        finally:
            conn.close()
        if resp.status == 404:
            return None
        _check(resp.status, "GET", path)
        if len(data) > max_bytes:
            raise DriverError(f"{path} is larger than {max_bytes} bytes")
        return data

    def tail(
        self, datacenter: str, datastore: str, path: str, max_bytes: int, *, timeout: float = 60.0
    ) -> bytes | None:
        """The last ``max_bytes`` of the file (None when it does not exist): a suffix Range
        request; a server that ignores it sends the whole file, of which the tail is kept."""
        conn = self._connection(timeout)
        try:
            conn.request(
                "GET",
                self.target(datacenter, datastore, path),
                headers={"Cookie": self.cookie, "Range": f"bytes=-{max(1, max_bytes)}"},
            )
            resp = conn.getresponse()
            if resp.status == 416:  # an empty file has no last bytes
                resp.read()
                return b""
            if resp.status == 404:
                resp.read(4096)
                return None
            if not 200 <= resp.status < 300:
                resp.read(4096)
                _check(resp.status, "GET", path)
            kept = b""
            while chunk := resp.read(_CHUNK):
                kept = (kept + chunk)[-max_bytes:] if max_bytes > 0 else b""
        except (OSError, http.client.HTTPException) as e:
            raise HypervisorUnavailable(f"datastore read of {path} failed: {e!r}") from e
        finally:
            conn.close()
        return kept

    def download(
        self, datacenter: str, datastore: str, path: str, dest: Path, *, timeout: float = 300.0
    ) -> int:
        """Stream the file into ``dest`` (created); returns its size in bytes."""
        conn = self._connection(timeout)
        written = 0
        try:
            conn.request(
                "GET", self.target(datacenter, datastore, path), headers={"Cookie": self.cookie}
            )
            resp = conn.getresponse()
            if resp.status != 200:
                resp.read(4096)
                if resp.status == 404:
                    raise DriverError(f"GET {path}: not on datastore {datastore}")
                _check(resp.status, "GET", path)
            with dest.open("wb") as f:
                while chunk := resp.read(_CHUNK):
                    f.write(chunk)
                    written += len(chunk)
            length = resp.getheader("Content-Length")
            if length is not None and int(length) != written:
                raise DriverError(f"GET {path}: {written} bytes of {length}", retryable=True)
        except (OSError, http.client.HTTPException) as e:
            raise HypervisorUnavailable(f"datastore download of {path} failed: {e!r}") from e
        finally:
            conn.close()
        return written


_CHUNK = 1 << 20


def _check(status: int, method: str, path: str) -> None:
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise HypervisorUnavailable(f"{method} {path}: vCenter refused our session ({status})")
    if status >= 500:
        raise DriverError(f"{method} {path}: HTTP {status}", retryable=True)
    raise DriverError(f"{method} {path}: HTTP {status}")
