"""AES body encryption, checked against an independent CBC construction built from single-block AES."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from alipay_cancel.alipay.body_encryption import BodyCipher, BodyDecryptionError

KEY_128 = bytes(range(16))
KEY_256 = bytes(range(100, 132))


def _reference_encrypt(key: bytes, plaintext: bytes) -> str:
    """CBC by hand: PKCS#7 pad, XOR each block with the previous ciphertext (IV = 16 zero bytes),
    encrypt the block with raw AES (ECB on one block)."""
    pad = 16 - len(plaintext) % 16
    data = plaintext + bytes([pad]) * pad
    block_cipher = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - one block at a time
    previous = bytes(16)
    out = b""
    for i in range(0, len(data), 16):
        mixed = bytes(a ^ b for a, b in zip(data[i : i + 16], previous, strict=True))
        previous = block_cipher.update(mixed)
        out += previous
    return base64.b64encode(out).decode()


@pytest.mark.parametrize("key", [KEY_128, bytes(24), KEY_256], ids=["aes128", "aes192", "aes256"])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 31, 32, 1000])
def test_matches_reference_and_round_trips(key: bytes, size: int) -> None:
    plaintext = bytes((i * 7) % 251 for i in range(size))
    cipher = BodyCipher(key)
    ciphertext = cipher.encrypt(plaintext)
    assert ciphertext == _reference_encrypt(key, plaintext)
    assert cipher.decrypt(ciphertext) == plaintext
    assert cipher.decrypt(ciphertext.encode()) == plaintext  # bytes straight off the wire


def test_json_body_round_trip_and_whitespace_tolerance() -> None:
    cipher = BodyCipher(KEY_256)
    body = b'{"out_trade_no":"20150320010101001","trade_no":"2014112611001004680073956707"}'
    ciphertext = cipher.encrypt(body)
    assert ciphertext.isascii() and "{" not in ciphertext
    assert cipher.decrypt("  " + ciphertext + "\r\n") == body


def test_zero_iv_makes_encryption_deterministic() -> None:
    # Alipay's protocol: same key and body give the same ciphertext (integrity comes from the signature).
    assert BodyCipher(KEY_128).encrypt(b"same") == BodyCipher(KEY_128).encrypt(b"same")


@pytest.mark.parametrize(
    ("ciphertext", "problem"),
    [
        ("<html>502 Bad Gateway</html>", "not base64"),
        ("", "whole number of AES blocks"),
        (base64.b64encode(b"fifteen bytes!!").decode(), "whole number of AES blocks"),
    ],
)
def test_rejects_bodies_that_are_not_ciphertext(ciphertext: str, problem: str) -> None:
    with pytest.raises(BodyDecryptionError, match=problem):
        BodyCipher(KEY_128).decrypt(ciphertext)


def test_wrong_key_is_detected_by_padding() -> None:
    ciphertext = BodyCipher(KEY_128).encrypt(b'{"code":"10000"}')
    with pytest.raises(BodyDecryptionError, match="does not decrypt"):
        BodyCipher(KEY_256).decrypt(ciphertext)


def test_rejects_a_key_of_the_wrong_length() -> None:
    with pytest.raises(ValueError):
        BodyCipher(b"short")
