"""Outcome events: every final state the ledger writes is published to an EventBridge bus.

A small stream-consuming function (``handler.lambda_handler``) reads the results table's stream
(filtered by its event source mapping to "a final state was just written"), builds one event per
such record (``outcome_event``, pure) and puts it on the bus (``publisher``). The contract it
publishes is in ``contract``; docs/events.md describes it for consumers.
"""
