"""`make web` builds one self-contained file: it works offline, from any static host."""

from __future__ import annotations

import json
import re

import pytest

from tests.web._page import ROOT, build_page

pytestmark = pytest.mark.node


def test_the_built_page_is_one_file_loading_nothing_from_elsewhere() -> None:
    html = (build_page() / "index.html").read_text()
    assert sorted(p.name for p in (ROOT / "web" / "claim" / "dist").iterdir()) == ["index.html"]
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert re.findall(r"<link[^>]*>", html) == ['<link rel="icon" href="data:,">']
    assert "@import" not in html and "/*SCRIPT*/" not in html and "/*STYLE*/" not in html
    assert "default-src 'self'" in html  # and the policy says so to the browser


def test_the_page_takes_the_abi_of_the_committed_artifact() -> None:
    html = (build_page() / "index.html").read_text()
    artifact = json.loads((ROOT / "ame_chain" / "artifacts" / "AmeSettlement.json").read_text())
    for name in ("claim", "claimMany", "commitmentOf", "epochState", "expiryOf", "isClaimed"):
        assert any(i.get("name") == name for i in artifact["abi"])
        assert f'name:"{name}"' in html, name
    assert 'name:"SettlementAlreadyClaimed"' in html  # reverts are decoded by name
