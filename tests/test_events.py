"""events/ holds real-shaped SQS events (make invoke, `sam local invoke`), and nothing else; the env file
for `sam local invoke` against the local stack is local/sam-local-env.json. Each event must look like
what the Lambda SQS event source delivers, and parse as documented."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from samtranslator.yaml_helper import yaml_parse

from alipay_cancel.config import load_config
from alipay_cancel.pipeline.messages import BadMessage, parse_message
from alipay_cancel.shared.trade import CancelRequest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
EVENT_FILES = sorted(EVENTS.glob("*.json"))  # every file there is an event (make invoke takes any)
SAM_LOCAL_ENV = ROOT / "local" / "sam-local-env.json"
LOCAL_REGION, LOCAL_ACCOUNT = "us-east-1", "123456789012"
# Names the local stack (`make local-stack`) creates; the env file and the events must agree.
LOCAL_QUEUE, LOCAL_DLQ = "alipay-cancel-queue", "alipay-cancel-dlq"
LOCAL_RESULTS = "alipay-cancel-results"
LOCAL_SECRET = "alipay-cancel/signing-material"
RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}


def _records(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["Records"]  # type: ignore[no-any-return]


def _parsed(name: str) -> list[CancelRequest | BadMessage]:
    out: list[CancelRequest | BadMessage] = []
    for record in _records(EVENTS / name):
        try:
            out.append(parse_message(record["body"]))
        except BadMessage as exc:
            out.append(exc)
    return out


def test_the_documented_event_files_exist() -> None:
    assert [p.name for p in EVENT_FILES] == [
        "cancel-batch-mixed.json",
        "cancel-by-out-trade-no.json",
        "cancel-by-trade-no.json",
        "cancel-malformed.json",
        "cancel-sns-wrapped.json",
    ]


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_event_has_the_sqs_event_source_shape(path: Path) -> None:
    event = json.loads(path.read_text())
    assert set(event) == {"Records"}
    records = event["Records"]
    assert 1 <= len(records) <= 10
    assert len({r["messageId"] for r in records}) == len(records)
    for record in records:
        assert set(record) == RECORD_KEYS
        assert record["eventSource"] == "aws:sqs"
        assert record["awsRegion"] == LOCAL_REGION
        assert record["eventSourceARN"] == f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{LOCAL_QUEUE}"
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", record["messageId"]
        )
        assert isinstance(record["receiptHandle"], str) and record["receiptHandle"]
        assert isinstance(record["body"], str)
        attributes = record["attributes"]
        assert {
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        } <= set(attributes)
        assert all(isinstance(v, str) for v in attributes.values())
        assert int(attributes["ApproximateReceiveCount"]) >= 1
        assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
        for attribute in record["messageAttributes"].values():
            assert attribute["dataType"] in {"String", "Number", "Binary"}


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_md5_of_body_is_the_md5_of_the_body(path: Path) -> None:
    for record in _records(path):
        expected = hashlib.md5(record["body"].encode(), usedforsecurity=False).hexdigest()
        assert record["md5OfBody"] == expected, record["messageId"]


def test_single_payment_events_parse_to_the_documented_trades() -> None:
    (by_out,) = _parsed("cancel-by-out-trade-no.json")
    assert isinstance(by_out, CancelRequest)
    assert (by_out.out_trade_no, by_out.trade_no, by_out.trade_key) == (
        "DEMO-UNPAID-0001",
        None,
        "DEMO-UNPAID-0001",
    )
    (by_trade,) = _parsed("cancel-by-trade-no.json")
    assert isinstance(by_trade, CancelRequest)
    assert by_trade.out_trade_no is None
    assert by_trade.trade_key == by_trade.trade_no == "2026010122001400000000000001"


def test_sns_wrapped_event_unwraps_to_the_inner_request() -> None:
    (record,) = _records(EVENTS / "cancel-sns-wrapped.json")
    envelope = json.loads(record["body"])
    assert envelope["Type"] == "Notification" and envelope["TopicArn"].startswith("arn:aws:sns:")
    (request,) = _parsed("cancel-sns-wrapped.json")
    assert isinstance(request, CancelRequest)
    assert request.trade_key == "DEMO-UNPAID-0004"


def test_malformed_event_is_a_bad_message() -> None:
    (bad,) = _parsed("cancel-malformed.json")
    assert isinstance(bad, BadMessage)
    assert bad.reason


def test_mixed_batch_covers_each_demo_outcome_and_one_bad_message() -> None:
    parsed = _parsed("cancel-batch-mixed.json")
    keys = [p.trade_key for p in parsed if isinstance(p, CancelRequest)]
    assert keys == [
        "DEMO-UNPAID-0001",
        "DEMO-PAID-0001",
        "DEMO-FINISHED-0001",
        "DEMO-WINDOW-0001",
        "DEMO-UNPAID-0002",
    ]
    assert sum(isinstance(p, BadMessage) for p in parsed) == 1
    receive_counts = [
        int(r["attributes"]["ApproximateReceiveCount"]) for r in _records(EVENTS / "cancel-batch-mixed.json")
    ]
    assert max(receive_counts) > 1  # one record is a retry


# ---------------------------------------------------------------------------- local/sam-local-env.json


@pytest.fixture(scope="module")
def local_env() -> dict[str, str]:
    data = json.loads(SAM_LOCAL_ENV.read_text())
    assert set(data) == {"CancelFunction"}
    return data["CancelFunction"]  # type: ignore[no-any-return]


def test_env_file_sets_only_variables_the_template_declares(local_env: dict[str, str]) -> None:
    # `sam local invoke --env-vars` silently ignores variables the template does not declare.
    template = yaml_parse((ROOT / "template.yaml").read_text())
    declared = set(template["Resources"]["CancelFunction"]["Properties"]["Environment"]["Variables"])
    assert set(local_env) == declared
    assert all(isinstance(v, str) for v in local_env.values())


def test_env_file_points_at_the_local_stack_on_loopback(local_env: dict[str, str]) -> None:
    assert local_env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert local_env["ALIPAY_ENDPOINT"] == "http://127.0.0.1:8089"
    for var, name in (("CANCEL_QUEUE_URL", LOCAL_QUEUE), ("DEAD_LETTER_QUEUE_URL", LOCAL_DLQ)):
        url = urlsplit(local_env[var])
        assert (url.scheme, url.hostname, url.port) == ("http", "127.0.0.1", 4566), var
        assert url.path == f"/{LOCAL_ACCOUNT}/{name}", var
    assert local_env["RESULTS_TABLE_NAME"] == LOCAL_RESULTS
    assert local_env["ALIPAY_SECRET_ID"] == LOCAL_SECRET
    assert local_env["POWERTOOLS_TRACE_DISABLED"] == "true"  # no X-Ray daemon locally


def test_env_file_is_accepted_by_load_config(local_env: dict[str, str]) -> None:
    config = load_config(local_env)
    assert config.alipay_endpoint == "http://127.0.0.1:8089"
    assert config.secret_id == LOCAL_SECRET
    assert config.max_receive_count == 8


def test_env_file_holds_no_secret_material(local_env: dict[str, str]) -> None:
    for name, value in local_env.items():
        assert "BEGIN" not in value and len(value) < 80, name
