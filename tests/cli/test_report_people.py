"""The report for people (issue 14): names, units, dates, 1,000+ contributors, stage colours,
per-event and how-to-claim sections, and every string from a document escaped.

The large and hostile reports are fed to :func:`ame.report.render_html` directly from
the report's analysis layer (a mapped synthetic epoch); the names, units and dates are
checked end to end on the in-process chain with an ERC-20 pool.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st
from matplotlib import image

from ame.report import (
    KIND_STAGES,
    STAGE_COLORS,
    EpochDates,
    EpochReport,
    Report,
    contributor_lines,
    decisions,
    event_summaries,
    render_html,
    stage_color,
    value_flow,
)
from ame.workflow import AuditReport, TokenUnits, format_date
from ame_chain.chains import InProcessChain
from ame_chain.contracts import load_artifact
from ame_chain.leaves import EpochHeader
from ame_chain.tx import Transactor
from offchain.mapping import map_epoch, parse_registry, parse_values
from tests.chain.conftest import deploy_test_contract
from tests.cli.conftest import Ame
from tests.cli.test_cli_workflow import deploy
from tests.cli.test_report import Page
from tests.mapping._builders import address, asset_doc, event_doc, registry_doc, values_doc
from tests.workflow._helpers import CONFIG, ETHER, OPERATOR, write_inputs

KINDS = ("dataset", "base_model", "adapter", "prompt")
TOKEN = address(0xC0FFEE)
NOW = 1_780_000_000  # 2026-05-28


def synthetic(
    contributors: int,
    events: int,
    *,
    kinds: tuple[str, ...] = KINDS,
    per_event: int = 8,
    units: TokenUnits | None = None,
) -> Report:
    """A mapped epoch of ``contributors`` assets (one owner each, named) and ``events`` events."""
    registry = parse_registry(
        registry_doc(
            [
                asset_doc(f"a{i}", kind=kinds[i % len(kinds)], owners=[(address(i + 1), "1")])
                for i in range(contributors)
            ]
        )
    )
    step = max(1, contributors // events)
    values = parse_values(
        values_doc(
            [
                event_doc(
                    f"e{k}",
                    1_000 * 10**6 + k,
                    {f"a{(k * step + t) % contributors}": t + 1 for t in range(per_event)},
                )
                for k in range(events)
            ]
        )
    )
    manifest = map_epoch(values, registry)
    kind_of = {asset.id: asset.kind for asset in registry.assets}
    names = {address(i + 1): [f"contributor {i}"] for i in range(contributors)}
    header = EpochHeader(
        epoch=1,
        root="0x" + "11" * 32,
        token=TOKEN,
        pool=manifest.totals.pool,
        leaf_count=len(manifest.leaves),
        challenge_end=NOW - 3_600,
        operator=address(0xFFFF),
        bond=ETHER,
        manifest_hash="0x" + "22" * 32,
    )
    uri = "https://docs.example/epoch-1/manifest.json"
    section = EpochReport(
        epoch=1,
        status="Finalized",
        header=header,
        manifest_uri=uri,
        audit=AuditReport(1, "Finalized", uri, header, checks=["root"]),
        units=units or TokenUnits(TOKEN, "USDC", 6),
        dates=EpochDates(NOW - 7_200, NOW - 3_600, NOW - 1_800, NOW + 30 * 86_400),
        manifest=manifest,
        flow=value_flow(manifest, kind_of, staged=True),
        contributors=contributor_lines(
            manifest, kind_of, [leaf.index for leaf in manifest.leaves[::3]], names
        ),
        decisions=decisions(manifest),
        events=event_summaries(manifest, kind_of),
        proofs_uri="https://docs.example/epoch-1/proofs.json",
        stage_of={a: KIND_STAGES[k] for a, k in kind_of.items()},
    )
    return Report(
        31337, address(0x5E77), 100, (section,), time=NOW, claim_page="https://claim.example/"
    )


def png_pixels(png: bytes) -> set[str]:
    """The colours of a PNG's pixels, as ``#rrggbb``."""
    pixels = image.imread(io.BytesIO(png), format="png")
    rgb = (pixels[..., :3] * 255).round().astype(int).reshape(-1, 3)
    return {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in {tuple(p) for p in rgb.tolist()}}


def png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


@pytest.fixture(scope="module")
def large() -> Iterator[tuple[Report, str]]:
    report = synthetic(1_200, 300)
    yield report, render_html(report).decode("utf-8")


def test_a_report_of_1200_contributors_stays_bounded_and_lists_every_one(
    large: tuple[Report, str],
) -> None:
    text = large[1]
    # Measured 1.05 MB: some 0.6 kB per contributor or event row, and five bounded figures.
    assert len(text.encode()) < 2_000_000
    page = Page(text)
    people = page.table("contributors", "epoch-1-contributors")
    assert len(people.rows) == 1 + 1_200  # the full table: every contributor, no "more" row
    accounts = [cell for cell, _ in people.column("contributor")]
    assert sorted(accounts) == sorted(address(i + 1) for i in range(1_200))
    names = dict(zip(accounts, [cell for cell, _ in people.column("name")], strict=True))
    assert names[address(8)] == "contributor 7"
    assert "data-sortable" in text.split('id="epoch-1-contributors"')[1].split("</section>")[0]
    assert len(page.table("events", "epoch-1-events").rows) == 1 + 300
    # The charts stay the size they are for a handful of contributors: top-N plus others.
    small = Page(render_html(synthetic(40, 10)).decode("utf-8"))
    sizes = {css: png_size(png) for _, css, png in page.images}
    assert sizes["shares"] == {css: png_size(png) for _, css, png in small.images}["shares"]
    assert all(width <= 1_100 and height <= 1_100 for width, height in sizes.values())


def test_amounts_are_in_the_tokens_units_with_the_exact_base_units_beside(
    large: tuple[Report, str],
) -> None:
    report, text = large
    page = Page(text)
    people = page.table("contributors", "epoch-1-contributors")
    for (shown, attrs), line in zip(
        people.column("amount paid"), report.epochs[0].contributors, strict=True
    ):
        assert int(attrs["data-units"]) == line.paid
        assert shown.endswith(" USDC")
        exact = attrs.get("title", shown)
        assert exact == TokenUnits(TOKEN, "USDC", 6).format(line.paid)
    header = page.table("header", "epoch-1")
    rows = {row[0][0]: row[1][0] for row in header.rows}
    assert rows["token"] == f"USDC (6 decimals) at {TOKEN}"


def test_the_epochs_dates_are_shown_in_utc_with_the_time_left(large: tuple[Report, str]) -> None:
    page = Page(large[1])
    rows = {row[0][0]: row[1][0] for row in page.table("header", "epoch-1").rows}
    assert rows["proposed"] == f"{format_date(NOW - 7_200)} (2h ago)"
    assert rows["challenge window ends"] == f"{format_date(NOW - 3_600)} (1h ago)"
    assert rows["finalised"] == f"{format_date(NOW - 1_800)} (30m ago)"
    assert rows["claim before"] == f"{format_date(NOW + 30 * 86_400)} (in 30d)"
    assert rows["proofs file"] == "https://docs.example/epoch-1/proofs.json"


def test_every_event_has_its_revenue_stage_split_and_largest_recipients(
    large: tuple[Report, str],
) -> None:
    report, text = large
    events = Page(text).table("events", "epoch-1-events")
    summaries = report.epochs[0].events
    assert [cell for cell, _ in events.column("event")] == [e.id for e in summaries]
    assert events.units("revenue") == [e.revenue for e in summaries]
    first = summaries[0]
    assert first.stage_source == "paid" and len(first.top) == 3
    assert sum(share for _, share in first.stages) == 1
    split = events.column("stage split")[0][0]
    for stage, _ in first.stages:
        assert stage in split
    assert first.top[0][0] in events.column("largest recipients")[0][0]


def test_how_to_claim_links_the_page_the_commands_and_the_proofs_file(
    large: tuple[Report, str],
) -> None:
    section = large[1].split('id="how-to-claim"')[1].split("</section>")[0]
    assert '<a href="https://claim.example/">' in section
    for command in ("ame owed ADDRESS", "ame proof ADDRESS --epoch N --json", "ame claim"):
        assert command in section
    assert '<a href="https://docs.example/epoch-1/proofs.json">' in section


@pytest.mark.parametrize("stage", sorted(STAGE_COLORS))
def test_a_reference_stage_has_its_own_fixed_colour(stage: str) -> None:
    assert stage_color(stage) == STAGE_COLORS[stage]
    assert len(set(STAGE_COLORS.values())) == len(STAGE_COLORS)


@seed(14)
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_any_stage_keeps_one_colour_whatever_else_is_drawn(stage: str, other: str) -> None:
    color = stage_color(stage)
    assert color == stage_color(stage) and color.startswith("#") and len(color) == 7
    if stage in STAGE_COLORS:
        assert color == STAGE_COLORS[stage]


def _swatches(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for chunk in text.split('<span class="swatch" style="background:')[1:]:
        color, _, rest = chunk.partition('"></span>')
        stage = rest.split("<", 1)[0].split(" ", 1)[0]
        found.setdefault(stage, set()).add(color)
    return found


def test_stage_colours_are_the_same_across_charts_and_reports(large: tuple[Report, str]) -> None:
    # Another epoch with other stages, in another order and other sizes.
    other = synthetic(30, 10, kinds=("prompt", "adapter", "dataset"))
    texts = [large[1], render_html(other).decode("utf-8")]
    for text in texts:
        swatches = _swatches(text)
        assert swatches and all(colors == {stage_color(s)} for s, colors in swatches.items())
    for report in (large[0], other):
        page = Page(render_html(report).decode("utf-8"))
        stages = {s for e in report.epochs[0].events for s, _ in e.stages}
        for _, css, png in page.images:
            if css in ("flow", "events"):  # both draw every stage in its colour
                assert {stage_color(s) for s in stages} <= png_pixels(png), css


def _structure(text: str) -> tuple[list[tuple[str, tuple[str, ...]]], str]:
    """The tags (with their attribute names) and the text of a page."""

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[tuple[str, tuple[str, ...]]] = []
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append((tag, tuple(sorted(k for k, _ in attrs))))
            self.text.extend(v or "" for _, v in attrs)

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    parser = Parser()
    parser.feed(text)
    parser.close()
    return parser.tags, "\x00".join(parser.text)


def hostile(report: Report, s: str) -> Report:
    """``report`` with ``s`` in every string that comes from another party."""
    section = report.epochs[0]
    changed = dataclasses.replace(
        section,
        manifest_uri=s,
        proofs_uri=f"https://p.example/{s}",
        contributors=[
            dataclasses.replace(c, names=(s, s + "2"), role=s) for c in section.contributors
        ],
        events=[
            dataclasses.replace(e, id=s, top=((s, 1),), method=s, notes=(s,))
            for e in section.events
        ],
        decisions=[dataclasses.replace(d, event=s, asset=s) for d in section.decisions],
        notes=[s],
    )
    return dataclasses.replace(report, epochs=(changed,), claim_page=f"https://c.example/{s}")


@pytest.fixture(scope="module")
def base() -> tuple[Report, list[tuple[str, tuple[str, ...]]]]:
    report = synthetic(6, 2)
    return report, _structure(render_html(hostile(report, "x")).decode("utf-8"))[0]


@seed(14)
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(s=st.text(min_size=1, max_size=30))
@example(s='<script>alert(1)</script>"&amp;')
@example(s='"><img src=x onerror=alert(1)>')
@example(s="</td></tr></table><!--")
def test_no_string_from_a_document_can_change_the_pages_markup(
    base: tuple[Report, list[tuple[str, tuple[str, ...]]]], s: str
) -> None:
    report, tags = base
    text = render_html(hostile(report, s)).decode("utf-8")
    found, content = _structure(text)
    assert found == tags  # not one tag or attribute more or less than with a plain "x"
    assert s in content  # and the string reads back as the text it was
    for raw in ("<", '"', "&"):
        if raw in s:
            assert s not in text  # never verbatim in the markup


def test_a_lone_surrogate_in_a_name_is_replaced_not_a_crash(
    base: tuple[Report, list[tuple[str, tuple[str, ...]]]],
) -> None:
    report, tags = base
    text = render_html(hostile(report, "a\ud800b")).decode("utf-8")
    assert _structure(text)[0] == tags and "a?b" in text


def test_the_report_names_contributors_and_shows_the_tokens_units_and_the_dates_on_chain(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    settlement = deploy(ame, chain)
    operator = chain.dev_accounts[OPERATOR]
    token = deploy_test_contract(chain, chain.dev_accounts[0], "MockERC20", "Pool", "POOL")
    mock = chain.w3.eth.contract(address=token, abi=load_artifact("MockERC20").abi)  # type: ignore[call-overload]
    Transactor(chain.w3, operator).send(mock.functions.mint(operator.address, 5 * ETHER))
    values, registry, _ = write_inputs(tmp_path / "in", chain, 1)
    document = json.loads(registry.read_text())
    owner = document["assets"][1]["owners"][0]
    owner["name"] = '<b>"Bob" & co</b>'  # a name from the registry: shown, escaped
    registry.write_text(json.dumps(document))
    settled = ame(
        "settle", "--dev-account", OPERATOR, "--values", values, "--registry", registry,
        "--token", token, "--json",
    )  # fmt: skip
    assert settled.exit_code == 0, settled.output
    assert ame("chain", "advance", CONFIG.challenge_window).exit_code == 0
    assert ame("finalize", 1, "--dev-account", OPERATOR).exit_code == 0
    out = tmp_path / "report.html"
    claim_page = "https://claim.example/?chainId=31337&x=<y>"
    made = ame("report", "-o", out, env={"AME_CLAIM_PAGE_URL": claim_page})
    assert made.exit_code == 0, made.output
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    people = page.table("contributors", "epoch-1-contributors")
    accounts = [cell for cell, _ in people.column("contributor")]
    names = dict(zip(accounts, [cell for cell, _ in people.column("name")], strict=True))
    assert names[owner["address"]] == '<b>"Bob" & co</b>'
    assert "&lt;b&gt;&quot;Bob&quot; &amp; co&lt;/b&gt;" in text and '<b>"Bob"' not in text
    paid = dict(zip(accounts, people.column("amount paid"), strict=True))
    assert paid[owner["address"]][0] == "0.2 POOL"  # a1 is worth 2 of 10 of 1 POOL
    rows = {row[0][0]: row[1][0] for row in page.table("header", "epoch-1").rows}
    assert rows["token"] == f"POOL (18 decimals) at {token}"
    result = json.loads(settled.stdout)
    receipt = chain.w3.eth.get_transaction_receipt(result["proposeTx"])
    proposed = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert rows["proposed"].startswith(format_date(int(proposed)))
    header_end = int(result["header"]["challengeEnd"])
    assert rows["challenge window ends"].startswith(format_date(header_end))
    assert rows["finalised"].endswith("ago)") and "UTC" in rows["claim before"]
    assert rows["proofs file"].endswith("proofs.json")
    section = text.split('id="how-to-claim"')[1].split("</section>")[0]
    assert 'href="https://claim.example/?chainId=31337&amp;x=&lt;y&gt;"' in section
    assert f"ame owed ADDRESS --settlement {settlement}" in section
    (event,) = page.table("events", "epoch-1-events").rows[1:]
    assert event[0][0] == "e1" and event[3][0] == "1 POOL"


def test_the_flows_long_tail_is_merged_by_stage_and_every_unit_kept(
    large: tuple[Report, str],
) -> None:
    section = large[0].epochs[0]
    assert section.flow is not None
    group = {f"asset:{a}": s for a, s in section.stage_of.items()}
    small = section.flow.collapsed(10, group=group)
    assert small.total() == section.flow.total()
    for layer in range(len(small.layers)):
        column = [n for n in small.nodes if n.layer == layer]
        assert sum(n.value for n in column) == sum(
            n.value for n in section.flow.nodes if n.layer == layer
        )
    tails = {n.id: n for n in small.nodes if n.kind == "others" and n.layer == 2}
    assert set(tails) == {f"others:2:{s}" for s in ("data", "base_model", "adapter", "prompt")}
    merged = {s: sum(1 for a, g in group.items() if g == s) for s in KIND_STAGES.values()}
    for node_id, node in tails.items():
        stage = node_id.split(":")[2]
        count = int(node.label.split(" ")[0].replace(",", ""))
        assert node.label == f"{count:,} other {stage} assets" and count <= merged[stage]
    assert [n.label for n in small.nodes if n.kind == "others" and n.layer == 3] == [
        "1,191 other accounts"
    ]
