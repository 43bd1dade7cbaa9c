"""What the routing tests share: one trade's request and body, and the small retry schedule they route
under (a day's horizon, 8 receives), so each file states only what it varies."""

from __future__ import annotations

from alipay_cancel.decisions.retry_policy import RetrySchedule
from alipay_cancel.shared.trade import CancelRequest

REQUEST = CancelRequest(out_trade_no="T-1", trade_no=None, app_auth_token=None)
BODY = '{"out_trade_no": "T-1"}'
DAY = 86_400
SCHEDULE = RetrySchedule(
    horizon_seconds=DAY, base_seconds=30, max_seconds=3600, slow_base_seconds=900, max_receive_count=8
)
AT = "2026-01-01T00:00:00.000Z"
