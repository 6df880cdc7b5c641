"""Fixtures shared by every test package."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# OpenMP threads that find no work spin before they sleep. The suite runs two xdist
# workers on two cores, so a test on two torch threads spins against the other worker
# for every parallel region: the prefetch tests took 150 s instead of 7. Passive waiting
# changes no result, only who gets the core. Set before torch loads its OpenMP runtime
# (here, first), and inherited by every subprocess a test starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Seeded, bounded hypothesis runs: the same examples on every machine.
settings.register_profile(
    "ame", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ame"))


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run the test on one torch thread, restoring the count after."""
    import torch  # only the tests that ask for it pay for the import

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def www(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static HTTP server on 127.0.0.1 serving ``tmp_path/www``: the folder and its base URI.

    Where an operator's published files are uploaded, in the tests.
    """
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
