"""The AWS stand-in processes each request atomically, as AWS does (``local.aws.moto_atomic``): a real
moto server subprocess on loopback, hammered by concurrent clients; long polls do not block it; fault
rules act on the n-th matching request of a local Lambda environment."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local.aws.moto_atomic import AtomicMiddleware, Rule, environment_port, operation_of, short_poll
from local.aws.provision import aws_client
from local.stack.local_stack import MotoServer

ROUNDS = 20
CONTENDERS = 8


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _race(n: int, action: Any) -> list[Any]:
    """Run ``action(i)`` in ``n`` threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = action(i)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def test_concurrent_conditional_puts_never_both_succeed(moto: MotoServer) -> None:
    ddb = aws_client("dynamodb", moto.url)
    ddb.create_table(
        TableName="claims",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clients = [aws_client("dynamodb", moto.url) for _ in range(CONTENDERS)]
    for round_no in range(ROUNDS):

        def claim(i: int, key: str = f"trade-{round_no}") -> str:
            clients[i].put_item(
                TableName="claims",
                Item={"pk": {"S": key}, "owner": {"S": str(i)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return "won"

        outcomes = _race(CONTENDERS, claim)
        won = [o for o in outcomes if o == "won"]
        lost = [o for o in outcomes if isinstance(o, ClientError)]
        assert len(won) == 1, outcomes
        assert len(lost) == CONTENDERS - 1
        assert all(e.response["Error"]["Code"] == "ConditionalCheckFailedException" for e in lost)


def test_one_message_is_never_received_twice_concurrently(moto: MotoServer) -> None:
    sqs = aws_client("sqs", moto.url)
    url = sqs.create_queue(QueueName="once", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    clients = [aws_client("sqs", moto.url) for _ in range(CONTENDERS)]
    for round_no in range(ROUNDS):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{round_no}")

        def receive(i: int, long_polls: bool = round_no % 4 == 0) -> list[str]:
            # every 4th round half of them long-poll: both kinds race for the one message
            wait = (i % 2) if long_polls else 0
            got = clients[i].receive_message(QueueUrl=url, WaitTimeSeconds=wait, MaxNumberOfMessages=10)
            return [m["Body"] for m in got.get("Messages", [])]

        bodies = [b for got in _race(CONTENDERS, receive) for b in got]
        assert bodies == [f"m{round_no}"], bodies


def test_a_long_poll_does_not_block_other_requests(moto: MotoServer) -> None:
    """The long poll can only end with the message once another client's requests went through
    while it waited: with a lock held for the whole poll it would end empty after 10 s."""
    sqs = aws_client("sqs", moto.url)
    url = sqs.create_queue(QueueName="longpoll")["QueueUrl"]
    got: list[Any] = []
    poller = threading.Thread(
        target=lambda: got.append(
            aws_client("sqs", moto.url).receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
        )
    )
    poller.start()
    other = aws_client("sqs", moto.url)
    other.list_queues()  # goes through while the long poll waits
    other.send_message(QueueUrl=url, MessageBody="hello")
    poller.join(timeout=30)
    assert got and [m["Body"] for m in got[0]] == ["hello"]
    stats = moto.stats()
    assert stats["long_polls"] >= 1 and stats["operations"]["AmazonSQS.ListQueues"] >= 1


# --- the pieces, no server --------------------------------------------------------------------------


def test_operation_caller_and_short_poll_are_read_from_the_request() -> None:
    environ = {
        "HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage",
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=LOCALENV40123/20260101/us-east-1/sqs/aws4_request",
    }
    body = json.dumps({"QueueUrl": "q", "WaitTimeSeconds": 7}).encode()
    assert operation_of(environ, body) == "AmazonSQS.ReceiveMessage"
    assert environment_port(environ) == 40123
    short, wait = short_poll("AmazonSQS.ReceiveMessage", environ, body)
    assert (json.loads(short)["WaitTimeSeconds"], wait) == (0, 7.0)
    assert environment_port({"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=testing/2026/x"}) is None
    query = {"CONTENT_TYPE": "application/x-www-form-urlencoded", "QUERY_STRING": ""}
    form = b"Action=ReceiveMessage&WaitTimeSeconds=5&QueueUrl=q"
    assert operation_of(query, form) == "ReceiveMessage"
    assert short_poll("ReceiveMessage", query, form)[1] == 5.0


def test_rules_act_on_the_nth_matching_request_of_an_environment_only() -> None:
    served: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        served.append(environ["HTTP_X_AMZ_TARGET"])
        start_response("200 OK", [])
        return [b"{}"]

    middleware = AtomicMiddleware(app)
    middleware.rules = [
        Rule(name="r", operation="DynamoDB_20120810.PutItem", action="stall", every=3, first=4, max=2)
    ]

    def call(key: str, table: str = "results") -> None:
        body = json.dumps({"TableName": table}).encode()
        environ = {
            "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem",
            "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={key}/2026/us-east-1/dynamodb/aws4_request",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        middleware(environ, lambda *a: None)

    for _ in range(3):
        call("testing")  # not an environment: never matched
    for _ in range(10):
        call("LOCALENV5000")
    rule = middleware.rules[0]
    assert (rule.matched, rule.acted) == (10, 2)  # matches 4 and 7 (first 4, every 3), max 2
    assert len(served) == 13  # a stall still serves the request
    with pytest.raises(ValueError):
        Rule.from_dict({"name": "x", "operation": "y", "action": "explode"})


def test_a_stall_holds_its_environment_for_the_timeout() -> None:
    """Stall rules produce the timeout fault: the environment is told it is held (its Runtime API then
    refuses injected kills, ``local.lambda_runtime.lambda_environment``), before the request is held."""
    from local.lambda_runtime.runtime_api import RuntimeApi

    api = RuntimeApi(on_kill_request=lambda _reason: True).start()
    try:
        middleware = AtomicMiddleware(
            lambda environ, start_response: (start_response("200 OK", []), [b"{}"])[1]
        )
        middleware.rules = [
            Rule(name="t", operation="DynamoDB_20120810.UpdateItem", action="stall", seconds=0)
        ]
        body = b'{"TableName": "idem"}'
        environ = {
            "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.UpdateItem",
            "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=LOCALENV{api.port}/2026/us-east-1/dynamodb/x",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        assert not api.held
        middleware(environ, lambda *a: None)
        assert api.held and middleware.rules[0].acted == 1
    finally:
        api.close()
