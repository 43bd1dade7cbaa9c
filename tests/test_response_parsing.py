"""Response parsing: trust follows the signature. Bodies here are signed with the Alipay test key
through cryptography directly, independent of the client's signing module."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local.keygen import KeyMaterial, RsaKeyPair

from alipay_cancel.alipay.body_encryption import BodyCipher
from alipay_cancel.alipay.response_parsing import ResponseParser
from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.alipay.v3_signing import ResponseVerifier

AES_KEY = bytes(range(32))
SUCCESS = {
    "action": "refund",
    "gmt_refund_pay": "2016-11-27 15:45:57",
    "out_trade_no": "6823789339978248",
    "refund_settlement_id": "2018101610032004620239146945",
    "retry_flag": "N",
    "trade_no": "2013112011001004330000121536",
}
TRADE_NO, OUT_TRADE_NO = SUCCESS["trade_no"], SUCCESS["out_trade_no"]


def now_ms() -> str:
    return str(time.time_ns() // 1_000_000)


def sign_headers(
    pair: RsaKeyPair, body: bytes, sn: str | None = None, ts: str | None = None
) -> dict[str, str]:
    ts, nonce = ts or now_ms(), "5f0e3c"
    content = f"{ts}\n{nonce}\n".encode() + body + b"\n"
    signature = pair.private_key.sign(content, padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "alipay-signature": base64.b64encode(signature).decode(),
        "alipay-timestamp": ts,
        "alipay-nonce": nonce,
        "alipay-trace-id": "0b2d7c1e17000000001",
    }
    if sn is not None:
        headers["alipay-sn"] = sn
    return headers


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def parser(key_material: KeyMaterial) -> ResponseParser:
    return ResponseParser(ResponseVerifier(key_material.alipay.private_key.public_key()))


@pytest.fixture(scope="module")
def aes_parser(key_material: KeyMaterial) -> ResponseParser:
    verifier = ResponseVerifier(key_material.alipay.private_key.public_key())
    return ResponseParser(verifier, BodyCipher(AES_KEY))


def signed(parser: ResponseParser, km: KeyMaterial, status: int, body: bytes, **kw: Any) -> Any:
    return parser.parse(status, sign_headers(km.alipay, body), body, request_id="rid-1", **kw)


def failure(outcome: object) -> AlipayFailure:
    assert isinstance(outcome, AlipayFailure), outcome
    return outcome


# --- verified successes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        SUCCESS,
        {"code": "10000", "msg": "Success", **SUCCESS},
        {"code": 10000, **SUCCESS},
        {"alipay_trade_cancel_response": {"code": "10000", "msg": "Success", **SUCCESS}, "sign": "v2"},
    ],
    ids=["v3-flat", "seed-envelope", "numeric-code", "v2-wrapped"],
)
def test_signed_success_carries_every_spec_field(
    parser: ResponseParser, key_material: KeyMaterial, document: dict[str, Any]
) -> None:
    outcome = signed(parser, key_material, 200, dumps(document), sent_trade_no=SUCCESS["trade_no"])
    assert outcome == CancelSuccess(
        **SUCCESS, trace_id="0b2d7c1e17000000001", http_status=200, request_id="rid-1"
    )


def test_success_without_action_means_trade_not_found(
    parser: ResponseParser, key_material: KeyMaterial
) -> None:
    body = dumps({"out_trade_no": "X1", "retry_flag": "N"})
    outcome = signed(parser, key_material, 200, body, sent_out_trade_no="X1")
    assert isinstance(outcome, CancelSuccess)
    assert outcome.action is None and outcome.trade_no is None and outcome.out_trade_no == "X1"


def test_retry_flag_y_is_kept(parser: ResponseParser, key_material: KeyMaterial) -> None:
    outcome = signed(parser, key_material, 200, dumps({**SUCCESS, "retry_flag": "Y"}), sent_trade_no=TRADE_NO)
    assert isinstance(outcome, CancelSuccess) and outcome.retry_flag == "Y"


def test_header_names_are_case_insensitive(parser: ResponseParser, key_material: KeyMaterial) -> None:
    body = dumps(SUCCESS)
    headers = {k.title(): v for k, v in sign_headers(key_material.alipay, body).items()}
    assert isinstance(parser.parse(200, headers, body, sent_trade_no=TRADE_NO), CancelSuccess)


def test_signed_success_for_another_trade_is_refused(
    parser: ResponseParser, key_material: KeyMaterial
) -> None:
    body = dumps(SUCCESS)
    replay = failure(signed(parser, key_material, 200, body, sent_trade_no="2099000000000000000000000000"))
    assert replay.kind is FailureKind.NOT_OUR_ANSWER and "different trade_no" in replay.message
    replay = failure(signed(parser, key_material, 200, body, sent_out_trade_no="OTHER"))
    assert replay.kind is FailureKind.NOT_OUR_ANSWER and "different out_trade_no" in replay.message
    # Both ids sent: every id the answer names must be ours, a matching trade_no is not enough.
    both = failure(signed(parser, key_material, 200, body, sent_trade_no=TRADE_NO, sent_out_trade_no="x"))
    assert both.kind is FailureKind.NOT_OUR_ANSWER and "different out_trade_no" in both.message
    ok = signed(parser, key_material, 200, body, sent_trade_no=TRADE_NO, sent_out_trade_no=OUT_TRADE_NO)
    assert isinstance(ok, CancelSuccess)
    # Only out_trade_no sent: Alipay's trade_no cannot be compared and is kept.
    assert isinstance(signed(parser, key_material, 200, body, sent_out_trade_no=OUT_TRADE_NO), CancelSuccess)
    # Only another trade's trade_no named, we sent out_trade_no: nothing of ours is named.
    other = dumps({"trade_no": TRADE_NO, "action": "close", "retry_flag": "N"})
    lost = failure(signed(parser, key_material, 200, other, sent_out_trade_no=OUT_TRADE_NO))
    assert lost.kind is FailureKind.NOT_OUR_ANSWER and "does not name the out_trade_no" in lost.message


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"":"","":{}}',
        b'{"retry_flag":"N"}',
        b'{"action":"close","retry_flag":"N"}',
        b'{"code":"10000","msg":"Success"}',
        b'{"trade_status":"TRADE_CLOSED","total_amount":"88.88"}',  # a query-style body
    ],
)
def test_a_signed_success_naming_none_of_our_ids_is_never_a_success(
    parser: ResponseParser, key_material: KeyMaterial, body: bytes
) -> None:
    for sent in ({"sent_trade_no": TRADE_NO}, {"sent_out_trade_no": OUT_TRADE_NO}, {}):
        out = failure(signed(parser, key_material, 200, body, **sent))
        assert out.kind is FailureKind.NOT_OUR_ANSWER and out.verified, (body, sent)


@pytest.mark.parametrize(
    ("age_seconds", "fresh"),
    [(0, True), (299, True), (-299, True), (301, False), (-301, False), (2e8, False)],
)
def test_a_signed_answer_must_be_fresh(
    parser: ResponseParser, key_material: KeyMaterial, age_seconds: float, fresh: bool
) -> None:
    ts = str(time.time_ns() // 1_000_000 - int(age_seconds * 1000))
    for body in (dumps(SUCCESS), dumps({"code": "ACQ.TRADE_HAS_FINISHED", "message": "m"})):
        headers = sign_headers(key_material.alipay, body, ts=ts)
        outcome = parser.parse(400 if b"code" in body else 200, headers, body, sent_trade_no=TRADE_NO)
        if fresh:
            assert not (isinstance(outcome, AlipayFailure) and outcome.kind is FailureKind.NOT_OUR_ANSWER)
        else:
            assert failure(outcome).kind is FailureKind.NOT_OUR_ANSWER and "freshness" in outcome.message


@pytest.mark.parametrize("ts", ["", "abc", "1.7e12", "\uff11\uff17\uff10\uff10", "9" * 20])
def test_an_unreadable_timestamp_is_not_fresh(
    parser: ResponseParser, key_material: KeyMaterial, ts: str
) -> None:
    body = dumps(SUCCESS)
    headers = {**sign_headers(key_material.alipay, body), "alipay-timestamp": ts}
    outcome = failure(parser.parse(200, headers, body, sent_trade_no=TRADE_NO))
    assert outcome.kind in (FailureKind.NOT_OUR_ANSWER, FailureKind.BAD_SIGNATURE)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("action", "close\u0000\u202e\n", "U+0000"),
        ("action", "CLOSE", "neither close nor refund"),
        ("action", "cancel", "neither close nor refund"),
        ("action", "x" * 500_000, "at most 8"),
        ("gmt_refund_pay", "2016-11-27\t15:45:57", "U+0009"),
        ("refund_settlement_id", "9" * 65, "at most 64"),
        ("trade_no", "2013\u200b", "U+200B"),
        ("retry_flag", "N\u00a0", "U+00A0"),
    ],
)
def test_stored_fields_are_validated(
    parser: ResponseParser, key_material: KeyMaterial, field: str, value: str, problem: str
) -> None:
    body = json.dumps({**SUCCESS, field: value}).encode()
    out = failure(signed(parser, key_material, 200, body, sent_out_trade_no=OUT_TRADE_NO))
    assert out.kind is FailureKind.MALFORMED and problem in out.message and out.verified


# --- verified errors --------------------------------------------------------------------------


def test_signed_seed_business_error(parser: ResponseParser, key_material: KeyMaterial) -> None:
    body = dumps(
        {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.TRADE_HAS_SUCCESS",
            "sub_msg": "交易已被支付",
        }
    )
    out = failure(signed(parser, key_material, 200, body))
    assert (out.kind, out.code, out.sub_code, out.sub_msg) == (
        FailureKind.BUSINESS,
        "40004",
        "ACQ.TRADE_HAS_SUCCESS",
        "交易已被支付",
    )
    assert out.verified and out.trace_id == "0b2d7c1e17000000001" and out.request_id == "rid-1"


def test_signed_seed_service_unavailable(parser: ResponseParser, key_material: KeyMaterial) -> None:
    body = dumps({"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"})
    out = failure(signed(parser, key_material, 200, body))
    assert out.kind is FailureKind.SERVICE_UNAVAILABLE and out.code == "20000" and out.verified


def test_signed_wrapped_v2_error_response(parser: ResponseParser, key_material: KeyMaterial) -> None:
    body = dumps({"error_response": {"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"}})
    out = failure(signed(parser, key_material, 200, body))
    assert out.kind is FailureKind.BUSINESS and out.sub_code == "ACQ.SYSTEM_ERROR"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ACQ.TRADE_HAS_FINISHED"),
        (401, "invalid-signature"),
        (401, "invalid-app-auth-token"),
        (429, "rate-limited"),
    ],
)
def test_signed_v3_error(parser: ResponseParser, key_material: KeyMaterial, status: int, code: str) -> None:
    body = dumps({"code": code, "message": "详细信息", "links": [{"link": "https://example", "desc": "x"}]})
    out = failure(signed(parser, key_material, status, body))
    assert (out.kind, out.code, out.http_status, out.sub_msg, out.verified) == (
        FailureKind.V3_ERROR,
        code,
        status,
        "详细信息",
        True,
    )


def test_signed_seed_envelope_inside_http_error(parser: ResponseParser, key_material: KeyMaterial) -> None:
    body = dumps({"code": "40004", "sub_code": "ACQ.CANCEL_NOT_ALLOWED"})
    out = failure(signed(parser, key_material, 400, body))
    assert out.kind is FailureKind.BUSINESS and out.sub_code == "ACQ.CANCEL_NOT_ALLOWED"


@pytest.mark.parametrize("status", [500, 502, 503, 404])
def test_signed_error_with_unreadable_body(
    parser: ResponseParser, key_material: KeyMaterial, status: int
) -> None:
    out = failure(signed(parser, key_material, status, b"<html><body>Bad Gateway</body></html>"))
    assert out.kind is FailureKind.HTTP_ERROR and out.http_status == status and out.code is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<html>ok</html>",
        b'{"action":"clo',
        b"[1,2]",
        b'"text"',
        b"[" * 100_000,
        b"\xff\xfe\x00",
    ],
    ids=["empty", "blank", "html", "truncated", "array", "string", "deep-nesting", "binary"],
)
def test_signed_2xx_unreadable_is_malformed(
    parser: ResponseParser, key_material: KeyMaterial, body: bytes
) -> None:
    out = failure(signed(parser, key_material, 200, body))
    assert out.kind is FailureKind.MALFORMED and out.verified


def test_signed_success_with_non_string_field_is_malformed(
    parser: ResponseParser, key_material: KeyMaterial
) -> None:
    out = failure(signed(parser, key_material, 200, dumps({**SUCCESS, "action": {"x": 1}})))
    assert out.kind is FailureKind.MALFORMED and "action" in out.message


def test_signed_redirect_is_http_error(parser: ResponseParser, key_material: KeyMaterial) -> None:
    out = failure(signed(parser, key_material, 302, b""))
    assert out.kind is FailureKind.HTTP_ERROR and out.http_status == 302


# --- unsigned and forged ----------------------------------------------------------------------


def test_unsigned_success_is_never_a_result(parser: ResponseParser) -> None:
    out = failure(parser.parse(200, {"alipay-trace-id": "t"}, dumps(SUCCESS)))
    assert out.kind is FailureKind.BAD_SIGNATURE and not out.verified and out.trace_id == "t"


def test_forged_success_is_bad_signature(
    parser: ResponseParser, key_material: KeyMaterial, other_rsa_key_pair: RsaKeyPair
) -> None:
    body = dumps(SUCCESS)
    for pair in (other_rsa_key_pair, key_material.app):
        out = failure(parser.parse(200, sign_headers(pair, body), body))
        assert out.kind is FailureKind.BAD_SIGNATURE
    # Signed, then the body swapped in transit.
    headers = sign_headers(key_material.alipay, dumps({**SUCCESS, "action": "close"}))
    assert failure(parser.parse(200, headers, body)).kind is FailureKind.BAD_SIGNATURE


def test_forged_error_is_not_trusted_as_that_error(
    parser: ResponseParser, other_rsa_key_pair: RsaKeyPair
) -> None:
    body = dumps({"code": "ACQ.TRADE_HAS_FINISHED", "message": "finished"})
    out = failure(parser.parse(400, sign_headers(other_rsa_key_pair, body), body))
    assert out.kind is FailureKind.BAD_SIGNATURE and out.code is None and out.sub_code is None
    body = dumps({"code": "40004", "sub_code": "ACQ.TRADE_CANCEL_TIME_OUT"})
    out = failure(parser.parse(200, sign_headers(other_rsa_key_pair, body), body))
    assert out.kind is FailureKind.BAD_SIGNATURE and out.sub_code is None


@pytest.mark.parametrize(
    "document",
    [
        {"code": "ACQ.TRADE_HAS_FINISHED", "message": "finished"},
        {"code": "invalid-app-auth-token", "message": "token"},  # terminal if believed: not unsigned
        {"code": "40004", "sub_code": "ACQ.TRADE_CANCEL_TIME_OUT", "sub_msg": "MARKER-BODY-TEXT"},
    ],
)
def test_unsigned_4xx_business_content_is_ignored(parser: ResponseParser, document: dict[str, str]) -> None:
    out = failure(parser.parse(400, {}, dumps(document)))
    assert out.kind is FailureKind.HTTP_ERROR and out.code is None and out.sub_code is None
    assert not out.verified and "MARKER" not in out.message and out.http_status == 400


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "invalid-signature"),
        (401, "invalid-timestamp"),
        (403, "insufficient-permissions"),
        (429, "rate-limited"),
        (400, "app-call-limited"),  # a limit, believed unsigned: at worst a slower retry
        (403, "exceed-api-balance"),
    ],
)
def test_unsigned_gateway_codes_that_only_lead_to_retry_are_kept(
    parser: ResponseParser, status: int, code: str
) -> None:
    out = failure(parser.parse(status, {}, dumps({"code": code, "message": "m"})))
    assert out.kind is FailureKind.V3_ERROR and out.code == code and not out.verified


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_unsigned_5xx_html_is_a_retryable_http_error(parser: ResponseParser, status: int) -> None:
    body = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    out = failure(parser.parse(status, {"Content-Type": "text/html"}, body))
    assert out.kind is FailureKind.HTTP_ERROR and out.http_status == status and not out.verified
    assert "nginx" not in out.message


def test_partial_signature_headers_are_bad_signature(
    parser: ResponseParser, key_material: KeyMaterial
) -> None:
    body = dumps({"code": "rate-limited"})
    headers = sign_headers(key_material.alipay, body)
    del headers["alipay-nonce"]
    assert failure(parser.parse(429, headers, body)).kind is FailureKind.BAD_SIGNATURE


def test_cert_mode_alipay_sn_must_match(key_material: KeyMaterial) -> None:
    cert_parser = ResponseParser(
        ResponseVerifier(key_material.alipay.private_key.public_key(), "expected-sn")
    )
    body = dumps(SUCCESS)
    for sn in ("expected-sn", None):  # absent: verified with the configured certificate's key
        headers = sign_headers(key_material.alipay, body, sn)
        assert isinstance(cert_parser.parse(200, headers, body, sent_trade_no=TRADE_NO), CancelSuccess)
    out = failure(cert_parser.parse(200, sign_headers(key_material.alipay, body, "other-sn"), body))
    assert out.kind is FailureKind.UNEXPECTED_SIGNER and "alipay-sn" in out.message
    # absent, but signed by another key: still a bad signature
    forged = sign_headers(key_material.app, body)
    assert failure(cert_parser.parse(200, forged, body)).kind is FailureKind.BAD_SIGNATURE


def test_trace_id_is_sanitised(parser: ResponseParser) -> None:
    out = failure(parser.parse(502, {"alipay-trace-id": "x" * 1000}, b""))
    assert out.trace_id == "x" * 128
    assert failure(parser.parse(502, {"alipay-trace-id": "\u00e9\u00e9"}, b"")).trace_id is None


# --- AES --------------------------------------------------------------------------------------


def test_aes_success_is_verified_as_ciphertext_then_decrypted(
    aes_parser: ResponseParser, key_material: KeyMaterial
) -> None:
    ciphertext = BodyCipher(AES_KEY).encrypt(dumps(SUCCESS)).encode()
    headers = sign_headers(key_material.alipay, ciphertext)
    outcome = aes_parser.parse(200, headers, ciphertext, sent_trade_no=TRADE_NO)
    assert isinstance(outcome, CancelSuccess) and outcome.action == "refund"


def test_aes_signature_over_plaintext_does_not_verify(
    aes_parser: ResponseParser, key_material: KeyMaterial
) -> None:
    plaintext = dumps(SUCCESS)
    ciphertext = BodyCipher(AES_KEY).encrypt(plaintext).encode()
    out = failure(aes_parser.parse(200, sign_headers(key_material.alipay, plaintext), ciphertext))
    assert out.kind is FailureKind.BAD_SIGNATURE


def test_aes_undecryptable_signed_body_is_malformed(
    aes_parser: ResponseParser, key_material: KeyMaterial
) -> None:
    wrong = BodyCipher(bytes(32)).encrypt(dumps(SUCCESS)).encode()
    out = failure(aes_parser.parse(200, sign_headers(key_material.alipay, wrong), wrong))
    assert out.kind is FailureKind.MALFORMED and out.verified


def test_aes_mode_still_reads_plain_json_errors(
    aes_parser: ResponseParser, key_material: KeyMaterial
) -> None:
    body = dumps({"code": "ACQ.TRADE_HAS_SUCCESS", "message": "paid"})
    out = failure(aes_parser.parse(400, sign_headers(key_material.alipay, body), body))
    assert out.kind is FailureKind.V3_ERROR and out.code == "ACQ.TRADE_HAS_SUCCESS"


def test_aes_encrypted_error_is_decrypted(aes_parser: ResponseParser, key_material: KeyMaterial) -> None:
    ciphertext = (
        BodyCipher(AES_KEY).encrypt(dumps({"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"})).encode()
    )
    out = failure(aes_parser.parse(200, sign_headers(key_material.alipay, ciphertext), ciphertext))
    assert out.kind is FailureKind.BUSINESS and out.sub_code == "ACQ.SYSTEM_ERROR"


# --- properties -------------------------------------------------------------------------------

SIGNATURE_HEADERS = ["alipay-signature", "alipay-timestamp", "alipay-nonce", "alipay-sn", "alipay-trace-id"]
header_names = st.one_of(
    st.sampled_from(SIGNATURE_HEADERS + [h.upper() for h in SIGNATURE_HEADERS]), st.text(max_size=20)
)
header_values = st.one_of(
    st.text(max_size=60), st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
)
success_like = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(st.text(max_size=30), st.none(), st.integers(), st.sampled_from([SUCCESS[name], ""]))
        for name in SUCCESS
    },
).map(dumps)
bodies = st.one_of(st.binary(max_size=300), success_like)
statuses = st.integers(min_value=0, max_value=999)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=statuses, headers=st.dictionaries(header_names, header_values, max_size=8), body=bodies)
def test_arbitrary_unsigned_or_forged_input_never_crashes_nor_succeeds(
    parser: ResponseParser, aes_parser: ResponseParser, status: int, headers: dict[str, str], body: bytes
) -> None:
    for p in (parser, aes_parser):
        outcome = p.parse(status, headers, body)
        assert isinstance(outcome, AlipayFailure)
        assert isinstance(outcome.message, str) and outcome.http_status == status
        if not outcome.verified:
            assert outcome.sub_code is None  # business detail only ever comes from a verified body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=statuses, body=bodies)
def test_validly_signed_input_never_crashes_and_succeeds_only_for_2xx_objects(
    parser: ResponseParser, key_material: KeyMaterial, status: int, body: bytes
) -> None:
    outcome = parser.parse(status, sign_headers(key_material.alipay, body), body, sent_trade_no=TRADE_NO)
    if isinstance(outcome, CancelSuccess):
        assert 200 <= status < 300
        document = json.loads(body)
        assert isinstance(document, dict)
        assert outcome.action == (document.get("action") or None) and outcome.action in (
            None,
            "close",
            "refund",
        )
        assert document.get("trade_no") == TRADE_NO == outcome.trade_no  # names our id, and only ours
    else:
        assert outcome.verified
