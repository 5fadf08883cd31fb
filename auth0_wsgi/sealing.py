"""Authenticated encryption of small payloads (session and login cookies, stored records).

The output is a standard compact JWE (``alg=dir``, ``enc=A256GCM``, ``zip=DEF``) that joserfc
reads too (a test checks it). It is produced with AES-GCM from ``cryptography`` directly because
the general JWE path costs ~35 µs per cookie and the authenticated hot path has a 40 µs budget;
here a decryption costs a few µs.

Keys are derived from each configured secret with HKDF, one key per *purpose*, so a login cookie
can never be replayed as a session cookie. The first secret encrypts; all of them decrypt (rotation).
Each encryption uses a fresh random 96-bit nonce.

A value stored *under a key* (a server-side record, a cached refresh result) is sealed with that key
as its ``context``, authenticated as JWE's additional data: whoever can write to the backend but has
no secret cannot move a victim's sealed value under their own key and be served as the victim.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import zlib
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_TAG_LENGTH = 16
_NONCE_LENGTH = 12


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_key(secret: str, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"auth0-wsgi",
                info=f"auth0-wsgi {purpose}".encode())
    return hkdf.derive(secret.encode("utf-8"))


class Sealer:
    """Seals bytes for one purpose with a list of secrets (the first one seals)."""

    def __init__(self, secrets: Sequence[str], purpose: str, *, max_plaintext: int = 64 * 1024) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        self._max_plaintext = max_plaintext
        self._by_header: dict[str, AESGCM] = {}
        self._sealing_header = ""
        for secret in secrets:
            key = derive_key(secret, purpose)
            kid = b64encode(hashlib.sha256(key).digest()[:9])  # names the key without revealing it
            header = b64encode(json.dumps(
                {"alg": "dir", "enc": "A256GCM", "zip": "DEF", "kid": kid}, separators=(",", ":")
            ).encode())
            self._by_header.setdefault(header, AESGCM(key))
            self._sealing_header = self._sealing_header or header

    def seal(self, plaintext: bytes, context: bytes = b"") -> str:
        """``context`` (e.g. the storage key) must be given again, byte for byte, to unseal."""
        header = self._sealing_header
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw DEFLATE, as JWE "zip":"DEF" says
        compressed = compressor.compress(plaintext) + compressor.flush()
        nonce = os.urandom(_NONCE_LENGTH)
        sealed = self._by_header[header].encrypt(nonce, compressed, _aad(header, context))
        ciphertext, tag = sealed[:-_TAG_LENGTH], sealed[-_TAG_LENGTH:]
        return f"{header}..{b64encode(nonce)}.{b64encode(ciphertext)}.{b64encode(tag)}"

    def unseal(self, token: str, context: bytes = b"") -> bytes | None:
        """The plaintext, or None for anything tampered, truncated, foreign, oversized, or sealed
        with another ``context``."""
        parts = token.split(".")
        if len(parts) != 5 or parts[1]:
            return None
        header, _, nonce_text, ciphertext_text, tag_text = parts
        aead = self._by_header.get(header)
        if aead is None:
            return None
        try:
            nonce, ciphertext, tag = b64decode(nonce_text), b64decode(ciphertext_text), b64decode(tag_text)
            if len(nonce) != _NONCE_LENGTH or len(tag) != _TAG_LENGTH:
                return None
            compressed = aead.decrypt(nonce, ciphertext + tag, _aad(header, context))
            return self._inflate(compressed)
        except (InvalidTag, binascii.Error, ValueError, zlib.error):
            return None

    def _inflate(self, compressed: bytes) -> bytes | None:
        # Bounded, so that even a payload we sealed ourselves cannot blow up memory.
        inflater = zlib.decompressobj(-15)
        plaintext = inflater.decompress(compressed, self._max_plaintext)
        if inflater.unconsumed_tail or not inflater.eof:
            return None
        return plaintext


def _aad(header: str, context: bytes) -> bytes:
    """JWE's additional authenticated data: the protected header, then ``.`` and the base64url of the
    JSON serialization's ``aad`` member when there is a context (RFC 7516 §5.1 step 14)."""
    if not context:
        return header.encode("ascii")
    return f"{header}.{b64encode(context)}".encode("ascii")
