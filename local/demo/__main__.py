"""``python -m local.demo`` (``make demo``): the demo's command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from local.demo.run import DEFAULT_LOG, REPO_ROOT, run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole pipeline locally (no AWS account).")
    parser.add_argument("--messages", type=int, default=40, help="number of messages to enqueue (default 40)")
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.1,
        help="share of Alipay calls that meet a random fault, 0..1 (default 0.1), planned per trade",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        help="fixes the trades, the faults and the sending order (default 7): the same seed, the same run "
        "but for timing",
    )
    parser.add_argument(
        "--deadline", type=float, default=180.0, help="safety deadline in seconds (default 180)"
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        help=f"where the function's logs go (default: {DEFAULT_LOG.relative_to(REPO_ROOT)})",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be between 0 and 1")
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    try:
        result = run_demo(
            messages=args.messages,
            fault_rate=args.fault_rate,
            seed=args.seed,
            deadline_seconds=args.deadline,
            log_path=args.log_file,
        )
    except KeyboardInterrupt:
        print(
            "\ndemo interrupted; the local stack and the function's environments are stopped", file=sys.stderr
        )
        return 130
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
