"""``make local-stack`` (``python -m local.stack``): the whole pipeline on loopback until stopped.

Sets up what the demo does (two Alipay apps, two ISV merchants whose token files it writes), seeds the
events' trades and the examples, prints a banner with a copy-paste ``alipay-cancel`` command for each
kind of caller, then runs the event source over the function's environments and prints one line per
message as it ends (from the function's log; the whole log goes to a file, its "CloudWatch"). Outcome
events and scheduled cancels run beside it (``local.stack.events``): one line per event arriving and
per schedule fired, and the banner says how to schedule a cancel and read the order system's queue. A
port that is taken is said in one line naming the option to change; Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from alipay_cancel_ops.commands.schedule import duration
from local.aws.template_settings import REPO_ROOT
from local.lambda_runtime.function_log import terminal_sink
from local.lambda_runtime.lambda_environment import FileSink
from local.seed_trades import EVENTS_DIR, seed
from local.showcase import EXAMPLES, MERCHANTS, second_app_keys, write_token_files
from local.stack.events import StackEvents
from local.stack.local_stack import DEFAULT_GATEWAY_PORT, DEFAULT_MOTO_PORT, LOOPBACK, LocalStack


def banner(stack: LocalStack, token_dir: Path, more: Sequence[str] = ()) -> str:
    res = stack.resources
    example_event = sorted(p.name for p in EVENTS_DIR.glob("*.json"))[:1] or ["<event>.json"]
    apps = ", ".join([stack.key_material.app_id + " (default)", *(app.app_id for app in stack.extra_apps)])
    lines = [
        "Local stack is up (throwaway keys; nothing here can reach AWS or Alipay).",
        f"  moto server (AWS APIs): {stack.moto_url}   pid {stack.moto.pid}, log {stack.moto.log_path}",
        f"  Alipay gateway emulator: {stack.gateway_url}   admin API {stack.gateway_url}/__admin/health",
        f"  queue:            {res.queue_url}",
        f"  dead-letter queue: {res.dlq_url}",
        f"  ledger table:     {res.results_table}",
        f"  secrets:          {res.secret_id} and one per further app",
        f"  Alipay apps:      {apps}",
        f"  ISV merchants:    {', '.join(stack.merchants.values())} (their tokens: {token_dir})",
        "",
        "The function runs here as Lambda runs it: the event source polls the queue and invokes up to",
        f"MaximumConcurrency ({stack.settings.event_source.maximum_concurrency}) execution environments "
        "(awslambdaric processes); each message prints one line here as it ends. In another terminal:",
        *_cli_on_path(),
        f"  export AWS_ENDPOINT_URL={stack.moto_url} AWS_REGION=us-east-1 "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        f"  export CANCEL_QUEUE_URL={res.queue_url} DEAD_LETTER_QUEUE_URL={res.dlq_url} "
        f"RESULTS_TABLE_NAME={res.results_table}",
    ]
    for example in EXAMPLES:
        lines += [
            f"  # {example.who}",
            f"  {example.enqueue_command(token_dir)}",
            f"  {example.result_command()}",
        ]
    lines += [
        "  alipay-cancel dead-letters",
        "",
        "Or invoke it in Docker against the same stack (SAM CLI; the emulator knows the events'",
        "trades; the template builds arm64, so on an x86 host use an arm64 emulator or `make invoke`):",
        "  make build",
        f"  .tools/venv/bin/sam local invoke CancelFunction -e events/{example_event[0]} "
        "--env-vars local/sam-local-env.json --docker-network host",
        "",
        *more,
        *([""] if more else []),
        "Press Ctrl-C to stop (the environments, the moto server and the emulator stop with it).",
    ]
    return "\n".join(lines)


def _cli_on_path() -> list[str]:
    """The line that puts this environment's ``alipay-cancel`` on PATH (a fresh clone has it only in
    .venv; ``pip install .`` puts it anywhere), when this Python is a venv's."""
    activate = Path(sys.executable).parent / "activate"
    return [f"  source {activate}    # the alipay-cancel command"] if activate.is_file() else []


def port_problem(port: int, option: str) -> str | None:
    """One line saying a port is taken and which option picks another, or None when it is free."""
    if port == 0:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            return (
                f"{LOOPBACK}:{port} is in use ({error.strerror}; another local stack?): choose another port, "
                f'e.g. make local-stack STACK_ARGS="{option} {port + 1}"'
            )
    return None


def run_dir(moto_port: int) -> Path:
    """Where a local stack keeps its function log and the merchants' token files (git-ignored)."""
    return REPO_ROOT / ".local-stack" / f"stack-{moto_port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.stack",
        description="Run the whole pipeline locally until stopped: queue -> event source -> function.",
    )
    parser.add_argument(
        "--moto-port",
        type=int,
        default=DEFAULT_MOTO_PORT,
        help=f"the AWS stand-in's port (default {DEFAULT_MOTO_PORT})",
    )
    parser.add_argument(
        "--gateway-port",
        type=int,
        default=DEFAULT_GATEWAY_PORT,
        help=f"the Alipay emulator's port (default {DEFAULT_GATEWAY_PORT})",
    )
    parser.add_argument("--aes", action="store_true", help="AES-encrypt bodies (secret gets encrypt_key)")
    parser.add_argument("--cert-mode", action="store_true", help="certificate mode instead of public keys")
    parser.add_argument("--keys-out", type=Path, help="also write the throwaway key files here")
    parser.add_argument(
        "--scheduler-clock-ahead",
        type=duration,
        default=dt.timedelta(0),
        metavar="DURATION",
        help="run the local scheduler's clock this far ahead (e.g. 15m: a cancel scheduled 16 minutes out "
        "fires in one); default: the real clock",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where the function's log (its CloudWatch) and the merchants' token files go "
        "(default: .local-stack/stack-<moto port>, git-ignored)",
    )
    args = parser.parse_args(argv)
    for port, option in ((args.moto_port, "--moto-port"), (args.gateway_port, "--gateway-port")):
        if (problem := port_problem(port, option)) is not None:
            print(problem, file=sys.stderr)
            return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)
    folder = args.state_dir or run_dir(args.moto_port)
    token_dir = folder / "tokens"
    write_token_files(token_dir)
    log_path = folder / "function.log"
    stack = LocalStack(
        moto_port=args.moto_port,
        gateway_port=args.gateway_port,
        aes=args.aes,
        cert_mode=args.cert_mode,
        extra_apps=[second_app_keys()],
        merchants=MERCHANTS,
    )
    try:
        stack.start()
    except (OSError, RuntimeError) as error:  # a port taken between the check and the start
        print(f"the local stack did not start: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            if args.keys_out:
                from local.keygen import write_key_files

                write_key_files(stack.key_material, args.keys_out)
            seeded = seed(stack.gateway_url)
            events = StackEvents(stack, sys.stdout, clock_ahead=args.scheduler_clock_ahead)
            print(banner(stack, token_dir, events.banner()), flush=True)
            print(f"Function log: {log_path}", flush=True)
            print(
                f"(seeded {len(seeded) + 1} trades: those of events/*.json and the examples above)",
                flush=True,
            )
            with events, stack.environments(log_sink=terminal_sink(FileSink(log), sys.stdout)) as pool:
                stats = stack.driver(pool).run_until_stopped(stop)
    finally:
        stack.stop()
    print(
        f"\nstopped ({stats.invocations} invocations, {stats.records_deleted} records acknowledged, "
        f"{stats.cold_starts} cold starts; {events.totals()}).",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
