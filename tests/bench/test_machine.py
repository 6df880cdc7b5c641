"""``bench/_machine.py``: the CPU and load every bench figure states."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bench._machine as machine_module
from bench._machine import cpu_model, describe, machine


def test_the_module_exports_what_the_scripts_use() -> None:
    assert machine_module.__all__ == ["cpu_model", "describe", "load_average", "machine"]


def test_cpu_model_is_the_first_model_name_of_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7B13 64-Core"
        " Processor\n\nprocessor\t: 1\nmodel name\t: other\n"
    )
    assert cpu_model(info) == "AMD EPYC 7B13 64-Core Processor"


def test_cpu_model_falls_back_when_cpuinfo_is_missing_or_has_no_model(tmp_path: Path) -> None:
    missing = cpu_model(tmp_path / "nope")
    assert missing and missing != ""
    (tmp_path / "blank").write_text("processor\t: 0\nmodel name\t:\n")
    assert cpu_model(tmp_path / "blank") == missing


def test_describe_states_the_cpu_the_cpu_count_and_the_given_load() -> None:
    assert describe(2.04) == f"{cpu_model()}, {os.cpu_count()} CPUs, load average 2.0"
    host = machine()
    assert host["cpu"] == cpu_model() and host["cpus"] == os.cpu_count()
    assert host["load"] >= 0


def test_describe_reports_zero_load_where_the_system_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unavailable() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert describe().endswith("load average 0.0")
