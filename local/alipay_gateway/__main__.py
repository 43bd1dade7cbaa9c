"""CLI: ``python -m local.alipay_gateway --port 8089 --app-public-key FILE --alipay-private-key FILE``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from local.alipay_gateway.faults import FAULT_KINDS
from local.alipay_gateway.gateway_state import AppConfig, GatewayConfig
from local.alipay_gateway.server import GatewayServer

# What a bare ``--fault-rate 0.2`` spreads over: retryable faults that answer quickly.
DEFAULT_FAULT_MIX = ("http_5xx", "service_unavailable", "system_error", "retry_flag")


def _read(path: Path | None) -> str | None:
    return path.read_text() if path else None


def _rates(values: list[str]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for value in values:
        kind, sep, rate = value.partition("=")
        if not sep:
            share = float(value) / len(DEFAULT_FAULT_MIX)
            for mix_kind in DEFAULT_FAULT_MIX:
                rates[mix_kind] = rates.get(mix_kind, 0.0) + share
        elif kind in FAULT_KINDS:
            rates[kind] = float(rate)
        else:
            raise SystemExit(f"--fault-rate: unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
    return rates


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not (sep and name and rest):
            raise SystemExit(f"{flag}: expected NAME=VALUE, got {value!r}")
        pairs.append((name, rest))
    return pairs


def _extra_app(app_id: str, keys_dir: Path) -> AppConfig:
    encrypt = keys_dir / "encrypt_key.txt"
    return AppConfig(
        app_id=app_id,
        app_public_key=(keys_dir / "app_public_key.pem").read_text(),
        alipay_private_key=(keys_dir / "alipay_private_key.pem").read_text(),
        encrypt_key=encrypt.read_text().strip() if encrypt.exists() else None,
    )


def build_config(args: argparse.Namespace) -> GatewayConfig:
    keys: Path | None = args.keys_dir

    def pick(explicit: Path | None, name: str) -> Path | None:
        if explicit is not None:
            return explicit
        if keys is not None and (keys / name).exists():
            return keys / name
        return None

    cert_mode = bool(args.app_cert or args.cert_mode)
    alipay_private = pick(args.alipay_private_key, "alipay_private_key.pem")
    if alipay_private is None:
        raise SystemExit("--alipay-private-key (or --keys-dir) is required")
    encrypt_file = pick(args.encrypt_key, "encrypt_key.txt") if (args.encrypt_key or args.aes) else None
    trades: list[dict[str, Any]] = json.loads(args.trades.read_text()) if args.trades else []
    return GatewayConfig(
        app_id=args.app_id,
        alipay_private_key=alipay_private.read_text(),
        app_public_key=_read(pick(args.app_public_key, "app_public_key.pem")),
        encrypt_key=(_read(encrypt_file) or "").strip() or None,
        app_cert=_read(pick(args.app_cert, "app_cert.pem")) if cert_mode else None,
        alipay_cert=_read(pick(args.alipay_cert, "alipay_cert.pem")) if cert_mode else None,
        alipay_root_cert=_read(pick(args.alipay_root_cert, "alipay_root_cert.pem")) if cert_mode else None,
        max_skew_seconds=args.max_skew_seconds,
        error_shape=args.error_shape,
        latency_ms=args.latency_ms,
        hang_seconds=args.hang_seconds,
        fault_rates=_rates(args.fault_rate),
        seed=args.seed,
        trades=trades,
        apps=[_extra_app(app_id, Path(d)) for app_id, d in _pairs(args.app, "--app")],
        merchants=dict(_pairs(args.merchant, "--merchant")),
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m local.alipay_gateway", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    p.add_argument("--app-id", default="2021000000000001")
    p.add_argument("--keys-dir", type=Path, help="a directory written by `python -m local.keygen --out DIR`")
    p.add_argument("--app-public-key", type=Path, help="app public key file (public-key mode)")
    p.add_argument("--alipay-private-key", type=Path, help="the key the emulator signs responses with")
    p.add_argument("--encrypt-key", type=Path, help="file with the base64 AES key: bodies are encrypted")
    p.add_argument("--aes", action="store_true", help="with --keys-dir: use its encrypt_key.txt")
    p.add_argument("--cert-mode", action="store_true", help="with --keys-dir: use its certificates")
    p.add_argument("--app-cert", type=Path, help="certificate mode: app certificate")
    p.add_argument("--alipay-cert", type=Path, help="certificate mode: Alipay certificate (gives alipay-sn)")
    p.add_argument("--alipay-root-cert", type=Path, help="certificate mode: Alipay root certificate bundle")
    p.add_argument("--max-skew-seconds", type=float, default=300.0)
    p.add_argument("--error-shape", choices=("envelope", "v3"), default="envelope")
    p.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="every answer leaves no sooner than this after its request arrived (its own work inside it)",
    )
    p.add_argument("--hang-seconds", type=float, default=120.0, help="longest a timeout fault holds a call")
    p.add_argument(
        "--fault-rate",
        action="append",
        default=[],
        metavar="[KIND=]RATE",
        help=f"random fault probability; repeatable; bare RATE spreads over {', '.join(DEFAULT_FAULT_MIX)}",
    )
    p.add_argument("--seed", type=int, help="seed for the random faults")
    p.add_argument("--trades", type=Path, help="JSON list of trades to seed (see README)")
    p.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="APP_ID=DIR",
        help="a further app (public-key mode; AES if DIR has encrypt_key.txt), keys from "
        "`local.keygen --app-id APP_ID --out DIR`; repeatable",
    )
    p.add_argument(
        "--merchant",
        action="append",
        default=[],
        metavar="TOKEN=MERCHANT_ID",
        help="an ISV merchant: calls with this app_auth_token act on that merchant's trades; repeatable",
    )
    p.add_argument("--verbose", action="store_true", help="log every request")
    args = p.parse_args(argv)

    server = GatewayServer(build_config(args), args.host, args.port, verbose=args.verbose)
    settings = server.state.settings()
    print(
        f"alipay gateway emulator listening on {server.base_url} "
        f"(app_id={settings['app_id']}, mode={settings['mode']}, aes={'on' if settings['aes'] else 'off'}, "
        f"admin {server.base_url}/__admin)",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
