"""The docs show the pictures `make screenshots` takes, and the README shows the page and the report."""

from __future__ import annotations

import re

from tests.web._page import ROOT

TAKEN = {"owed", "claimed", "wrong-network", "no-gas"}  # tests/web/screenshots.py
REPORT_TAKEN = {"overview", "flow", "events", "contributors"}  # its shoot_report


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


def test_docs_cli_shows_every_report_picture_the_screenshot_script_takes() -> None:
    script = (ROOT / "tests" / "web" / "screenshots.py").read_text()
    assert set(re.findall(r'\("([a-z]+)", "#', script)) == REPORT_TAKEN
    doc = (ROOT / "docs" / "cli.md").read_text()
    assert set(re.findall(r"\]\(img/report-([a-z-]+)\.png\)", doc)) == REPORT_TAKEN
    for name in REPORT_TAKEN:
        png = (ROOT / "docs" / "img" / f"report-{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](docs/img/report-events.png)" in (ROOT / "README.md").read_text()
