"""The Alipay apps and ISV merchants every local run sets up (``make demo``, ``make local-stack``,
``make invoke``): the default app, a second app with its own secret and keys, and two ISV merchants
with their (throwaway) app_auth_tokens. Also the trades the local stack offers to try, one per kind
of caller, each with the ``alipay-cancel`` commands that enqueue it and read its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from local.keygen import KeyMaterial, generate_key_material, write_private_files

SECOND_APP_ID = "2021000000000002"
# app_auth_token -> the merchant (Alipay user id) it belongs to, as the emulator knows them.
MERCHANTS = {
    "202601BBdemoMerchantAtoken00000000000001": "2088000000000001",
    "202601BBdemoMerchantBtoken00000000000002": "2088000000000002",
}


def second_app_keys() -> KeyMaterial:
    return generate_key_material(SECOND_APP_ID, aes_bits=None, cert_mode=False)


class Example(NamedTuple):
    """A trade the local stack seeds, and how to cancel it and read its result with the CLI."""

    who: str
    seed: dict[str, Any]  # the emulator's trade (admin API seed spec)
    scope: tuple[str, ...]  # --app-id / --merchant-id options naming the trade's app and merchant
    token_merchant: str | None = None  # ISV: the merchant whose token the message carries

    @property
    def out_trade_no(self) -> str:
        return str(self.seed["out_trade_no"])

    def enqueue_command(self, token_dir: Path) -> str:
        words = ["alipay-cancel", "enqueue", "--out-trade-no", self.out_trade_no, *self.scope]
        if self.token_merchant is not None:
            words += ["--app-auth-token-file", str(token_file(token_dir, self.token_merchant))]
        return " ".join(words)

    def result_command(self) -> str:
        return " ".join(["alipay-cancel", "result", "--out-trade-no", self.out_trade_no, *self.scope])


MERCHANT_A, MERCHANT_B = MERCHANTS.values()
EXAMPLES = (
    Example(
        "the default app, its own trade (unpaid: closed)",
        {"out_trade_no": "DEMO-UNPAID-0001", "state": "unpaid"},
        (),
    ),
    Example(
        "the second app, the same out_trade_no: another trade (unpaid: closed)",
        {"out_trade_no": "DEMO-UNPAID-0001", "state": "unpaid", "app_id": SECOND_APP_ID},
        ("--app-id", SECOND_APP_ID),
    ),
    Example(
        f"ISV merchant {MERCHANT_A} (paid: refunded)",
        {"out_trade_no": "ISV-ORDER-0001", "state": "paid", "merchant_id": MERCHANT_A},
        ("--merchant-id", MERCHANT_A),
        MERCHANT_A,
    ),
    Example(
        f"ISV merchant {MERCHANT_B}, the same out_trade_no (unpaid: closed)",
        {"out_trade_no": "ISV-ORDER-0001", "state": "unpaid", "merchant_id": MERCHANT_B},
        ("--merchant-id", MERCHANT_B),
        MERCHANT_B,
    ),
)


def token_file(token_dir: Path, merchant: str) -> Path:
    return token_dir / f"merchant-{merchant}.token"


def write_token_files(token_dir: Path) -> None:
    """Each merchant's token in a file of its own (0600): commands name the file, never the token."""
    write_private_files(token_dir, {token_file(token_dir, m).name: t + "\n" for t, m in MERCHANTS.items()})
