"""The queues' own protection, from the transformed template: TLS only, senders limited to the
producers given as parameters (empty: IAM alone decides, as before), the dead-letter queue usable by
the cancel queue only and protected like it.

The queue policies are evaluated here the way IAM evaluates a resource policy's statements (explicit
deny wins; a negated condition operator matches when the key is absent), for the callers that matter:
a listed producer, an unlisted one, the function, the SNS topic, another topic, plain HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.template_support import (
    ACCOUNT,
    PARTITION,
    REGION,
    Resolver,
    allowed,
    as_list,
    resource_props,
    resources,
    sam_template,
    transform,
)

PAYMENTS = f"arn:aws:iam::{ACCOUNT}:role/payment-service"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/on-call"
STRANGER = f"arn:aws:iam::{ACCOUNT}:role/some-other-app"
FUNCTION_ROLE = f"arn:{PARTITION}:getatt:::CancelFunctionRole.Arn"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:payment-timeouts"
OTHER_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:someone-elses-topic"
QUEUE_ARN = f"arn:{PARTITION}:getatt:::CancelQueue.Arn"
DLQ_ARN = f"arn:{PARTITION}:getatt:::CancelDeadLetterQueue.Arn"
EVENTS_DLQ_ARN = f"arn:{PARTITION}:getatt:::OutcomeEventsDeadLetterQueue.Arn"
SCHEDULER_ROLE = f"arn:{PARTITION}:getatt:::CancelSchedulerRole.Arn"


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transform(sam_template())


@dataclass(frozen=True)
class Call:
    principal_arn: str | None  # None: a service principal (SNS) has no aws:PrincipalArn
    action: str = "sqs:SendMessage"
    service: str | None = None
    source_arn: str | None = None
    secure: bool = True

    def keys(self) -> dict[str, str]:
        keys = {"aws:SecureTransport": "true" if self.secure else "false"}
        if self.principal_arn:
            keys["aws:PrincipalArn"] = self.principal_arn
        if self.source_arn:
            keys["aws:SourceArn"] = self.source_arn
        return keys


def _condition_matches(condition: dict[str, Any], keys: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, values in tests.items():
            values = [str(v) for v in as_list(values)]
            present = key in keys
            if operator == "Bool":
                if not present or keys[key] not in values:
                    return False
            elif operator == "ArnEquals":
                if not present or keys[key] not in values:
                    return False
            elif operator == "ArnNotEquals":  # negated: true when the key is absent
                if present and keys[key] in values:
                    return False
            else:
                raise AssertionError(f"evaluator does not know {operator}")
    return True


def _principal_matches(principal: Any, call: Call) -> bool:
    if principal == "*":
        return True
    if "AWS" in principal:
        return call.principal_arn in as_list(principal["AWS"])
    if "Service" in principal:
        return call.service in as_list(principal["Service"])
    raise AssertionError(principal)


def decision(policy: dict[str, Any], queue_arn: str, call: Call) -> str:
    """'deny' (an explicit deny), 'allow' (the policy grants it) or 'iam' (up to the caller's IAM)."""
    result = "iam"
    for statement in policy["Statement"]:
        if queue_arn not in as_list(statement["Resource"]):
            continue
        actions = as_list(statement["Action"])
        if call.action not in actions and "sqs:*" not in actions:
            continue
        if not _principal_matches(statement["Principal"], call):
            continue
        if not _condition_matches(statement.get("Condition", {}), call.keys()):
            continue
        if statement["Effect"] == "Deny":
            return "deny"
        result = "allow"
    return result


def queue_policies(cfn: dict[str, Any], params: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Queue logical id -> its resolved policy document (exactly one policy per queue)."""
    resolver = Resolver(cfn, params)
    found: dict[str, dict[str, Any]] = {}
    for policy in resources(cfn, "AWS::SQS::QueuePolicy").values():
        for queue in policy["Properties"]["Queues"]:
            logical = queue["Ref"]
            assert logical not in found, f"two policies on {logical}"
            found[logical] = resolver.resolve(policy["Properties"]["PolicyDocument"])
    return found


RESTRICTED = {"ProducerPrincipalArns": f"{PAYMENTS},{OPERATOR}", "ProducerTopicArn": TOPIC}


@pytest.mark.parametrize("params", [{}, RESTRICTED, {"ProducerTopicArn": TOPIC}])
def test_every_queue_refuses_anything_but_tls(cfn: dict[str, Any], params: dict[str, str]) -> None:
    policies = queue_policies(cfn, params)
    queues = {
        "CancelQueue": QUEUE_ARN,
        "CancelDeadLetterQueue": DLQ_ARN,
        "OutcomeEventsDeadLetterQueue": EVENTS_DLQ_ARN,
    }
    assert set(policies) == set(queues) == set(resources(cfn, "AWS::SQS::Queue"))
    for logical, arn in queues.items():
        for action in ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue"):
            for who in (PAYMENTS, FUNCTION_ROLE, OPERATOR):
                plain = Call(who, action=action, secure=False)
                assert decision(policies[logical], arn, plain) == "deny", (logical, action, who)


def test_empty_parameters_keep_iam_alone_in_charge(cfn: dict[str, Any]) -> None:
    assert allowed(cfn, "ProducerTopicArn", "")
    policies = queue_policies(cfn)
    for logical, arn in (("CancelQueue", QUEUE_ARN), ("CancelDeadLetterQueue", DLQ_ARN)):
        assert len(policies[logical]["Statement"]) == 1  # the TLS deny only
        for who in (PAYMENTS, STRANGER, FUNCTION_ROLE):
            assert decision(policies[logical], arn, Call(who)) == "iam"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (Call(PAYMENTS), "allow"),
        (Call(OPERATOR), "allow"),  # alipay-cancel redrive sends as the operator
        (Call(FUNCTION_ROLE), "iam"),  # never locked out: its own role grants what it needs
        (Call(SCHEDULER_ROLE), "iam"),  # scheduled cancels: its own role grants the send
        (Call(STRANGER), "deny"),  # whatever its IAM policy says
        (Call(None, service="sns.amazonaws.com", source_arn=TOPIC), "allow"),
        (Call(None, service="sns.amazonaws.com", source_arn=OTHER_TOPIC), "deny"),
        (Call(STRANGER, source_arn=OTHER_TOPIC), "deny"),
        (Call(STRANGER, action="sqs:GetQueueAttributes"), "iam"),  # only sending is limited
    ],
)
def test_named_producers_only_may_send_cancels(cfn: dict[str, Any], call: Call, expected: str) -> None:
    policy = queue_policies(cfn, RESTRICTED)["CancelQueue"]
    assert decision(policy, QUEUE_ARN, call) == expected


def test_a_topic_alone_restricts_sending_to_the_topic_and_the_function(cfn: dict[str, Any]) -> None:
    policy = queue_policies(cfn, {"ProducerTopicArn": TOPIC})["CancelQueue"]
    assert decision(policy, QUEUE_ARN, Call(None, service="sns.amazonaws.com", source_arn=TOPIC)) == "allow"
    assert decision(policy, QUEUE_ARN, Call(PAYMENTS)) == "deny"
    assert decision(policy, QUEUE_ARN, Call(FUNCTION_ROLE)) == "iam"
    assert decision(policy, QUEUE_ARN, Call(SCHEDULER_ROLE)) == "iam"


@pytest.mark.parametrize("params", [RESTRICTED, {"ProducerPrincipalArns": PAYMENTS}])
def test_only_the_function_sends_dead_letters_once_producers_are_named(
    cfn: dict[str, Any], params: dict[str, str]
) -> None:
    policy = queue_policies(cfn, params)["CancelDeadLetterQueue"]
    assert decision(policy, DLQ_ARN, Call(FUNCTION_ROLE)) == "iam"
    for who in (PAYMENTS, OPERATOR, STRANGER, SCHEDULER_ROLE):
        assert decision(policy, DLQ_ARN, Call(who)) == "deny", who
    assert decision(policy, DLQ_ARN, Call(None, service="sns.amazonaws.com", source_arn=TOPIC)) == "deny"


def test_topic_parameter_takes_an_sns_topic_arn_only(cfn: dict[str, Any]) -> None:
    assert allowed(cfn, "ProducerTopicArn", TOPIC)
    for bad in ("*", "arn:aws:sns:us-east-1:123456789012:*", "payment-timeouts", f"{TOPIC}.fifo"):
        assert not allowed(cfn, "ProducerTopicArn", bad), bad
    assert cfn["Parameters"]["ProducerPrincipalArns"]["Type"] == "CommaDelimitedList"


def test_only_the_cancel_queue_may_use_the_dead_letter_queue(cfn: dict[str, Any]) -> None:
    resolver = Resolver(cfn)
    allow = resolver.resolve(resource_props(cfn, "CancelDeadLetterQueue")["RedriveAllowPolicy"])
    name = resolver.resolve(resource_props(cfn, "CancelQueue")["QueueName"])
    # The ARN CloudFormation gives the cancel queue, from its name (a !GetAtt would be circular).
    assert allow == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"],
    }
    assert name == "alipay-cancel-cancel"  # stack name + "-cancel": one per stack


def test_dead_letter_queue_is_protected_like_the_cancel_queue(cfn: dict[str, Any]) -> None:
    """Dead letters carry the original body (an ISV's app_auth_token included): same encryption."""
    keys = ("SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")
    queue, dlq = (resource_props(cfn, q) for q in ("CancelQueue", "CancelDeadLetterQueue"))
    assert {k: queue.get(k) for k in keys} == {k: dlq.get(k) for k in keys}
    assert queue["SqsManagedSseEnabled"] is True
