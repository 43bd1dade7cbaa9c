"""``make bench``: measure, print the table, write bench/results/latest.json, update the figures block
of docs/performance.md.

Sections: cold start, package size (no servers needed), then batch latency, per-message CPU (with a
profile) and memory against one bench stack (moto server + gateway emulator, child processes), and the
same batch latency and CPU with AWS as an in-process latency model (``bench.latency_model``).
A section that crashes is recorded as an error and the others still run; the exit status is 0
unless something crashed. Targets missed are reported, never turned into a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from local.lambda_runtime.in_process import reload_function

from bench.machine import machine_info
from bench.report import markdown_table, performance_block, summary_rows, update_page, write_json

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "latest.json"
DEFAULT_PAGE = REPO / "docs" / "performance.md"
SECTIONS = ("cold", "package", "latency", "cpu", "model", "memory")


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _function_stdout_silenced() -> Iterator[TextIO]:
    """The function logs (Powertools Logger binds sys.stdout when the module is imported) and prints
    EMF metrics to stdout, as in Lambda. Point it at /dev/null, so writing still costs a syscall as
    it would, but the table stays readable. Yields the real stdout."""
    real = sys.stdout
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            yield real
        finally:
            sys.stdout = real


def _shown(path: Path) -> str:
    """A path as the results file keeps it: relative to the repository, else its last two parts (the
    file is committed: no machine's layout in it)."""
    resolved = path.resolve()
    if resolved.is_relative_to(REPO):
        return str(resolved.relative_to(REPO))
    return str(Path(*resolved.parts[-2:]))


def _section(results: dict[str, Any], name: str, work: Callable[[], Any]) -> bool:
    started = time.perf_counter()
    try:
        results[name] = work()
        ok = True
    except Exception as error:  # noqa: BLE001 - one broken section must not lose the others
        traceback.print_exc(file=sys.stderr)
        results[name] = {"error": f"{type(error).__name__}: {error}"}
        ok = False
    _log(f"{name}: {time.perf_counter() - started:.1f} s")
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes (seconds): keeps the harness from rotting"
    )
    p.add_argument("--latency-ms", type=int, default=100, help="emulator latency L for batch latency")
    p.add_argument("--aws-ms", type=int, default=10, help="the AWS latency model's delay per call")
    p.add_argument("--cpu-messages", type=int, default=300)
    p.add_argument("--profile-messages", type=int, default=100)
    p.add_argument("--memory-messages", type=int, default=1000)
    p.add_argument("--cold-runs", type=int, default=11, help="fresh processes per cold-start target")
    p.add_argument(
        "--cold-baseline-src",
        type=Path,
        default=None,
        help="another release's src/ (e.g. from git worktree add): its cold start, built the same way,"
        " is measured alongside",
    )
    p.add_argument(
        "--cold-python",
        type=Path,
        default=None,
        help="another interpreter (with the package installed) to measure the cold start on too:"
        " make bench gives the Lambda runtime's Python 3.13 when it is installed",
    )
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {','.join(SECTIONS)}")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--page", type=Path, default=DEFAULT_PAGE, help="the page whose figures block is replaced")
    p.add_argument("--no-page", action="store_true", help="do not touch the performance page")
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"--only: unknown sections {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = set(args.only.split(","))
    quick = args.quick
    started = time.perf_counter()
    results: dict[str, Any] = {
        "schema": 1,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "quick": quick,
        "settings": {k: (_shown(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    ok = True
    if "cold" in only:
        from bench.cold_start import measure_cold_start

        _log("cold start: fresh interpreters ...")
        runs = 2 if quick else max(10, args.cold_runs)
        ok &= _section(
            results,
            "cold_start",
            lambda: measure_cold_start(
                runs=runs, breakdown_runs=1 if quick else 5, baseline_src=args.cold_baseline_src
            ),
        )
        if args.cold_python is not None:
            from bench.cold_start import measure_with

            _log(f"cold start on {args.cold_python} ...")
            ok &= _section(
                results,
                "cold_start_other_python",
                lambda: measure_with(args.cold_python, runs=runs, breakdown_runs=1 if quick else 5),
            )
    if "package" in only:
        from bench.package_size import measure_package_size

        _log("package size ...")
        ok &= _section(results, "package_size", measure_package_size)
    if only & {"latency", "cpu", "model", "memory"}:
        ok &= _stack_sections(results, args, only)

    results["duration_s"] = round(time.perf_counter() - started, 1)
    rows = summary_rows(results)
    results["summary"] = rows
    write_json(args.out, results)
    print(markdown_table(rows))
    print(f"\nraw figures: {args.out}")
    if not args.no_page:
        print(update_page(args.page, performance_block(results, rows)))
    _log(f"done in {results['duration_s']} s")
    return 0 if ok else 1


def _stack_sections(results: dict[str, Any], args: argparse.Namespace, only: set[str]) -> bool:
    from bench.bench_stack import BenchStack

    quick = args.quick
    ok = True
    _log("starting moto server and gateway emulator ...")
    with BenchStack() as stack:
        if only & {"latency", "cpu", "model"}:
            with _function_stdout_silenced(), stack.applied_env():
                reload_function()  # read this stack's environment
                try:
                    if "latency" in only:
                        from bench.batch_latency import measure_batch_latency

                        latency = 20 if quick else args.latency_ms
                        _log(f"batch latency at L = {latency} ms ...")
                        sizes = (1, 3) if quick else (1, 10, 100)
                        reps = {1: 1, 3: 1} if quick else None
                        ok &= _section(
                            results,
                            "batch_latency",
                            lambda: measure_batch_latency(
                                stack,
                                latency_ms=latency,
                                sizes=sizes,
                                reps=reps,
                                sequential_reps=reps,
                            ),
                        )
                    if "cpu" in only:
                        from bench.cpu_cost import measure_cpu, profile_breakdown

                        _log("CPU per message at zero latency ...")

                        def cpu() -> dict[str, Any]:
                            messages = 4 if quick else args.cpu_messages
                            batch = 2 if quick else 10
                            return {
                                "measured": measure_cpu(stack, messages=messages, batch=batch),
                                "profile": profile_breakdown(
                                    stack, messages=4 if quick else args.profile_messages, batch=batch
                                ),
                            }

                        ok &= _section(results, "cpu", cpu)
                    if "model" in only:
                        from bench.latency_model import measure_with_latency_model

                        latency = 20 if quick else args.latency_ms
                        _log(f"AWS as a latency model ({args.aws_ms} ms a call), L = {latency} ms ...")
                        ok &= _section(
                            results,
                            "latency_model",
                            lambda: measure_with_latency_model(
                                stack,
                                latency_ms=latency,
                                aws_ms=args.aws_ms,
                                batches=2 if quick else 15,
                                sequential_batches=1 if quick else 3,
                                cpu_messages=4 if quick else args.cpu_messages,
                                batch=2 if quick else 10,
                            ),
                        )
                finally:
                    reload_function()
        if "memory" in only:
            from bench.memory import measure_memory

            messages = 10 if quick else args.memory_messages
            _log(f"memory: one warm process, {messages} messages ...")
            ok &= _section(results, "memory", lambda: measure_memory(stack, messages=messages))
    return ok


if __name__ == "__main__":
    sys.exit(main())
