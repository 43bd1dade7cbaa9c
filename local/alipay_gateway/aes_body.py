"""Alipay body encryption: AES-CBC, 16 zero bytes IV, PKCS#7 padding, base64 text."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_ZERO_IV = bytes(16)


def aes_encrypt(key: bytes, plaintext: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize())


def aes_decrypt(key: bytes, ciphertext_b64: bytes) -> bytes:
    """Raises ValueError on anything that is not a well-padded ciphertext of UTF-8 text under this key.

    Text, because a ciphertext made with another key has valid padding about once in 256 keys: its
    garbage must not pass for a body that decrypted (and then fail as a bad request)."""
    try:
        raw = base64.b64decode(ciphertext_b64.strip(), validate=True)
    except ValueError as exc:
        raise ValueError("body is not base64") from exc
    if not raw or len(raw) % 16:
        raise ValueError("ciphertext length is not a multiple of the AES block size")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    plain = unpadder.update(padded) + unpadder.finalize()
    plain.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return plain
