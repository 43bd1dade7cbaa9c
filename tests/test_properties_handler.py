"""Property: any message body - arbitrary text and bytes, JSON of any shape, huge, unicode, deeply
nested, ids of the wrong type, SNS envelopes wrapping garbage - goes through ``lambda_handler`` in a
batch with good messages, and:

- no exception escapes the handler and the response is a well-formed partial batch response;
- a body that is not a cancel request is dead-lettered on its first receipt, with a reason, its body
  byte for byte, and is acknowledged (not retried);
- a body that is a cancel request is never dead-lettered as bad;
- the good records of the same batch still succeed (their trades CLOSED in the ledger, acknowledged).

The handler runs against in-process moto and the gateway emulator over loopback (``pipeline``).
tests/test_messages.py already checks ``parse_message`` alone on arbitrary input; here it is the
whole handler, and ``parse_message`` only says which bodies count as good.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from alipay_cancel.pipeline.messages import BadMessage, parse_message
from tests.fixtures.aws import Pipeline, cancel_body, sqs_event, sqs_record

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
id_values = st.one_of(
    json_values,
    st.text(min_size=60, max_size=80),  # around the 64-character limit
    st.text(alphabet=" \t\n\u3000\u200b\u202e\x00\x7f", min_size=1, max_size=5).map(lambda s: f"A{s}B"),
    st.sampled_from(["", " ", "订单号-1", "\U0001f600", "x" * 65]),
)
id_objects = st.fixed_dictionaries(
    {},
    optional={
        "out_trade_no": id_values,
        "trade_no": id_values,
        "app_auth_token": id_values,
        "Type": st.sampled_from(["Notification", "SubscriptionConfirmation", 5]),
        "extra": json_values,
    },
)
plain_bodies = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),  # arbitrary bytes as they would arrive
    json_values.map(json.dumps),
    id_objects.map(lambda o: json.dumps(o, ensure_ascii=False)),
    st.integers(1, 20_000).map(lambda n: "[" * n + "]" * n),  # deeply nested
    st.integers(1, 20_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(256 * 1024 - 5, 256 * 1024 + 50).map(
        lambda n: json.dumps({"out_trade_no": "A1", "pad": "x" * n})
    ),
    st.sampled_from(['{"out_trade_no": NaN}', '{"out_trade_no":"A","out_trade_no":"B"}', "\ufeff{}", "{"]),
)
valid_ids = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=64,
)
good_bodies = st.builds(
    lambda out_trade_no, extra: json.dumps({"out_trade_no": out_trade_no, **extra}, ensure_ascii=False),
    valid_ids,
    st.dictionaries(st.sampled_from(["amount", "note", "v"]), json_values, max_size=2),
)
# Half the draws are cancel requests (plain or SNS-wrapped), half anything at all.
bodies = st.booleans().flatmap(
    lambda good: (
        st.one_of(
            good_bodies, good_bodies.map(lambda inner: json.dumps({"Type": "Notification", "Message": inner}))
        )
        if good
        else st.one_of(
            plain_bodies,
            plain_bodies.map(lambda inner: json.dumps({"Type": "Notification", "Message": inner})),
            json_values.map(lambda inner: json.dumps({"Type": "Notification", "Message": inner})),
        )
    )
)


def _is_bad(body: str) -> bool:
    try:
        parse_message(body)
    except BadMessage:
        return True
    return False


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(body=bodies, good_count=st.integers(1, 3), position=st.integers(0, 3))
def test_any_body_is_handled_and_the_good_records_of_its_batch_still_succeed(
    pipeline: Pipeline, body: str, good_count: int, position: int
) -> None:
    goods = []
    for _ in range(good_count):
        key = f"PROP-{uuid.uuid4().hex}"
        pipeline.gateway.admin.seed_trade(key, state="unpaid")
        goods.append((key, sqs_record(cancel_body(key))))
    odd = sqs_record(body)
    records = [r for _, r in goods]
    records.insert(min(position, len(records)), odd)
    bad = _is_bad(body)
    event("bad body" if bad else "body is a valid cancel request")

    response: Any = pipeline.invoke(sqs_event(records))  # must not raise

    assert isinstance(response, dict) and isinstance(response.get("batchItemFailures"), list)
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    for key, record in goods:
        assert record["messageId"] not in failed
        item = pipeline.aws.result(key)
        assert item is not None and item["status"] == "CLOSED", item
    letters = [
        d for d in pipeline.aws.dead_letters() if d["attributes"].get("source_message_id") == odd["messageId"]
    ]
    if bad:
        assert odd["messageId"] not in failed  # dead-lettered now, never retried
        [letter] = letters
        assert letter["body"] == body
        assert letter["attributes"]["outcome_class"] == "bad_message"
        assert letter["attributes"]["attempts"] == "1"
        assert len(letter["attributes"]["reason"].strip()) > 20
    else:
        assert all(d["attributes"].get("outcome_class") != "bad_message" for d in letters)
