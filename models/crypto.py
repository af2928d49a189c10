"""The key ring: AES-256-GCM keys by id. One ring encrypts Temporal payloads (the payload codec) and
secrets at rest (shop app secrets and access tokens); the current key encrypts, every key decrypts,
so a key is rotated by adding a new one and making it current, and retired by removing it once
nothing it encrypted is kept."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from models.config import Settings

NONCE_BYTES = 12
SEALED_PREFIX = "enc:v1:"  # a secret at rest: enc:v1:<key id>:<base64 nonce + ciphertext>


class KeyRingError(RuntimeError):
    """No usable key ring: named with the setting to fix."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyRingError(f"ORDERHUB_PAYLOAD_KEY_ID {self.current!r} is not in the key ring")
        short = [key_id for key_id, key in self.keys.items() if len(key) != 32]
        if short:
            raise KeyRingError(f"ORDERHUB_PAYLOAD_KEYS: keys {short} are not 32 bytes (AES-256)")

    def encrypt(self, data: bytes, associated: bytes | None = None) -> tuple[str, bytes]:
        """(the current key's id, nonce + ciphertext with its tag)."""
        nonce = os.urandom(NONCE_BYTES)
        return self.current, nonce + AESGCM(self.keys[self.current]).encrypt(nonce, data, associated)

    def decrypt(self, key_id: str, sealed: bytes, associated: bytes | None = None) -> bytes:
        key = self.keys.get(key_id)
        if key is None:
            raise KeyRingError(f"no key {key_id!r} in the key ring (ORDERHUB_PAYLOAD_KEYS): it was retired too soon")
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)

    def seal(self, text: str) -> str:
        """A secret for a database column: `enc:v1:<key id>:<base64>`."""
        key_id, sealed = self.encrypt(text.encode())
        return f"{SEALED_PREFIX}{key_id}:{base64.b64encode(sealed).decode()}"

    def open(self, value: str) -> str:
        """The secret a `seal` made; a value that was never sealed is answered as it is."""
        if not value.startswith(SEALED_PREFIX):
            return value
        key_id, _, blob = value[len(SEALED_PREFIX):].partition(":")
        return self.decrypt(key_id, base64.b64decode(blob)).decode()

    @classmethod
    def from_mapping(cls, keys: dict[str, str], current: str) -> KeyRing:
        try:
            decoded = {key_id: base64.b64decode(key, validate=True) for key_id, key in keys.items()}
        except ValueError as err:
            raise KeyRingError(f"ORDERHUB_PAYLOAD_KEYS: a key is not base64 ({err})") from err
        return cls(decoded, current)


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def key_ring(settings: Settings) -> KeyRing:
    """The ring from ORDERHUB_PAYLOAD_KEYS / ORDERHUB_PAYLOAD_KEY_ID, else from the key file under the
    data directory, which development creates (owner-only) on first use. Production never creates one:
    a missing ring stops it with the setting to fix."""
    if settings.payload_keys:
        current = settings.payload_key_id or next(iter(settings.payload_keys))
        return KeyRing.from_mapping(settings.payload_keys, current)
    path = settings.payload_keys_file
    if not path.exists():
        if settings.env == "production":
            raise KeyRingError("ORDERHUB_PAYLOAD_KEYS is not set (nor a key file at "
                               f"{path}): production does not make up its own keys")
        _create_key_file(path)
    stored = json.loads(path.read_text())
    return KeyRing.from_mapping(stored["keys"], settings.payload_key_id or stored["current"])


def _create_key_file(path: Path) -> None:
    """A development key ring, written once and readable by its owner only. Written aside and linked
    into place: two processes starting at once both read the first one complete."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_id = f"dev-{secrets.token_hex(3)}"
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"current": key_id, "keys": {key_id: new_key()}}, out, indent=2)
        out.write("\n")
    try:
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink()
