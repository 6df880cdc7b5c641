"""The built claim page (``make web``), for the tests that run its code."""

from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "web" / "claim"


def build_page() -> Path:
    """``make web``: installs the page's node_modules and builds ``dist`` (a no-op when up to date)."""
    # pytest-xdist workers build at once: one `npm ci` at a time in the page's folder.
    with (PAGE / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["make", "-s", "web"], cwd=ROOT, check=True, timeout=600)
    return PAGE / "dist"
