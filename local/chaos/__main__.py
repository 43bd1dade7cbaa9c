"""``python -m local.chaos`` (``make chaos``): the reliability run's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local.chaos.run import run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Chaos run of the local pipeline (see local/chaos/__init__.py)."
    )
    parser.add_argument("--messages", type=int, default=2000, help="messages to send (default 2000)")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="share of Alipay calls to fault (0.3)")
    parser.add_argument(
        "--aws-fault-rate", type=float, default=0.02, help="share of AWS calls to fail (0.02)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--deadline", type=float, default=1200.0, help="safety deadline for draining, seconds"
    )
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=30,
        help="queue visibility timeout for the run (template: 720)",
    )
    parser.add_argument(
        "--function-timeout", type=int, default=20, help="the function's timeout for the run (template: 120)"
    )
    parser.add_argument(
        "--crash-rate",
        type=float,
        default=0.07,
        help="share of invocations whose environment is killed at a crash point (0.07; 0: none)",
    )
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--log-file", type=Path, help="the function's captured log (default: a temp file)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    if args.messages < 20:
        parser.error("--messages must be at least 20")
    if not 8 <= args.function_timeout <= args.visibility_timeout:
        parser.error("need 8 <= --function-timeout <= --visibility-timeout (AWS requires the latter)")
    if not (0 <= args.fault_rate < 0.9 and 0 <= args.aws_fault_rate <= 0.5 and 0 <= args.crash_rate <= 0.2):
        parser.error(
            "--fault-rate must be in [0, 0.9), --aws-fault-rate in [0, 0.5], --crash-rate in [0, 0.2]"
        )
    result = run_chaos(
        messages=args.messages,
        fault_rate=args.fault_rate,
        aws_fault_rate=args.aws_fault_rate,
        seed=args.seed,
        deadline_seconds=args.deadline,
        visibility_timeout=args.visibility_timeout,
        function_timeout=args.function_timeout,
        crash_rate=args.crash_rate,
        quiet=args.quiet,
        log_path=args.log_file,
    )
    print(result.text)
    if args.json:
        args.json.write_text(json.dumps(result.summary, indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
