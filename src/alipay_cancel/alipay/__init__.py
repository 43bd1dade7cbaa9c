"""A small Alipay OpenAPI v3 client: cancel, query, close, refund, refund query and the app-auth-token
query, each signed (public-key or certificate mode), optionally AES-encrypted, sent with a bounded
deadline and size, and answered only with a verified, fresh success bound to the request, or an
``AlipayFailure`` (docs/client.md).

Import from here: the names in ``__all__`` are the client's public face. The modules behind it are
its parts and may change. Nothing here imports from the rest of ``alipay_cancel``.
"""

from alipay_cancel.alipay.client import AlipayClient, new_session
from alipay_cancel.alipay.errors import AlipayError, InvalidRequest, InvalidSetting
from alipay_cancel.alipay.operations import OPERATIONS, Operation
from alipay_cancel.alipay.responses import (
    AlipayFailure,
    CancelOutcome,
    CancelSuccess,
    CloseOutcome,
    CloseSuccess,
    FailureKind,
    QueryOutcome,
    QuerySuccess,
    RefundOutcome,
    RefundQueryOutcome,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
    TokenInfo,
    TokenQueryOutcome,
    TokenStatus,
    TradeOutcome,
    TradeStatus,
)
from alipay_cancel.alipay.signing_material import SigningMaterial, load_signing_material
from alipay_cancel.alipay.signing_material_error import SigningMaterialError
from alipay_cancel.alipay.trade_ref import TradeRef

__all__ = [
    "OPERATIONS",
    "AlipayClient",
    "AlipayError",
    "AlipayFailure",
    "CancelOutcome",
    "CancelSuccess",
    "CloseOutcome",
    "CloseSuccess",
    "FailureKind",
    "InvalidRequest",
    "InvalidSetting",
    "Operation",
    "QueryOutcome",
    "QuerySuccess",
    "RefundOutcome",
    "RefundQueryOutcome",
    "RefundQuerySuccess",
    "RefundStatus",
    "RefundSuccess",
    "SigningMaterial",
    "SigningMaterialError",
    "TokenInfo",
    "TokenQueryOutcome",
    "TokenStatus",
    "TradeOutcome",
    "TradeRef",
    "TradeStatus",
    "load_signing_material",
    "new_session",
]
