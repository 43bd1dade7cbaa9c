"""The one rule for an Alipay endpoint, shared by configuration and the client.

https:// only; plain http:// is allowed for a loopback host alone (the local gateway emulator), so no
setting can send signed requests or trust answers over an unencrypted network path.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from alipay_cancel.alipay.errors import InvalidSetting

EXAMPLE = "https://openapi.alipay.com"


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # Only the plain forms (127.0.0.0/8, ::1): Python 3.13 also calls IPv4-mapped ::ffff:127.x loopback,
    # 3.11 does not; one answer on every version.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return False
    return address.is_loopback


def validate_endpoint(endpoint: str) -> str:
    """The endpoint without a trailing '/'; ``InvalidSetting`` (a ``ValueError``) with a readable reason
    otherwise."""
    try:
        parts = urlsplit(endpoint.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidSetting(f"is not a valid URL; expected e.g. {EXAMPLE}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidSetting(f"must start with https:// and name a host, e.g. {EXAMPLE}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise InvalidSetting(
            "uses plain http:// to a non-loopback host; use https:// "
            "(http:// is allowed only for 127.0.0.1/localhost, e.g. the local emulator)"
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise InvalidSetting(f"must not contain credentials, a query or a fragment; expected e.g. {EXAMPLE}")
    if parts.path.rstrip("/").endswith("gateway.do"):
        raise InvalidSetting(
            f"ends in gateway.do, the old v2 gateway; v3 needs the bare origin, e.g. {EXAMPLE}"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
