"""Turn bench results into the summary rows, a Markdown table, and docs/performance.md's figures block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.machine import describe

LAMBDA_MB_PER_VCPU = 1769  # AWS: a function gets one full vCPU at 1,769 MB, proportionally less below
START_MARKER = "<!-- bench:start -->"
END_MARKER = "<!-- bench:end -->"


def _row(
    metric: str, value: str, baseline: str, ratio: float | None, target: str, met: bool | None
) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _model_rows(results)
    lat = results.get("batch_latency") or {}
    if "rows" in lat:
        L = lat["latency_ms"]
        for r in lat["rows"]:
            size, h, s = r["batch_size"], r["handler"], r["sequential"]
            fails = h["failed_records"] + s["failed_records"]
            note = f" ({fails} records failed)" if fails else ""
            rows.append(
                _row(
                    f"moto: batch of {size}, L = {L} ms: handler vs floor L",
                    f"{h['median_ms']:.0f} ms{note}",
                    f"{L} ms",
                    r["handler_over_floor"],
                    "-",
                    None,
                )
            )
            rows.append(
                _row(
                    f"moto: batch of {size}: sequential BatchProcessor / handler",
                    f"{s['median_ms']:.0f} ms sequential",
                    f"{h['median_ms']:.0f} ms handler",
                    r["speedup_vs_sequential"],
                    "-",
                    None,
                )
            )
    cpu = (results.get("cpu") or {}).get("measured") or {}
    if "ratio" in cpu:
        rows.append(
            _row(
                "moto: CPU per message, zero latency: handler vs the one-write loop",
                f"{cpu['handler_ms_per_message']['self']:.2f} ms",
                f"{cpu['floor_ms_per_message']['self']:.2f} ms",
                cpu["ratio"],
                "-",
                None,
            )
        )
        rows.append(
            _row(
                "moto: CPU per message, zero latency: handler vs the same-guarantee floor",
                f"{cpu['handler_ms_per_message']['self']:.2f} ms",
                f"{cpu['same_guarantee_floor_ms_per_message']['self']:.2f} ms",
                cpu["ratio_to_same_guarantee_floor"],
                "-",
                None,
            )
        )
    cold = (results.get("cold_start") or {}).get("targets") or {}
    if cold:
        floor = cold["floor"]
        for name, label, target in (
            ("handler", "Cold start (import + init), tracing off", "<= 1.25"),
            ("handler_traced", "Cold start (import + init), tracing on", "-"),
        ):
            t = cold[name]
            xray = "X-Ray SDK loaded" if t["xray_loaded"] else "no X-Ray SDK"
            rows.append(
                _row(
                    label,
                    f"{t['total_ms_median']:.0f} ms ({t['import_ms_median']:.0f} import, {xray})",
                    f"{floor['total_ms_median']:.0f} ms",
                    t["ratio_to_floor"],
                    target,
                    (t["ratio_to_floor"] <= 1.25) if target != "-" else None,
                )
            )
    other = results.get("cold_start_other_python") or {}
    if other.get("targets"):
        t, floor = other["targets"]["handler"], other["targets"]["floor"]
        rows.append(
            _row(
                f"Cold start (import + init), tracing off, on Python {other['python']}",
                f"{t['total_ms_median']:.0f} ms ({t['import_ms_median']:.0f} import)",
                f"{floor['total_ms_median']:.0f} ms",
                t["ratio_to_floor"],
                "<= 1.25",
                t["ratio_to_floor"] <= 1.25,
            )
        )
    baseline = (results.get("cold_start") or {}).get("baseline_release") or {}
    if baseline and cold:
        ratio = round(cold["handler"]["total_ms_median"] / baseline["ms_median"], 2)
        rows.append(
            _row(
                f"Cold start, tracing off: this release vs {baseline['src']}, same build",
                f"{cold['handler']['total_ms_median']:.0f} ms (x{cold['handler']['ratio_to_floor']:.2f})",
                f"{baseline['ms_median']:.0f} ms (x{baseline['ratio_to_floor']:.2f})",
                ratio,
                "<= 1 (no worse)",
                ratio <= 1.0,  # as shown: medians within 0.5% are the same here
            )
        )
    change = (results.get("cold_start") or {}).get("build_change") or {}
    if change:
        rows.append(
            _row(
                "Cold start, tracing on: built with byte-code (src/Makefile) vs as python_pip built it",
                f"{change['makefile_ms_median']:.0f} ms",
                f"{change['python_pip_ms_median']:.0f} ms",
                change["ratio"],
                "-",
                None,
            )
        )
    mem = results.get("memory") or {}
    if "peak_rss_mb" in mem:
        rows.append(
            _row(
                f"Peak RSS, one warm process, {mem['messages']} messages",
                f"{mem['peak_rss_mb']:.0f} MB",
                f"MemorySize {mem['memory_size_mb']} MB",
                mem["peak_share_of_memory_size"],
                "< 1 (fits)",
                mem["fits"],
            )
        )
    pkg = results.get("package_size") or {}
    if "full" in pkg:
        layer = pkg["scenarios"]["powertools_layer"]
        rows.append(
            _row(
                "Deployment artifact (sam build: src/requirements.txt, src, byte-code)",
                f"{pkg['full']['zipped_mb']:.1f} MB zipped, {pkg['full']['unzipped_mb']:.1f} MB unzipped",
                f"limit {pkg['limits_mb']['zipped']} MB zipped",
                round(pkg["full"]["zipped_mb"] / pkg["limits_mb"]["zipped"], 2),
                "< 1 (fits)",
                pkg["full"]["zipped_mb"] < pkg["limits_mb"]["zipped"],
            )
        )
        rows.append(
            _row(
                "Artifact with Powertools layer + runtime boto3",
                f"{layer['zipped_mb']:.1f} MB zipped, {layer['unzipped_mb']:.1f} MB unzipped",
                f"{pkg['full']['zipped_mb']:.1f} MB zipped",
                round(layer["zipped_mb"] / pkg["full"]["zipped_mb"], 2) if pkg["full"]["zipped_mb"] else None,
                "-",
                None,
            )
        )
    sections = ("latency_model", "batch_latency", "cpu", "cold_start", "cold_start_other_python", "memory")
    for section in (*sections, "package_size"):
        error = (results.get(section) or {}).get("error")
        if error:
            rows.append(_row(f"{section} FAILED", error[:120], "-", None, "-", False))
    return rows


def _model_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, measured with AWS as a latency model (``bench.latency_model``)."""
    model = results.get("latency_model") or {}
    if "latency" not in model:
        return []
    L, aws = model["latency_ms"], model["aws_ms_per_call"]
    lat, cpu, targets = model["latency"], model["cpu"], model["targets"]
    ten = lat["batch_10"]
    h, s = ten["handler"], ten["sequential"]
    fails = h["failed_records"] + s["failed_records"] + cpu["failed_records"]
    note = f" ({fails} records failed)" if fails else ""
    hc, fc = cpu["handler_per_message"], cpu["floor_per_message"]
    return [
        _row(
            f"AWS model ({aws} ms a call): batch of 10, L = {L} ms: handler vs L",
            f"{h['median_ms']:.0f} ms{note}",
            f"{L} ms (floor L + 2 writes: x{lat['L_plus_two_writes_over_L']:.2f};"
            f" one message by hand: x{lat['floor_over_L']:.2f};"
            f" ten at once by hand: x{lat['floor_batch_10_over_L']:.2f})",
            ten["handler_over_L"],
            f"<= {targets['batch10_over_L_max']}",
            ten["handler_over_L"] <= targets["batch10_over_L_max"],
        ),
        _row(
            "AWS model: batch of 10: sequential BatchProcessor / handler",
            f"{s['median_ms']:.0f} ms sequential",
            f"{h['median_ms']:.0f} ms handler",
            ten["speedup_vs_sequential"],
            f">= {targets['batch10_speedup_min']:g} (speed-up)",
            ten["speedup_vs_sequential"] >= targets["batch10_speedup_min"],
        ),
        _row(
            "AWS model: CPU per message: handler vs the same-guarantee floor (sign, POST, verify,"
            " the ledger's claim + final write)",
            f"{hc['ms']:.2f} ms ({hc['aws_calls']:g} AWS calls)",
            f"{fc['ms']:.2f} ms ({fc['aws_calls']:g} AWS calls){_ten_at_once(cpu)}",
            cpu["ratio"],
            f"<= {targets['cpu_ratio_max']}",
            cpu["ratio"] is not None and cpu["ratio"] <= targets["cpu_ratio_max"],
        ),
    ]


def _ten_at_once(cpu: dict[str, Any]) -> str:
    ft = cpu.get("floor_ten_at_once_per_message")
    if not ft:
        return ""
    return f"; ten at once on ten threads: {ft['ms']:.2f} ms, x{cpu['ratio_to_ten_at_once']:.2f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    def met(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "**no**")

    lines = ["| measure | value | baseline | ratio | target | met |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['metric']} | {r['value']} | {r['baseline']} | {ratio} | {r['target']} | {met(r['met'])} |"
        )
    return "\n".join(lines)


def findings(results: dict[str, Any]) -> list[str]:
    """What costs more than the floor, in the measured numbers (empty pieces are left out)."""
    out: list[str] = []
    model = results.get("latency_model") or {}
    if "latency" in model:
        ten, cpu_m = model["latency"]["batch_10"], model["cpu"]
        hc, fc = cpu_m["handler_per_message"], cpu_m["floor_per_message"]
        out.append(
            f"AWS as a latency model (every DynamoDB, SQS and Secrets Manager call answers after"
            f" {model['aws_ms_per_call']} ms, from an in-process model that honours the conditional"
            f" writes; bench/aws_model.py): a batch of 10 takes"
            f" {ten['handler']['median_ms'] - model['latency_ms']:.0f} ms beyond L, the structure's own"
            f" cost (the claim and the final write, {2 * model['aws_ms_per_call']} ms, plus the function's"
            f" CPU on the batch's threads); ten at once through the hand-written floor take"
            f" {model['latency']['floor_batch_10_ms'] - model['latency_ms']:.0f} ms beyond L."
            f" CPU per message {hc['ms']:.2f} ms against the hand-written"
            f" floor's {fc['ms']:.2f} ms (one message after another; ten at once on ten threads:"
            f" {cpu_m.get('floor_ten_at_once_per_message', fc)['ms']:.2f} ms),"
            f" both making {hc['aws_calls']:g} and {fc['aws_calls']:g} AWS calls"
            f" a message; the model's own CPU ({hc['model_ms']:.3f} ms a message) is left out of both."
        )
    cpu = (results.get("cpu") or {}).get("measured") or {}
    prof = (results.get("cpu") or {}).get("profile") or {}
    if "ratio" in cpu:
        calls = (prof.get("calls") or {}).get("AWS API calls per message", {})
        one = cpu.get("one_dynamodb_call_ms")
        h_calls, f_calls = calls.get("handler"), calls.get("floor")
        text = (
            f"CPU (moto): the handler spends {cpu['handler_excess_ms']:.2f} ms per message more than the"
            " one-write loop."
        )
        if h_calls is not None and f_calls is not None and one:
            extra = h_calls - f_calls
            text += (
                f" It makes {h_calls:g} AWS calls per message against that loop's {f_calls:g} (the ledger's"
                f" claim and final write); one DynamoDB call costs {one:.2f} ms of CPU here, so the extra"
                f" calls account for about {extra * one:.2f} ms."
            )
        hp = prof.get("handler_ms_per_message") or {}
        total = hp.get("handler total")
        if total:
            small = sum(
                hp.get(k, 0.0)
                for k in (
                    "logging (records emitted)",
                    "logging keys (append/clear)",
                    "metrics (add + flush)",
                    "message parsing",
                    "classification",
                    "secret cache + client check (begin_invocation)",
                )
            )
            text += (
                f" Logging, metrics, parsing, classification and the secret/client check together are"
                f" {100 * small / total:.1f}% of the handler's profiled CPU; clients are built once per"
                f" container."
            )
        out.append(text)
    lat = results.get("batch_latency") or {}
    ten = next((r for r in lat.get("rows", []) if r["batch_size"] == 10), None)
    if ten and "handler_ms_per_message" in cpu:
        moto = cpu["handler_ms_per_message"].get("moto", 0.0)
        out.append(
            f"Latency: a batch of 10 takes {ten['handler']['median_ms'] - lat['latency_ms']:.0f} ms beyond L."
            f" The local moto server burns {moto:.1f} ms of CPU per handler message (in one process, so"
            f" ~{moto * 10:.0f} ms per batch of 10, serialised) next to the handler's own"
            f" {cpu['handler_ms_per_message']['self']:.1f} ms; on this machine the batch is bound by the"
            f" local AWS emulator's CPU, not by waiting on Alipay."
        )
    mem = results.get("memory") or {}
    if "handler_ms_per_message" in cpu and mem.get("memory_size_mb"):
        share = mem["memory_size_mb"] / LAMBDA_MB_PER_VCPU
        per_message = cpu["handler_ms_per_message"]["self"] / min(1.0, share)
        out.append(
            f"On Lambda, {mem['memory_size_mb']} MB buys about {share:.2f} vCPU (one vCPU at"
            f" {LAMBDA_MB_PER_VCPU} MB), so the handler's {cpu['handler_ms_per_message']['self']:.1f} ms of"
            f" CPU per message becomes about {per_message:.0f} ms, {per_message * 10:.0f} ms per batch of 10"
            f" (estimate from the measured CPU, not measured on Lambda)."
        )
    cold = (results.get("cold_start") or {}).get("targets") or {}
    if cold:
        beyond = cold["handler"].get("beyond_floor_by_package_ms") or []
        top = ", ".join(f"{b['name']} {b['ms']:.0f} ms" for b in beyond[:5])
        traced, plain = cold["handler_traced"], cold["handler"]
        text = (
            f"Cold start: beyond the floor the handler imports (self time, -X importtime): {top}."
            f" Init (first-invocation set-up) takes {plain['init_ms_median']:.0f} ms against the floor's"
            f" {cold['floor']['init_ms_median']:.0f} ms."
        )
        clients = (results.get("cold_start") or {}).get("boto3_client_creation_ms") or {}
        if clients:
            text += (
                " boto3 clients in a fresh process: "
                + ", ".join(f"{name} {ms:.0f} ms" for name, ms in clients.items())
                + " (the first pays for loading the endpoint rules)."
            )
        text += (
            f" Tracing on: {traced['total_ms_median']:.0f} ms, X-Ray SDK"
            f" {'loaded' if traced['xray_loaded'] else 'not loaded'}; tracing off: X-Ray SDK"
            f" {'loaded' if plain['xray_loaded'] else 'not loaded'}. Ratio of the fastest runs (least"
            f" disturbed by other load): {plain['ratio_of_minima']:.2f}."
        )
        out.append(text)
    pkg = results.get("package_size") or {}
    if "by_distribution" in pkg:
        top = ", ".join(
            f"{d['name']} {d['zipped_mb']:.1f} MB"
            for d in sorted(pkg["by_distribution"], key=lambda d: -d["zipped_mb"])[:3]
        )
        sc = pkg["scenarios"]
        code = pkg.get("byte_code") or {}
        out.append(
            f"Package: zipped size is dominated by {top}; byte-code is"
            f" {code.get('zipped_mb', 0):.1f} MB of it ({code.get('unzipped_mb', 0):.1f} MB unzipped)."
            f" boto3 from the runtime leaves"
            f" {sc['runtime_sdk']['zipped_mb']:.1f} MB; the Powertools layer too leaves"
            f" {sc['powertools_layer']['zipped_mb']:.1f} MB, and"
            f" {sc['powertools_layer_with_its_cryptography']['zipped_mb']:.1f} MB"
            f" if cryptography also came from the layer ({pkg['layer_cryptography_note']})."
        )
    return out


def performance_block(results: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    machine = results["machine"]
    lines = [
        f"Measured by `make bench` on {results['generated_at'][:10]}: {describe(machine)}.",
        "Each ratio compares with a baseline measured in the same process and run. Benchmarks never fail CI.",
        "",
        markdown_table(rows),
        "",
    ]
    for finding in findings(results):
        lines.append(f"- {finding}")
    lines.append("")
    lines.append("Raw figures: `bench/results/latest.json`.")
    return "\n".join(lines)


def update_page(page: Path, block: str) -> str:
    """Replace what lies between the markers; anything else on the page is left as it is."""
    if not page.exists():
        return f"warning: {page} does not exist; its figures were not updated"
    text = page.read_text()
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        return f"warning: {page} has no {START_MARKER} ... {END_MARKER} markers; its figures were not updated"
    new = text[: start + len(START_MARKER)] + "\n" + block.rstrip() + "\n" + text[end:]
    if new != text:
        page.write_text(new)
    return f"updated the figures of {page}"


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
