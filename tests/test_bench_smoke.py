"""Keeps `make bench` from rotting: the harness runs end to end at a tiny size and writes its JSON.

Asserts the shape of what it writes (every section measured, no section crashed, the table rows
complete) and the performance page's block handling; never timings, which belong to the benchmark, not a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.report import END_MARKER, START_MARKER, update_page

REPO = Path(__file__).resolve().parent.parent
QUICK_RUN = [sys.executable, "-m", "bench.run", "--quick", "--no-page"]


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "latest.json"
    done = subprocess.run(
        # This checkout's own src/ stands in for a previous release's (the comparison's plumbing).
        # This interpreter stands in for the Lambda runtime's Python (the plumbing of --cold-python).
        [
            *QUICK_RUN,
            "--out",
            str(out),
            "--cold-baseline-src",
            str(REPO / "src"),
            "--cold-python",
            sys.executable,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_every_section_is_measured_without_error(quick_results: tuple[dict, str]) -> None:
    results, _ = quick_results
    for section in (
        "cold_start",
        "cold_start_other_python",
        "package_size",
        "batch_latency",
        "cpu",
        "latency_model",
        "memory",
    ):
        assert section in results, section
        assert "error" not in results[section], results[section]
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["python"] and machine["cpu_model"]


def test_sections_have_the_figures_the_report_uses(quick_results: tuple[dict, str]) -> None:
    results, _ = quick_results
    cold = results["cold_start"]["targets"]
    assert set(cold) == {"floor", "handler", "handler_traced", "handler_traced_no_byte_code"} | {
        "baseline_release"
    }
    assert results["cold_start"]["build_change"]["ratio"] > 0
    baseline = results["cold_start"]["baseline_release"]
    assert baseline["ms_median"] > 0 and baseline["src"]  # a commit id here (a git checkout)
    labels = [row["metric"] for row in results["summary"]]
    assert any(label.startswith("Cold start, tracing off: this release vs") for label in labels)
    assert cold["handler_traced"]["xray_loaded"] is True  # tracing on really loads the SDK
    assert isinstance(cold["handler"]["xray_loaded"], bool)
    assert cold["handler"]["beyond_floor_by_package_ms"]
    other = results["cold_start_other_python"]
    assert other["python"] == ".".join(map(str, sys.version_info[:3]))
    assert other["targets"]["handler"]["ratio_to_floor"] > 0
    assert any(
        label.startswith(f"Cold start (import + init), tracing off, on Python {other['python']}")
        for label in labels
    )

    latency = results["batch_latency"]
    assert [r["batch_size"] for r in latency["rows"]] == [1, 3]
    for row in latency["rows"]:
        # A benchmark over failing records would measure nothing: the quick run must be clean.
        assert row["handler"]["failed_records"] == 0
        assert row["sequential"]["failed_records"] == 0
        assert row["speedup_vs_sequential"] > 0

    cpu = results["cpu"]
    assert cpu["measured"]["failed_records"] == 0
    assert cpu["measured"]["handler_ms_per_message"]["self"] > 0
    assert cpu["measured"]["floor_ms_per_message"]["self"] > 0
    assert cpu["profile"]["calls"]["HTTP POSTs per message"]["handler"] == 1.0

    assert cpu["measured"]["ratio_to_same_guarantee_floor"] > 0

    model = results["latency_model"]
    assert model["aws_ms_per_call"] == 10
    ten = model["latency"]["batch_10"]
    assert ten["handler"]["failed_records"] == 0 and ten["sequential"]["failed_records"] == 0
    assert model["cpu"]["failed_records"] == 0
    assert model["latency"]["floor_batch_10_ms"] > 0  # the floor's own batch, beside the handler's
    # the structure, as the model counted it: the ledger's claim and final write, like the floor's
    assert model["cpu"]["handler_per_message"]["aws_calls"] == 2.0
    assert model["cpu"]["floor_per_message"]["aws_calls"] == 2.0
    assert labels[0].startswith("AWS model (10 ms a call): batch of 10")

    memory = results["memory"]
    assert memory["failed_records"] == 0 and memory["messages"] == 10
    assert memory["peak_rss_mb"] >= memory["rss_after_import_mb"] > 0

    package = results["package_size"]
    names = {d["name"] for d in package["by_distribution"]}
    assert {"alipay_cancel (src)", "botocore", "cryptography"} <= names
    layer = package["scenarios"]["powertools_layer"]
    assert 0 < layer["zipped_mb"] < package["full"]["zipped_mb"]


def test_table_is_printed_with_a_row_per_summary_entry(quick_results: tuple[dict, str]) -> None:
    results, stdout = quick_results
    rows = results["summary"]
    assert len(rows) >= 8
    for row in rows:
        assert set(row) == {"metric", "value", "baseline", "ratio", "target", "met"}
        assert row["metric"] in stdout


def test_the_figures_block_is_replaced_between_markers_only(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    head, tail = "# Title\n\n## Performance\n", f"{END_MARKER}\n\n## Next\nkeep\n"
    page.write_text(f"{head}{START_MARKER}\nold figures\n{tail}")
    message = update_page(page, "| new | table |")
    text = page.read_text()
    assert "updated" in message
    assert "old figures" not in text and "| new | table |" in text
    assert text.startswith(head + START_MARKER) and text.endswith(tail)


def test_a_page_without_markers_is_left_alone(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text("# Title\n\n## Performance\nhand-written\n")
    message = update_page(page, "| new | table |")
    assert message.startswith("warning")
    assert page.read_text() == "# Title\n\n## Performance\nhand-written\n"
    assert update_page(tmp_path / "missing.md", "x").startswith("warning")
