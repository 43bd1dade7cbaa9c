"""The machine a benchmark ran on: figures mean little without it."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_info() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return {
        "cpu_model": _cpu_model(),
        "cores": usable,
        "memory_mb": _memory_mb(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "arch": platform.machine(),
        "executable": Path(sys.executable).name,
    }


def describe(info: dict[str, Any]) -> str:
    memory = f", {info['memory_mb'] / 1024:.1f} GiB RAM" if info.get("memory_mb") else ""
    return (
        f"{info['cpu_model']}, {info['cores']} cores{memory}, {info['implementation']} {info['python']} "
        f"on {info['platform']} ({info['arch']})"
    )
