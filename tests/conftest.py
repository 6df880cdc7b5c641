"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

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
