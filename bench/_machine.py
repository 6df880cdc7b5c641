"""The machine a figure came from: CPU model, CPU count and load, as every bench states it.

A timing or a float-dependent figure is a fact about one machine: its CPU (the kernels
torch and the BLAS pick depend on it) and how busy it was. Bench scripts print
:func:`describe` in their header, put :func:`machine` in their JSON line, and state it in
the blocks they write into the README, so a figure always says where it came from.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["cpu_model", "describe", "load_average", "machine"]

_CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: Path = _CPUINFO) -> str:
    """The CPU's model name, as ``/proc/cpuinfo`` gives it (first processor).

    Args:
        cpuinfo: The file to read; elsewhere than Linux, ``platform.processor()`` is used.

    Returns:
        The model name, e.g. ``Intel(R) Xeon(R) Processor``, or ``unknown CPU``.
    """
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> float:
    """The 1-minute load average (0.0 where the system does not report one)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def machine() -> dict[str, Any]:
    """The machine as a JSON-ready dict: ``cpu``, ``cpus`` and ``load`` (1-minute)."""
    return {"cpu": cpu_model(), "cpus": os.cpu_count(), "load": round(load_average(), 1)}


def describe(load: float | None = None) -> str:
    """One phrase naming the machine, e.g. ``Intel(R) Xeon(R) Processor, 2 CPUs, load 2.1``.

    Args:
        load: The load average to state (e.g. the one measured when the run started);
            default the current one.
    """
    now = load_average() if load is None else load
    return f"{cpu_model()}, {os.cpu_count()} CPUs, load average {now:.1f}"
