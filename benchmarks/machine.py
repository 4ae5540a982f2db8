"""What every benchmark prints about the machine it ran on, and single-thread pinning."""

from __future__ import annotations

import os
import platform
from pathlib import Path

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def pin_single_thread() -> None:
    """Thread pools size themselves when numpy / mujoco / torch load: call this first."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_rows() -> list[tuple[str, str]]:
    """(key, value) rows: CPU, cores, python, thread settings."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return [
        ("CPU", cpu_model()),
        ("cores", f"{os.cpu_count()} logical, {usable} usable by this process"),
        ("python", platform.python_version()),
        ("threads", ", ".join(f"{v}={os.environ.get(v, '<unset>')}" for v in THREAD_VARS)),
    ]


def machine_line() -> str:
    return ", ".join(f"{k} {v}" for k, v in machine_rows())
