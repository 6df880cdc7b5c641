"""Fixtures shared by every test package."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Seeded, bounded hypothesis runs: the same examples on every machine.
settings.register_profile(
    "ame", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ame"))
