"""Security checks that were not already covered elsewhere. What is covered, and where:

- forged / wrong-key / missing response signatures refused by the client over HTTP:
  tests/test_client_against_gateway.py (test_forged_or_unsigned_answers_are_never_results,
  test_wrong_alipay_public_key_fails_closed, test_alipay_key_rotation_fails_closed_until_...),
  tests/test_response_parsing.py (forged, partial headers, unsigned success, hypothesis), and
  tests/test_properties_client.py (any answer over HTTP). Added here: the same attacks end to end
  through ``lambda_handler`` never settle a trade.
- http:// to a non-loopback host refused: test_client_against_gateway.py::test_refuses_unsafe_endpoints
  and test_config.py::test_endpoint_rejected. Added here: host-name tricks (userinfo, look-alike
  names, mapped/decimal addresses) against both.
- TLS verification: test_config.py::test_no_option_disables_tls_verification (no Config field).
  Added here: a real TLS server with an untrusted certificate is refused even with requests'
  environment variables set to "" or to a bogus path, and with "verify"-like fields in the secret.
- secrets only by id: test_template.py::test_no_environment_variable_carries_a_secret and
  test_events.py::test_env_file_holds_no_secret_material. Added here: the environment the local
  stack gives the function (``local.aws.provision.lambda_environment``) holds no key material.
- IAM least privilege on the transformed template: test_template.py::test_data_actions_are_granted_
  on_named_resources_only, ::test_non_data_wildcards_are_limited_to_xray,
  ::test_every_role_is_an_explicit_one_without_managed_policies (not repeated here).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from local.aws.provision import Provisioned, lambda_environment
from local.aws.template_intrinsics import PhysicalResource
from local.aws.template_settings import read_template_settings
from local.keygen import KeyMaterial, RsaKeyPair

from alipay_cancel.alipay import TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.alipay.signing_material import load_signing_material
from alipay_cancel.config import ConfigError, load_config
from tests.fixtures.aws import Pipeline, cancel_body, sqs_event, sqs_record

# --- forged answers end to end ----------------------------------------------------------------


@pytest.mark.parametrize("attack", ["bad_signature", "no_signature", "wrong_alipay_key"])
def test_forged_or_unsigned_success_never_becomes_a_succeeded_record(
    pipeline: Pipeline, other_rsa_key_pair: RsaKeyPair, attack: str
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("SEC-1", state="unpaid")
    if attack == "wrong_alipay_key":
        admin.rotate_alipay_key(other_rsa_key_pair.private_pem)  # answers signed by a key we do not trust
    else:
        admin.set_fault(attack, trade="SEC-1")  # every answer mangled
    response = pipeline.invoke(sqs_event([sqs_record(cancel_body("SEC-1"))]))

    assert admin.trade("SEC-1")["state"] == "closed"  # Alipay did cancel: only the answer is untrusted
    assert len(response["batchItemFailures"]) == 1  # retried later, not acknowledged
    item = pipeline.aws.result("SEC-1")
    assert item is not None and item["status"] == "RETRYING"
    assert pipeline.aws.dead_letters() == []  # never given up on because of an unverified answer


# --- http:// only to loopback ------------------------------------------------------------------

NOT_LOOPBACK = [
    "http://127.0.0.1.nip.io:8089",  # a public name that merely starts like a loopback address
    "http://localhost.localdomain.evil.com",
    "http://127.0.0.1@evil.com",  # userinfo: the host is evil.com
    "http://evil.com#@127.0.0.1",
    "http://[::ffff:7f00:1]:8089",  # IPv4-mapped IPv6: not treated as loopback (refusing is the safe side)
    "http://2130706433",  # 127.0.0.1 as a decimal number: resolvers may accept it, we do not
    "http://0.0.0.0:8089",
    "http://169.254.169.254",  # the instance metadata service
    "HTTP://OPENAPI.ALIPAY.COM",
]


@pytest.mark.parametrize("endpoint", NOT_LOOPBACK)
def test_client_refuses_plain_http_to_anything_but_loopback(
    public_key_secret: dict[str, str], endpoint: str
) -> None:
    with pytest.raises(ValueError):
        AlipayClient(endpoint, load_signing_material(public_key_secret))


@pytest.mark.parametrize("endpoint", NOT_LOOPBACK)
def test_config_refuses_plain_http_to_anything_but_loopback(endpoint: str) -> None:
    env = {
        "ALIPAY_SECRET_ID": "alipay-cancel/signing",
        "ALIPAY_DEFAULT_APP_ID": "2021000000000001",
        "RESULTS_TABLE_NAME": "results",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        "CANCEL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/queue",
        "ALIPAY_ENDPOINT": endpoint,
    }
    with pytest.raises(ConfigError) as raised:
        load_config(env)
    assert "ALIPAY_ENDPOINT" in str(raised.value)
    assert "ALIPAY_ENDPOINT" not in str(
        _config_error_or_none({**env, "ALIPAY_ENDPOINT": "https://openapi.alipay.com"})
    )  # the same environment with https is accepted: the refusal is about the endpoint


def _config_error_or_none(env: dict[str, str]) -> str:
    try:
        load_config(env)
    except ConfigError as error:
        return str(error)
    return ""


# --- TLS verification cannot be turned off -----------------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-alipay")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    alipay_key: rsa.RSAPrivateKey


class _SignedSuccess(BaseHTTPRequestHandler):
    """Answers every cancel with a success correctly signed by Alipay's key: if the client talked
    to it, only TLS verification stands between this impostor and a recorded success."""

    protocol_version = "HTTP/1.1"
    server: _TlsServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(
            {"code": "10000", "msg": "Success", "out_trade_no": "TLS-1", "retry_flag": "N", "action": "close"}
        ).encode()
        timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
        content = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        signature = base64.b64encode(
            self.server.alipay_key.sign(content, padding.PKCS1v15(), hashes.SHA256())
        )
        self.send_response(200)
        for name, value in (
            ("Content-Type", "application/json"),
            ("alipay-timestamp", timestamp),
            ("alipay-nonce", nonce),
            ("alipay-signature", signature.decode()),
            ("Content-Length", str(len(body))),
        ):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def impostor(
    tmp_path_factory: pytest.TempPathFactory, key_material: KeyMaterial
) -> Iterator[tuple[str, Path]]:
    """(https URL on 127.0.0.1 with a self-signed certificate, that certificate's path)."""
    cert_path, key_path = _self_signed(tmp_path_factory.mktemp("tls"))
    server = _TlsServer(("127.0.0.1", 0), _SignedSuccess)
    server.alipay_key = key_material.alipay.private_key
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert_path
    server.shutdown()
    server.server_close()


def _cancel(url: str, secret: dict[str, str]) -> AlipayFailure | CancelSuccess:
    client = AlipayClient(url, load_signing_material(secret), connect_timeout=2, read_timeout=3)
    try:
        return client.cancel(TradeRef(out_trade_no="TLS-1", trade_no=None))
    finally:
        client.session.close()


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"CURL_CA_BUNDLE": ""},
        {"REQUESTS_CA_BUNDLE": ""},
        {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""},
        {"CURL_CA_BUNDLE": "/nonexistent/ca.pem"},
        {"PYTHONHTTPSVERIFY": "0"},
        {"SSL_CERT_FILE": "/nonexistent/ca.pem", "SSL_CERT_DIR": "/nonexistent"},
    ],
)
def test_untrusted_certificate_is_refused_whatever_the_environment_says(
    impostor: tuple[str, Path],
    public_key_secret: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
) -> None:
    url, _ = impostor
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    outcome = _cancel(url, public_key_secret)
    assert isinstance(outcome, AlipayFailure)
    assert outcome.kind is FailureKind.CONNECTION


def test_verify_like_fields_in_the_secret_change_nothing(
    impostor: tuple[str, Path], public_key_secret: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = impostor
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    secret = {
        **public_key_secret,
        "verify": "false",
        "tls_verify": "false",
        "insecure": "true",
        "ca_bundle": "",
    }
    outcome = _cancel(url, secret)
    assert isinstance(outcome, AlipayFailure) and outcome.kind is FailureKind.CONNECTION


def test_control_the_impostor_is_believed_once_its_certificate_is_trusted(
    impostor: tuple[str, Path], public_key_secret: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Positive control for the two tests above: the refusals are TLS verification at work, not a
    broken server. (It also shows that REQUESTS_CA_BUNDLE *replaces* the trust store - requests'
    documented behaviour: the function's environment is deployment configuration, and the template
    sets no such variable, see test_template.py::test_environment_names_exactly_what_load_config_reads.)"""
    url, cert_path = impostor
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    assert isinstance(_cancel(url, public_key_secret), CancelSuccess)


# --- secrets travel by id only -------------------------------------------------------------------


class _AnyResource(Mapping[str, PhysicalResource]):
    """Every logical id resolves to a plausible physical resource (names, ARNs, URLs)."""

    def __getitem__(self, name: str) -> PhysicalResource:
        arn = f"arn:aws:service:us-east-1:123456789012:{name.lower()}"
        url = f"http://127.0.0.1:4566/123456789012/{name.lower()}"
        return PhysicalResource(name.lower(), {"Arn": arn, "QueueUrl": url, "QueueName": name.lower()})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:  # not "empty": callers write ``resources or {}``
        return True


def test_local_stack_gives_the_function_only_the_secret_id(key_material: KeyMaterial) -> None:
    settings = read_template_settings()
    provisioned = Provisioned(
        endpoint_url="http://127.0.0.1:4566",
        queue_url="http://127.0.0.1:4566/123456789012/q",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
        dlq_url="http://127.0.0.1:4566/123456789012/dlq",
        dlq_arn="arn:aws:sqs:us-east-1:123456789012:dlq",
        results_table="results",
        secret_id="alipay-cancel/signing-material",
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:alipay-cancel/signing-material-AbCdEf",
        resources=_AnyResource(),
    )
    env = lambda_environment(settings, provisioned, alipay_endpoint="http://127.0.0.1:8089")
    assert env["ALIPAY_SECRET_ID"] == "alipay-cancel/signing-material"
    secret = key_material.secret(aes=True)
    fragments = [line for line in secret["private_key"].splitlines() if len(line) >= 40]
    fragments.append(secret["encrypt_key"])
    for name, value in env.items():
        assert "PRIVATE KEY" not in value, name
        assert not any(f in value for f in fragments), name
        assert len(value) < 200, name  # nothing key-sized at all
