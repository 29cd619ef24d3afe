"""Passwords, API-key secrets and SSH keys."""

from __future__ import annotations

import subprocess

import pytest

from polyvisor.api import passwords, sshkeys
from polyvisor.common.errors import InvalidArgument


async def test_password_hash_verifies_only_the_right_password() -> None:
    h = await passwords.hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert await passwords.verify_password(h, "correct horse")
    assert not await passwords.verify_password(h, "wrong horse")
    assert not await passwords.verify_password(None, "anything")
    assert not await passwords.verify_password("not-a-hash", "anything")


def test_api_key_secrets_are_random_and_digested() -> None:
    a, b = passwords.new_api_key_secret(), passwords.new_api_key_secret()
    assert a != b and a.startswith("pvk_")
    assert passwords.secret_digest(a) != a and len(passwords.secret_digest(a)) == 64


@pytest.mark.parametrize("algorithm", ["ED25519", "RSA_4096"])
def test_generated_keypair_is_a_usable_openssh_pair(algorithm: str) -> None:
    kp = sshkeys.generate(algorithm, "demo")
    assert kp.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert sshkeys.normalize_public_key(kp.public_key) == kp.public_key
    assert kp.fingerprint.startswith("SHA256:") and kp.fingerprint == sshkeys.fingerprint(
        kp.public_key
    )


def test_fingerprint_matches_ssh_keygen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # ./dev installs openssh-client: OpenSSH itself is the reference for the fingerprint.
    kp = sshkeys.generate("ED25519", "demo")
    path = tmp_path / "k.pub"
    path.write_text(kp.public_key + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[1] == kp.fingerprint


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-ed25519",
        "ssh-ed25519 not-base64!!",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAQQDCd0CZHQT0NXx1GiJNE8n1KhK1WmF2sWhV7fNMaO7nYBWKtQcvsNkGx0cq8N1kyAy5qZW8aYgA5rZ1SBhZm6Qr",
        "hello world",
        "ssh-ed25519 AAAA\nssh-ed25519 AAAA",
    ],
)
def test_bad_public_keys_are_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgument):
        sshkeys.normalize_public_key(text)


@pytest.mark.parametrize("name", ["", " ", "a/b", "x" * 256, "semi;colon"])
def test_bad_keypair_names(name: str) -> None:
    with pytest.raises(InvalidArgument):
        sshkeys.validate_keypair_name(name)
