"""What a person should do, per pipeline situation: the texts that records and dead letters carry.

Alipay's own codes have their remedies beside their rules in ``classification``; these are the
situations the pipeline itself meets (a bad message, a broken secret, the ledger failing, too little
time).
"""

from __future__ import annotations

from enum import StrEnum


class Remedy(StrEnum):
    SIGNING_SETUP = "signing_setup"
    BAD_MESSAGE = "bad_message"
    LEDGER = "ledger"
    UNRECORDED_SUCCESS = "unrecorded_success"
    LOW_TIME = "low_time"
    DUPLICATE_IN_FLIGHT = "duplicate_in_flight"
    GAVE_UP = "gave_up"
    MISCONFIGURED_TOO_LONG = "misconfigured_too_long"
    UNTRIED_TOO_LONG = "untried_too_long"


REMEDIES: dict[Remedy, str] = {
    Remedy.SIGNING_SETUP: (
        "Fix the signing secret (ALIPAY_SECRET_ID): it must be readable by the function and hold the JSON "
        "fields app_id, private_key and alipay_public_key (or the three certificates). Messages are kept "
        "meanwhile, never dead-lettered for this, and flow again by themselves once it is fixed."
    ),
    Remedy.BAD_MESSAGE: (
        "Fix the producer; if the payment still needs cancelling, send a corrected message "
        "(redriving this one unchanged would fail the same way)."
    ),
    Remedy.LEDGER: (
        "Check the results table (RESULTS_TABLE_NAME: throttling, capacity, permissions), then redrive "
        "this dead letter: Alipay is called again."
    ),
    # Settled at Alipay, not in the ledger: the lease's pending call is still there, so a redrive
    # records it as sent with its answer unknown and reads the trade again.
    Remedy.UNRECORDED_SUCCESS: (
        "Alipay settled the trade as this says, whatever its ledger item shows. To make the ledger show "
        "it, redrive this dead letter: the ledger records that the earlier call's answer was lost, and "
        "the trade is queried (a refund of ours confirmed with the refund query) and recorded as Alipay "
        "reports it; no money moves twice."
    ),
    Remedy.LOW_TIME: (
        "Nothing is wrong with the message. If this repeats, the function's Timeout is too short for "
        "ALIPAY_CONNECT_TIMEOUT_SECONDS + ALIPAY_READ_TIMEOUT_SECONDS, or batches wait too long for a "
        "worker (raise MAX_CONCURRENCY or lower the batch size). Redrive this dead letter."
    ),
    Remedy.DUPLICATE_IN_FLIGHT: (
        "Check the trade with the ops result command: if it is settled (CLOSED, REFUNDED, KEPT, NOT_FOUND) "
        "there is nothing to do (a redrive would make no Alipay call); otherwise redrive this dead letter."
    ),
    Remedy.GAVE_UP: "Redrive this dead letter once the cause is fixed.",
    Remedy.MISCONFIGURED_TOO_LONG: (
        "Our configuration stayed broken for longer than the queue keeps messages. Fix it (the reason "
        "says what), then redrive this dead letter."
    ),
    Remedy.UNTRIED_TOO_LONG: (
        "It was never tried: its deliveries found too little invocation time left for longer than the "
        "queue keeps messages."
    ),
}
