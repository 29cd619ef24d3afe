"""An X509 keypair created without a certificate gets one generated (as Nova does): a
self-signed certificate naming the keypair, stored as the public part; the matching private
key is returned once."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from polyvisor.api import models as m
from polyvisor.api import sshkeys
from polyvisor.api.keypairs import Keypairs
from polyvisor.api.store import keypairs as store
from polyvisor.common.auth import Principal
from polyvisor.common.errors import InvalidArgument


def test_generated_certificate_is_self_signed_and_matches_the_private_key() -> None:
    made = sshkeys.generate_x509("k1@polyvisor")
    cert = x509.load_pem_x509_certificate(made.public_key.encode())
    assert cert.subject == cert.issuer
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "k1@polyvisor"
    key = serialization.load_pem_private_key(made.private_key.encode(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    cert.verify_directly_issued_by(cert)  # signed by its own key
    # an import of the same certificate is accepted and fingerprinted the same
    assert sshkeys.normalize_x509(made.public_key) == (made.public_key, made.fingerprint)
    assert sshkeys.generate_x509("k1@polyvisor").fingerprint != made.fingerprint


async def test_create_x509_stores_the_certificate_and_returns_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored: list[m.Keypair] = []

    async def insert(pool: Any, kp: m.Keypair) -> m.Keypair:
        stored.append(kp)
        return kp

    monkeypatch.setattr(store, "insert", insert)
    p = Principal("u1", "p1", frozenset({"member"}))
    kp, private = await Keypairs(None).create(p, "k1", "X509", "")  # type: ignore[arg-type]
    assert stored == [kp] and kp.type == "X509" and kp.name == "k1"
    cert = x509.load_pem_x509_certificate(kp.public_key.encode())
    key = serialization.load_pem_private_key(private.encode(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    assert sshkeys.normalize_x509(kp.public_key)[1] == kp.fingerprint
    ssh, _ = await Keypairs(None).create(p, "k2", "", "")  # type: ignore[arg-type]
    assert ssh.type == "SSH" and ssh.public_key.startswith("ssh-ed25519 ")
    with pytest.raises(InvalidArgument):
        await Keypairs(None).create(p, "k3", "PGP", "")  # type: ignore[arg-type]
