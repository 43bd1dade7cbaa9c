"""The bench's hand-written CPU floor (bench/minimal_loop.py) writes what the ledger writes for a
settled cancel, attribute for attribute. It writes the names by hand on purpose (it is the floor, not
the ledger); this keeps it from drifting when the ledger gains an attribute: a floor that wrote less
would make the handler look more expensive against it than it is."""

from __future__ import annotations

from typing import Any

from bench.minimal_loop import MinimalCanceller

from tests.fixtures.aws import Pipeline, cancel_body, sqs_event, sqs_record


def _shape(item: dict[str, Any]) -> dict[str, Any]:
    """Attribute names and, for the history, its entries' names: what the writes carry, not values."""
    return {
        name: sorted({key for entry in value for key in entry}) if name == "history" else type(value).__name__
        for name, value in item.items()
    }


def test_the_floor_writes_the_attributes_the_ledger_writes_for_a_settled_cancel(pipeline: Pipeline) -> None:
    for trade in ("FLOOR-1", "HANDLER-1"):
        pipeline.gateway.admin.seed_trade(trade)
    floor = MinimalCanceller(
        pipeline.gateway.endpoint, pipeline.gateway.secret, pipeline.aws.dynamodb, pipeline.aws.results_table
    )
    assert floor.cancel("FLOOR-1", writes=2) == "close"
    response = pipeline.invoke(sqs_event([sqs_record(cancel_body("HANDLER-1"))]))
    assert response == {"batchItemFailures": []}

    by_floor, by_handler = pipeline.aws.result("FLOOR-1"), pipeline.aws.result("HANDLER-1")
    assert by_floor is not None and by_handler is not None
    assert by_floor["status"] == by_handler["status"] == "CLOSED"
    assert _shape(by_floor) == _shape(by_handler)
