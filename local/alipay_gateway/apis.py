"""The OpenAPI v3 APIs the emulator serves: operation name, HTTP method and path."""

from __future__ import annotations

from typing import NamedTuple


class Api(NamedTuple):
    operation: str  # how faults, counts and the admin API name it
    method: str
    path: str


CANCEL = Api("cancel", "POST", "/v3/alipay/trade/cancel")
QUERY = Api("query", "POST", "/v3/alipay/trade/query")
CLOSE = Api("close", "POST", "/v3/alipay/trade/close")
REFUND = Api("refund", "POST", "/v3/alipay/trade/refund")
REFUND_QUERY = Api("refund_query", "POST", "/v3/alipay/trade/fastpay/refund/query")
TOKEN_QUERY = Api("token_query", "GET", "/v3/alipay/open/auth/token/app/query")
APIS = {api.path: api for api in (CANCEL, QUERY, CLOSE, REFUND, REFUND_QUERY, TOKEN_QUERY)}
OPERATIONS = tuple(api.operation for api in APIS.values())
TRADE_OPERATIONS = tuple(op for op in OPERATIONS if op != TOKEN_QUERY.operation)
