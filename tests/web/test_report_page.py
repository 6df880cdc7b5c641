"""The HTML report in a real browser (Debian's chromium): every row is there without
scripts, and with them the long tables filter and sort in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from ame.report import render_html
from tests.cli.test_report_people import synthetic
from tests.web._scenario import browser

pytestmark = pytest.mark.slow

ROWS = "table.contributors tbody tr"


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_bytes(render_html(synthetic(40, 10)))
    return path


def test_without_scripts_every_contributor_is_in_the_page(report_file: Path) -> None:
    with browser() as chromium:
        context = chromium.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(report_file.as_uri())
        assert page.locator(ROWS).count() == 40
        assert page.locator(f"{ROWS}:visible").count() == 40
        assert page.locator("input.filter").count() == 0  # the script adds the filters
        assert page.get_by_text("contributor 7", exact=True).count() == 1
        context.close()


def test_the_contributor_table_filters_and_sorts_in_place(report_file: Path) -> None:
    with browser() as chromium:
        page = chromium.new_page()
        page.goto(report_file.as_uri())
        section = page.locator("#epoch-1-contributors")
        section.locator("input.filter").fill("contributor 1")  # 1, 10..19
        assert page.locator(f"{ROWS}:visible").count() == 11
        section.locator("input.filter").fill("")
        assert page.locator(f"{ROWS}:visible").count() == 40

        def earned() -> list[int]:
            cells = page.locator(f"{ROWS} td:nth-child(5)")
            return [int(cells.nth(i).get_attribute("data-units") or "") for i in range(40)]

        header = section.locator("th", has_text="earned")
        header.click()
        assert earned() == sorted(earned())
        header.click()
        assert earned() == sorted(earned(), reverse=True)
        name = section.locator("th", has_text="name")
        name.click()
        names = page.locator(f"{ROWS} td:nth-child(2)").all_inner_texts()
        assert names == sorted(names, key=str.lower)
