"""Alipay's optional AES body encryption: AES-CBC, a 16-byte all-zero IV, PKCS#7, base64 text.

The zero IV is Alipay's protocol, not our choice; the body is always signed after encryption, so
integrity never depends on the cipher.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_ZERO_IV = bytes(16)
_BLOCK_BITS = 128


class BodyDecryptionError(ValueError):
    """The ciphertext is not base64, not whole blocks, or does not unpad (wrong key?)."""


class BodyCipher:
    """Built once per key: the AES key schedule object is reused for every body."""

    __slots__ = ("_algorithm",)

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)  # raises ValueError for a wrong-length key

    def encrypt(self, plaintext: bytes) -> str:
        padder = padding.PKCS7(_BLOCK_BITS).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(self._algorithm, modes.CBC(_ZERO_IV)).encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")

    def decrypt(self, ciphertext: bytes | str) -> bytes:
        try:
            raw = base64.b64decode(ciphertext.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BodyDecryptionError("encrypted body is not base64") from None
        if not raw or len(raw) % 16:
            raise BodyDecryptionError("encrypted body is not a whole number of AES blocks")
        decryptor = Cipher(self._algorithm, modes.CBC(_ZERO_IV)).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise BodyDecryptionError("encrypted body does not decrypt with the configured key") from None
