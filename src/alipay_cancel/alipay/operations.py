"""The OpenAPI v3 operations the client calls: name, HTTP method and path (one table, shared by the
client and its documentation)."""

from __future__ import annotations

from typing import NamedTuple


class Operation(NamedTuple):
    name: str  # Alipay's method name
    method: str  # "POST": JSON body; "GET": query parameters, empty body in the signed string
    path: str


CANCEL = Operation("alipay.trade.cancel", "POST", "/v3/alipay/trade/cancel")
QUERY = Operation("alipay.trade.query", "POST", "/v3/alipay/trade/query")
CLOSE = Operation("alipay.trade.close", "POST", "/v3/alipay/trade/close")
REFUND = Operation("alipay.trade.refund", "POST", "/v3/alipay/trade/refund")
REFUND_QUERY = Operation("alipay.trade.fastpay.refund.query", "POST", "/v3/alipay/trade/fastpay/refund/query")
# The official SDKs' generated v3 clients send the token as the query parameter app_auth_token.
TOKEN_QUERY = Operation("alipay.open.auth.token.app.query", "GET", "/v3/alipay/open/auth/token/app/query")
OPERATIONS = (CANCEL, QUERY, CLOSE, REFUND, REFUND_QUERY, TOKEN_QUERY)
