"""The claim page's docs show the pictures `make screenshots` takes, and the README shows the page."""

from __future__ import annotations

import re

from tests.web._page import ROOT

TAKEN = {"owed", "claimed", "wrong-network", "no-gas"}  # tests/web/screenshots.py


def test_the_docs_and_the_readme_show_the_pictures_the_screenshot_script_takes() -> None:
    script = (ROOT / "tests" / "web" / "screenshots.py").read_text()
    assert set(re.findall(r'shoot\(\w+, out, "([a-z-]+)"\)', script)) == TAKEN
    doc = (ROOT / "docs" / "claim-page.md").read_text()
    shown = set(re.findall(r"\]\(img/claim-page-([a-z-]+)\.png\)", doc))
    assert shown == TAKEN
    for name in TAKEN:
        assert (ROOT / "docs" / "img" / f"claim-page-{name}.png").read_bytes()[
            :8
        ] == b"\x89PNG\r\n\x1a\n"
    readme = (ROOT / "README.md").read_text()
    assert "](docs/img/claim-page-owed.png)" in readme and "](docs/claim-page.md)" in readme
