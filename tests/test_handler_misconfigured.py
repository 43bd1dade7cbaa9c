"""Broken configuration never empties the queue into the dead-letter queue (moto + the emulator).

A broken signing secret for longer than the whole retry schedule: every message is kept (re-enqueued
unchanged on its last allowed receive), nothing is dead-lettered, no attempt is counted; once the
secret is fixed the queue drains by itself, each trade cancelled once.
"""

from __future__ import annotations

import json

from tests.fixtures.aws import SHORTEST_RETRIES, Pipeline, cancel_body

TRADES = [f"MIS-{n}" for n in range(5)]


def _drive(pipeline: Pipeline, rounds: int) -> int:
    """Run the event source's loop without waiting out backoffs (a re-enqueued copy's delay, 1-2 s,
    is waited out); returns the invocations made."""
    invocations = 0
    for _ in range(rounds):
        pipeline.aws.wait_out_delays()
        event, _response, failed = pipeline.run_once()
        if not event["Records"]:
            break
        invocations += 1
        pipeline.aws.make_visible(event, failed)
    pipeline.aws.wait_out_delays()
    return invocations


def test_a_broken_secret_outlasting_the_retry_schedule_loses_and_dead_letters_nothing(
    pipeline: Pipeline,
) -> None:
    good_secret = pipeline.gateway.secret
    for trade in TRADES:
        pipeline.gateway.admin.seed_trade(trade, state="unpaid")
    pipeline.aws.put_secret("{not json: the operator pasted the wrong file")
    # The shortest backoff the configuration accepts, and the secret re-read on every use.
    pipeline.configure(
        **SHORTEST_RETRIES,
        SECRET_MAX_AGE_SECONDS=0,
    )
    bodies = {cancel_body(trade) for trade in TRADES}
    for body in bodies:
        pipeline.aws.send(body)

    # Three times the receives the redrive policy allows: without the re-enqueue, all would be gone.
    _drive(pipeline, rounds=3 * pipeline.aws.max_receive_count)

    assert pipeline.aws.dead_letters() == []
    assert sum(pipeline.aws.queue_depth()) == len(TRADES)  # every message still on the queue
    assert pipeline.gateway.admin.counts()["cancel_calls"] == 0
    for trade in TRADES:
        item = pipeline.aws.result(trade)
        assert item is not None
        assert (item["status"], item["outcome_class"], item["attempts"]) == ("RETRYING", "config_error", 0)
        assert "signing secret" in item["remedy"] and "never dead-lettered" in item["remedy"]
    kept = pipeline.aws.receive_event()  # the copies carry the body unchanged and their history
    assert {r["body"] for r in kept["Records"]} == bodies
    assert all(
        int(r["messageAttributes"]["alipay_cancel_requeues"]["stringValue"]) >= 2 for r in kept["Records"]
    )
    pipeline.aws.make_visible(kept)

    pipeline.aws.put_secret(good_secret)  # the operator fixes it; nobody redrives anything
    pipeline.let_failed_secret_loads_expire()  # the failed load is not read again before that
    _drive(pipeline, rounds=10)

    assert sum(pipeline.aws.queue_depth()) == 0
    assert pipeline.aws.dead_letters() == []
    for trade in TRADES:
        item = pipeline.aws.result(trade)
        assert item is not None
        assert (item["status"], item["action"], item["attempts"]) == ("CLOSED", "close", 1)
    assert pipeline.gateway.admin.counts()["cancel_calls"] == len(TRADES)


def test_a_message_misconfigured_for_longer_than_the_retention_is_dead_lettered_with_a_reason(
    pipeline: Pipeline,
) -> None:
    pipeline.aws.put_secret(json.dumps({"app_id": "only this"}))
    pipeline.configure(
        CANCEL_QUEUE_RETENTION_SECONDS=600,
        **SHORTEST_RETRIES,
    )
    pipeline.aws.send(cancel_body("MIS-OLD"))

    _drive(pipeline, rounds=2 * pipeline.aws.max_receive_count)

    [letter] = pipeline.aws.dead_letters()
    assert letter["body"] == cancel_body("MIS-OLD")
    assert letter["attributes"]["outcome_class"] == "exhausted"
    assert "longer than the queue keeps messages" in letter["attributes"]["reason"]
    assert sum(pipeline.aws.queue_depth()) == 0
    # The ledger item says what the dead letter says: given up, fix it, then redrive (not "kept").
    item = pipeline.aws.result("MIS-OLD")
    assert item is not None and (item["status"], item["outcome_class"]) == ("FAILED", "exhausted")
    assert item["remedy"].startswith("Our configuration stayed broken for longer than the queue keeps")
    assert letter["attributes"]["reason"].endswith(item["remedy"])
