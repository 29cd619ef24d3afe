"""SSH keypairs: generate (ed25519 or RSA 4096), validate imported public keys, fingerprint;
X.509 keypairs: generate (a self-signed certificate over an RSA 2048 key) or check an import.

Only `cryptography` is used; nothing here touches the network or the database.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from polyvisor.common.errors import InvalidArgument

MIN_RSA_BITS = 2048
MAX_PUBLIC_KEY_LENGTH = 16 * 1024
X509_VALID_DAYS = 3650
_NAME = re.compile(r"^[A-Za-z0-9_.@ -]{1,255}$")


@dataclass(frozen=True, slots=True)
class GeneratedKeypair:
    public_key: str  # OpenSSH line
    private_key: str  # OpenSSH private key (PEM-armoured)
    fingerprint: str


def validate_keypair_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidArgument(
            "keypair name must be 1-255 characters of letters, digits, '_', '-', '.', '@', ' '",
            {"field": "name"},
        )
    return name


def generate(algorithm: str, comment: str) -> GeneratedKeypair:
    """A new keypair; `algorithm` is ED25519 or RSA_4096."""
    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if algorithm == "ED25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "RSA_4096":
        key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    else:
        raise InvalidArgument(f"unknown key algorithm {algorithm}", {"field": "algorithm"})
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    line = f"{public} {comment}".strip()
    return GeneratedKeypair(public_key=line, private_key=private, fingerprint=fingerprint(line))


def generate_x509(common_name: str) -> GeneratedKeypair:
    """A new RSA 2048 key and a self-signed certificate for it naming `common_name` (as Nova
    makes for an x509 keypair created without a certificate): the certificate is the public
    part, the PKCS#8 PEM key the private one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=X509_VALID_DAYS))
        .sign(key, hashes.SHA256())
    )
    pem, fp = normalize_x509(cert.public_bytes(serialization.Encoding.PEM).decode())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return GeneratedKeypair(public_key=pem, private_key=private, fingerprint=fp)


def normalize_public_key(text: str) -> str:
    """The imported OpenSSH public key line, checked: known type, parseable, strong enough.
    Raises InvalidArgument otherwise."""
    line = text.strip()
    if not line:
        raise InvalidArgument("public_key is required", {"field": "public_key"})
    if len(line) > MAX_PUBLIC_KEY_LENGTH or "\n" in line:
        raise InvalidArgument(
            "public_key must be one OpenSSH public key line", {"field": "public_key"}
        )
    try:
        key = serialization.load_ssh_public_key(line.encode())
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidArgument(
            f"public_key is not a valid OpenSSH public key: {exc}", {"field": "public_key"}
        ) from exc
    except Exception as exc:  # unsupported key types raise UnsupportedAlgorithm
        raise InvalidArgument(
            f"public_key type is not supported: {exc}", {"field": "public_key"}
        ) from exc
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise InvalidArgument(
            f"RSA keys must have at least {MIN_RSA_BITS} bits (got {key.key_size})",
            {"field": "public_key"},
        )
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise InvalidArgument("public_key type is not supported", {"field": "public_key"})
    return line


def fingerprint(public_line: str) -> str:
    """OpenSSH's SHA256 fingerprint: "SHA256:" + unpadded base64 of the key blob's digest."""
    parts = public_line.split()
    blob = base64.b64decode(parts[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def normalize_x509(text: str) -> tuple[str, str]:
    """An imported PEM certificate and its SHA-256 fingerprint (hex pairs)."""
    pem = text.strip()
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise InvalidArgument(
            f"public_key is not a PEM X.509 certificate: {exc}", {"field": "public_key"}
        ) from exc
    digest = cert.fingerprint(hashes.SHA256())
    return pem, ":".join(f"{b:02x}" for b in digest)
