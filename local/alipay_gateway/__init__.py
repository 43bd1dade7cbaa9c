"""Local Alipay OpenAPI v3 gateway emulator: cancel, query, close, refund, refund query and the
app-auth-token query (see README.md here)."""

from local.alipay_gateway.admin_client import GatewayAdmin, GatewayAdminError
from local.alipay_gateway.faults import FAULT_KINDS
from local.alipay_gateway.gateway_state import GatewayConfig, GatewayState
from local.alipay_gateway.server import GatewayServer

__all__ = [
    "FAULT_KINDS",
    "GatewayAdmin",
    "GatewayAdminError",
    "GatewayConfig",
    "GatewayServer",
    "GatewayState",
]
