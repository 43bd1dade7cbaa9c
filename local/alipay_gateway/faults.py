"""Fault injection: per-trade (or global) "next N calls" faults, optionally for one operation only
(``cancel``, ``query``, ``close``, ``refund``, ``refund_query``, ``token_query``), and seeded random
fault rates (any operation).

"Pre-call" kinds answer before the operation runs (the trade is untouched); "post-call" kinds let it
run (a cancel, close or refund takes effect) and then lose or mangle the answer. The kind names say
"cancel" from when cancel was the only API: ``timeout_after_cancel`` is "applied, never answered"
for every operation. ``retry_flag`` is a cancel answer: it only ever matches cancel calls."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.alipay_gateway.apis import CANCEL, OPERATIONS

# Faults that answer before the operation runs: the trade is untouched, no call is counted.
PRE_CALL_KINDS = frozenset(
    {
        "timeout",  # accept the request, never answer (until the client gives up)
        "http_5xx",  # HTTP 5xx (http_status, default 503), v3 error body
        "rate_limited",  # HTTP 429 rate-limited
        "service_unavailable",  # seed envelope code 20000
        "system_error",  # business error ACQ.SYSTEM_ERROR
        "business_error",  # business error with any `code` (e.g. ACQ.SELLER_BALANCE_NOT_ENOUGH)
        "gateway_error",  # any v3 common error `code` (e.g. app-call-limited), HTTP http_status (400)
        "other_trade",  # a signed success for another trade (trade untouched)
        "signed_body",  # `raw_body` exactly as given, signed, HTTP http_status (200) (trade untouched)
    }
)
# Faults applied after the operation ran: it took effect, the answer is lost or mangled.
POST_CALL_KINDS = frozenset(
    {
        "latency",  # answer normally after latency_ms
        "timeout_after_cancel",  # cancel applied, answer never sent
        "retry_flag",  # success with retry_flag=Y and no action; trade state NOT changed
        "bad_signature",  # alipay-signature present but wrong
        "no_signature",  # alipay-signature/-timestamp/-nonce headers missing
        "garbage_html",  # an HTML page instead of JSON
        "garbage_empty",  # empty body
        "garbage_truncated",  # the real JSON answer cut in half
        "no_alipay_sn",  # certificate mode: signed answer without the alipay-sn header
        "other_alipay_sn",  # signed answer whose alipay-sn names another certificate (`code`)
        "stale",  # signed with an alipay-timestamp `age_seconds` old (default: a 2017 timestamp)
        "drip",  # the body sent one byte every `latency_ms` (default 400)
        "gzip",  # the body gzip-compressed (Content-Encoding: gzip), padded with `size` spaces first
        "oversize",  # the JSON answer padded with spaces to `size` bytes (default 1 MiB), signed
    }
)
FAULT_KINDS = PRE_CALL_KINDS | POST_CALL_KINDS
CANCEL_ONLY_KINDS = frozenset({"retry_flag"})
GLOBAL_KEY = "*"
_NEEDS_PARAMS = frozenset({"business_error", "gateway_error", "signed_body"})


@dataclass
class Fault:
    kind: str
    remaining: int | None = None  # None = every call until cleared
    latency_ms: int = 0
    http_status: int | None = None  # override for http_5xx and garbage_* (defaults 503 / 200)
    code: str | None = None  # business_error code
    message: str | None = None
    signed: bool = True  # garbage_*: sign the garbage (so the client reaches its parser) or not
    size: int | None = None  # oversize: total bytes; gzip: spaces added before compressing
    age_seconds: float | None = None  # stale: how old the alipay-timestamp is (negative: future)
    raw_body: str | None = None  # signed_body: the body, byte for byte (UTF-8)
    operation: str | None = None  # only calls of this operation; None: any

    def matches(self, operation: str) -> bool:
        if self.kind in CANCEL_ONLY_KINDS and operation != CANCEL.operation:
            return False
        return self.operation is None or self.operation == operation

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Fault:
        kind = str(spec.get("kind", ""))
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}")
        times = spec.get("times")
        if times is not None and int(times) < 1:
            raise ValueError("times must be >= 1 (or null for every call)")
        if kind in ("business_error", "gateway_error") and not spec.get("code"):
            raise ValueError(f"{kind} needs a code")
        if kind == "signed_body" and not isinstance(spec.get("raw_body"), str):
            raise ValueError("signed_body needs raw_body (a string)")
        operation = spec.get("operation") or None
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {list(OPERATIONS)} (or absent: any)")
        if operation not in (None, CANCEL.operation) and kind in CANCEL_ONLY_KINDS:
            raise ValueError(f"{kind} is a cancel answer: it cannot target {operation}")
        size = spec.get("size")
        if size is not None and not 0 <= int(size) <= 64 * 1024 * 1024:
            raise ValueError("size is 0 .. 64 MiB")
        return cls(
            kind=kind,
            remaining=int(times) if times is not None else None,
            latency_ms=int(spec.get("latency_ms", 0)),
            http_status=int(spec["http_status"]) if spec.get("http_status") is not None else None,
            code=spec.get("code"),
            message=spec.get("message"),
            signed=bool(spec.get("signed", True)),
            size=int(size) if size is not None else None,
            age_seconds=float(spec["age_seconds"]) if spec.get("age_seconds") is not None else None,
            raw_body=spec.get("raw_body"),
            operation=operation,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "latency_ms": self.latency_ms,
            "http_status": self.http_status,
            "code": self.code,
            "signed": self.signed,
            "operation": self.operation,
        }


class FaultBook:
    """Not thread-safe: the caller holds the gateway lock."""

    def __init__(self, rates: Mapping[str, float] | None = None, seed: int | None = None) -> None:
        self._faults: dict[str, list[Fault]] = {}
        self._rates: dict[str, float] = {}
        self._rng = random.Random(seed)
        self.random_latency_ms = 2000  # how slow a randomly drawn "latency" fault is
        self.set_rates(rates or {}, seed)

    def add(self, key: str | None, fault: Fault) -> None:
        self._faults.setdefault(key or GLOBAL_KEY, []).append(fault)

    def clear(self, key: str | None = None) -> None:
        if key is None:
            self._faults.clear()
        else:
            self._faults.pop(key, None)

    def set_rates(self, rates: Mapping[str, float], seed: int | None) -> None:
        for kind, rate in rates.items():
            if kind not in FAULT_KINDS or kind in _NEEDS_PARAMS:
                raise ValueError(f"rate kind must be one of {sorted(FAULT_KINDS - _NEEDS_PARAMS)}")
            if not 0 <= float(rate) <= 1:
                raise ValueError("a rate is a probability between 0 and 1")
        if sum(float(r) for r in rates.values()) > 1:
            raise ValueError("fault rates add up to more than 1")
        self._rates = {k: float(v) for k, v in rates.items() if float(v) > 0}
        if seed is not None:
            self._rng.seed(seed)

    def take(self, keys: list[str], operation: str = CANCEL.operation) -> Fault | None:
        """The first pending fault for any of ``keys`` (then global ones) that matches ``operation``,
        consuming one of its N calls; else maybe a random one drawn from the rates."""
        for key in [*keys, GLOBAL_KEY]:
            pending = self._faults.get(key) or []
            fault = next((f for f in pending if f.matches(operation)), None)
            if fault is None:
                continue
            if fault.remaining is None:
                return fault
            fault.remaining -= 1
            if fault.remaining <= 0:
                pending.remove(fault)
            return Fault(**{**vars(fault), "remaining": 0})
        if self._rates:
            draw = self._rng.random()
            for kind, rate in sorted(self._rates.items()):
                if draw < rate:
                    drawn = Fault(kind=kind, latency_ms=self.random_latency_ms if kind == "latency" else 0)
                    return drawn if drawn.matches(operation) else None
                draw -= rate
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "faults": {key: [f.to_dict() for f in faults] for key, faults in self._faults.items() if faults},
            "rates": dict(self._rates),
            "random_latency_ms": self.random_latency_ms,
        }
