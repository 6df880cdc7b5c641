"""Fixtures of the browser tests: one Chromium per module, a fresh settlement world per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.web._scenario import ClaimWorld, browser, claim_world


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium under Playwright, shared by a module's tests."""
    with browser() as launched:
        yield launched


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ClaimWorld]:
    """Anvil with the settlement contract and the page served over its published files."""
    with claim_world(tmp_path) as made:
        yield made
