"""The floor plan holds: every import points down the layers (pyproject's import-linter
contracts), and each layer's folder is where the README's architecture section says."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_point_down_the_layers() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert f"{len(contracts['contracts'])} kept, 0 broken" in done.stdout


def test_the_contracts_cover_every_package_of_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    assert layers == ["ame", "ame_chain", "offchain", "ame_core"]
    shipped = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "deploy", "bench"}
    assert shipped == set(layers)
