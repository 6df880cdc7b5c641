"""`ame report` on the in-process chain: a settled and claimed epoch, and a voided one.

One module-scoped scenario: epoch 1 is settled honestly (royalties, an opted-out
dataset, a non-commercial prompt, an unattributed event), finalised and partly claimed;
epoch 2 is proposed by a cheating operator and voided by a watchdog's fraud proof sent
from another state directory. The report is parsed back to check what it says.
"""

from __future__ import annotations

import json
import struct
import zlib
from base64 import b64decode
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import pytest

import ame.report
from ame.report import KIND_STAGES, stage_lines, value_flow
from ame.workflow import DurableSender, MappingInputs, StateStore, Workspace
from ame_chain.chains import InProcessChain
from ame_chain.client import SettlementClient
from offchain.mapping import map_epoch, parse_registry, parse_values
from tests.cli.conftest import Ame
from tests.cli.test_cli_workflow import deploy
from tests.mapping._builders import address, asset_doc, event_doc, registry_doc, values_doc
from tests.workflow._helpers import (
    CONFIG,
    ETHER,
    OPERATOR,
    WATCHDOG,
    contributors,
    double_leaf,
    propose_published,
)

SECTIONS = ("flow", "events", "contributors", "decisions", "gas", "audit")


def _registry(owners: list[str]) -> dict[str, object]:
    a, b, c, d = owners
    return registry_doc(
        [
            asset_doc("data:wiki", kind="dataset", owners=[(a, "1")]),
            asset_doc(
                "data:books", kind="dataset", owners=[(b, "1")], signals={"tdm_reservation": True}
            ),
            asset_doc(
                "transformer",
                kind="base_model",
                owners=[(b, "1/2"), (c, "1/2")],
                parents=[("data:wiki", "10%")],
            ),
            asset_doc(
                "lora:pirate", kind="adapter", owners=[(d, "1")], parents=[("transformer", "20%")]
            ),
            asset_doc("prompt:plain", kind="prompt", owners=[(c, "1")], commercial_use=False),
        ]
    )


def _values(epoch: int) -> dict[str, object]:
    return values_doc(
        [
            event_doc(
                "e1",
                6 * ETHER // 10,
                {
                    "data:wiki": 1,
                    "data:books": 1,
                    "transformer": 2,
                    "lora:pirate": 1,
                    "prompt:plain": 1,
                },
            ),
            event_doc("e2", 3 * ETHER // 10, {"transformer": 1, "lora:pirate": 3}),
            event_doc("e3", ETHER // 10, {"data:wiki": 0}),
        ],
        epoch=epoch,
    )


@dataclass
class Scenario:
    ame: Ame
    root: Path
    settlement: str
    owners: list[str]
    claimed: set[str] = field(default_factory=set)


def _cheat(scenario: Scenario, chain: InProcessChain) -> None:
    """Epoch 2: the operator publishes and proposes a leaf doubled (provable on-chain)."""
    inputs_dir = scenario.root / "in2"
    inputs_dir.mkdir()
    (inputs_dir / "values.json").write_text(json.dumps(_values(2)))
    (inputs_dir / "registry.json").write_text(json.dumps(_registry(scenario.owners)))
    inputs = MappingInputs.load(inputs_dir / "values.json", inputs_dir / "registry.json")
    manifest = inputs.manifest()
    leaves = double_leaf(manifest, 1)
    document = json.loads(manifest.to_json_bytes())
    document["leaves"][1]["amount"] = str(leaves[1].amount)
    # Strings from a published document reach the report: they must come out escaped.
    document["events"][0]["id"] = "<script>alert(1)</script>"
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    state = StateStore(scenario.ame.state_dir)
    ws = Workspace(
        chain,
        SettlementClient(chain.w3, scenario.settlement),
        state,
        scenario.ame.state_dir / "published",
        sender=DurableSender(chain.w3, chain.dev_accounts[OPERATOR], state),
    )
    try:
        propose_published(ws, 2, inputs, data, leaves)
    finally:
        state.close()


@pytest.fixture(scope="module")
def scenario(chain: InProcessChain, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("report")
    ame = Ame(chain, root / "state")
    owners = contributors(chain)
    made = Scenario(ame, root, deploy(ame, chain), owners)
    (root / "values.json").write_text(json.dumps(_values(1)))
    (root / "registry.json").write_text(json.dumps(_registry(owners)))
    settled = ame(
        "settle",
        "--dev-account",
        OPERATOR,
        "--values",
        root / "values.json",
        "--registry",
        root / "registry.json",
    )
    assert settled.exit_code == 0, settled.output
    assert ame("chain", "advance", CONFIG.challenge_window).exit_code == 0
    assert ame("finalize", 1, "--dev-account", OPERATOR).exit_code == 0
    assert ame("claim", "--dev-account", 5).exit_code == 0  # owners[1], one `claim`
    both = ame("claim", "--account", owners[0], "--account", owners[2], "--dev-account", WATCHDOG)
    assert both.exit_code == 0, both.output  # one `claimMany`; owners[3] never claims
    made.claimed = {owners[0], owners[1], owners[2]}
    _cheat(made, chain)
    watchdog = Ame(chain, root / "watchdog")
    proved = watchdog("challenge", 2, "--dev-account", WATCHDOG, "--settlement", made.settlement)
    assert proved.exit_code == 0 and "fraud proven" in proved.stdout, proved.output
    return made


@dataclass
class Table:
    css: str
    section: str
    rows: list[list[tuple[str, dict[str, str]]]] = field(default_factory=list)

    def column(self, name: str) -> list[tuple[str, dict[str, str]]]:
        headers = [text for text, _ in self.rows[0]]
        return [row[headers.index(name)] for row in self.rows[1:]]

    def units(self, name: str) -> list[int]:
        return [int(attrs["data-units"]) for _, attrs in self.column(name)]


class Page(HTMLParser):
    """The report's sections, tables (cells with their attributes) and images."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.tables: list[Table] = []
        self.images: list[tuple[str, str, bytes]] = []  # section, class, PNG
        self._open: list[str] = []
        self._cell: tuple[list[str], dict[str, str]] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._open.append(attributes.get("id", ""))
            self.sections.append(attributes.get("id", ""))
        elif tag == "table":
            self.tables.append(Table(attributes.get("class", ""), self._open[-1]))
        elif tag == "tr":
            self.tables[-1].rows.append([])
        elif tag in ("td", "th"):
            self._cell = ([], attributes)
        elif tag == "img":
            src = attributes["src"]
            assert src.startswith("data:image/png;base64,")
            png = b64decode(src.removeprefix("data:image/png;base64,"))
            self.images.append((self._open[-1], attributes["class"], png))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._open.pop()
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1].rows[-1].append(("".join(self._cell[0]).strip(), self._cell[1]))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[0].append(data)

    def table(self, css: str, section: str) -> Table:
        (found,) = [t for t in self.tables if t.css == css and t.section == section]
        return found


@pytest.fixture(scope="module")
def report(scenario: Scenario) -> Iterator[tuple[str, dict[str, object]]]:
    out = scenario.root / "out" / "report.html"
    result = scenario.ame("report", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    yield out.read_text(encoding="utf-8"), json.loads(result.stdout)


def test_report_has_every_section_for_every_epoch(
    scenario: Scenario, report: tuple[str, dict[str, object]]
) -> None:
    text, summary = report
    epochs = summary["epochs"]
    assert isinstance(epochs, list)
    assert [(e["epoch"], e["status"], e["audit"]) for e in epochs] == [
        (1, "Finalized", "OK"),
        # The doubled leaf also overlaps a non-adjacent leaf's range: a 7th provable fault (issue #13).
        (2, "Voided", "7 mismatch(es)"),
    ]
    assert all(e["gas"] > 50_000 for e in epochs)
    page = Page(text)
    expected = ["overview"]
    for epoch in (1, 2):
        expected += [f"epoch-{epoch}"] + [f"epoch-{epoch}-{name}" for name in SECTIONS]
    assert page.sections == [*expected, "how-to-claim"]
    assert "Licence and opt-out decisions" in text and "Gas used per step" in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "This epoch is Voided" in text.split('id="epoch-2"')[1]
    assert "This epoch is" not in text.split('id="epoch-1"')[1].split('id="epoch-2"')[0]


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _chunks(png: bytes) -> list[bytes]:
    kinds, at = [], 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        body = png[at + 8 : at + 8 + length]
        assert (
            zlib.crc32(kind + body)
            == struct.unpack(">I", png[at + 8 + length : at + 12 + length])[0]
        )
        kinds.append(kind)
        at += 12 + length
    return kinds


def test_figures_are_real_pngs_without_metadata(report: tuple[str, dict[str, object]]) -> None:
    page = Page(report[0])
    found = {(section, css) for section, css, _ in page.images}
    for epoch in (1, 2):
        assert {
            (f"epoch-{epoch}-flow", "flow"),
            (f"epoch-{epoch}-contributors", "shares"),
            (f"epoch-{epoch}-decisions", "decisions"),
            (f"epoch-{epoch}-gas", "gas"),
        } <= found
    for _, _, png in page.images:
        width, height = _png_size(png)
        assert width >= 700 and height >= 250 and len(png) > 10_000
        chunks = _chunks(png)
        assert chunks[-1] == b"IEND" and b"IDAT" in chunks
        assert b"tEXt" not in chunks and b"tIME" not in chunks  # no software name, no date


def test_amounts_add_up_and_claims_are_shown(
    scenario: Scenario, report: tuple[str, dict[str, object]]
) -> None:
    page = Page(report[0])
    totals = {
        row[0][0]: int(row[1][1]["data-units"])
        for row in page.table("totals", "epoch-1-flow").rows[1:]
    }
    revenue, pool, escrowed = (
        totals["revenue"],
        totals["pool (paid in leaves)"],
        totals["escrowed (withheld, held for dispute)"],
    )
    assert revenue == ETHER and escrowed == 3 * ETHER // 10 and pool == revenue - escrowed

    people = page.table("contributors", "epoch-1-contributors")
    accounts = [text for text, _ in people.column("contributor")]
    assert sorted(accounts) == sorted(scenario.owners)
    assert sum(people.units("amount paid")) == pool
    assert sum(people.units("earned")) + escrowed == revenue
    shares = [Fraction(text.removesuffix("%")) for text, _ in people.column("share")]
    assert abs(sum(shares) - 100) <= Fraction(len(shares), 200)  # each rounded to 0.01 %
    claimed = dict(zip(accounts, [text for text, _ in people.column("claimed")], strict=True))
    assert claimed == {a: "yes" if a in scenario.claimed else "no" for a in scenario.owners}
    roles = dict(zip(accounts, [text for text, _ in people.column("role")], strict=True))
    assert roles[scenario.owners[0]] == "dataset owner, royalty recipient"
    assert roles[scenario.owners[3]] == "adapter owner"
    assert roles[scenario.owners[1]] == "base_model co-owner"

    overview = page.table("overview", "overview")
    claimed_units = overview.units("claimed")[0]
    paid = dict(zip(accounts, people.units("amount paid"), strict=True))
    assert claimed_units == sum(paid[a] for a in scenario.claimed)

    decisions = page.table("decisions", "epoch-1-decisions")
    assert sum(decisions.units("amount")) == escrowed
    reasons = [text for text, _ in decisions.column("reasons")]
    assert reasons[0].startswith("opted_out:ai_generative_training:tdm_reservation")
    assert reasons[1:] == ["non_commercial", "unattributed"]
    assert [text for text, _ in decisions.column("asset")] == [
        "data:books",
        "prompt:plain",
        "(none attributed)",
    ]


def test_gas_comes_from_the_recorded_receipts_and_the_chain(
    scenario: Scenario, report: tuple[str, dict[str, object]], chain: InProcessChain
) -> None:
    page = Page(report[0])
    gas = page.table("gas", "epoch-1-gas")
    rows = [[text for text, _ in row] for row in gas.rows[1:]]
    assert [(r[0], r[5]) for r in rows] == [
        ("propose", "state"),
        ("finalize", "state"),
        ("claim", "state"),
        ("claim", "state"),
    ]
    with StateStore(scenario.ame.state_dir) as state:
        recorded = {tx.tx_hash: tx.gas_used for tx in state.txs()}
    for row, (_, attrs) in zip(rows, gas.column("gas used"), strict=True):
        assert int(attrs["data-gas"]) == recorded[row[1]] > 21_000
    voided = page.table("gas", "epoch-2-gas")
    steps = [(row[0][0], row[5][0]) for row in voided.rows[1:]]
    assert steps == [("propose", "state"), ("prove-fraud", "chain")]
    proof = voided.rows[2]
    receipt = chain.w3.eth.get_transaction_receipt(proof[1][0])  # type: ignore[arg-type]
    assert int(proof[3][1]["data-gas"]) == receipt["gasUsed"]


def test_audit_verdict_and_mismatches_are_shown(report: tuple[str, dict[str, object]]) -> None:
    text = report[0]
    page = Page(text)
    assert (
        "PASS</span>: every check matched"
        in text.split('id="epoch-1-audit"')[1].split("</section>")[0]
    )
    assert not [t for t in page.tables if t.section == "epoch-1-audit"]
    failed = text.split('id="epoch-2-audit"')[1].split("</section>")[0]
    assert "FAIL</span>" in failed
    fields = [text for text, _ in page.table("mismatches", "epoch-2-audit").column("field")]
    assert {"fraud:LAST_LEAF_POOL_MISMATCH", "fraud:BROKEN_CHAIN"} <= set(fields)
    assert page.table("overview", "overview").rows[2][-1][0] == f"{len(fields)} mismatch(es)"


def test_two_reports_of_the_same_state_are_the_same_bytes(
    scenario: Scenario, report: tuple[str, dict[str, object]]
) -> None:
    again = scenario.root / "again.html"
    result = scenario.ame("report", "1", "2", "-o", again)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"report written to {again}\n")
    assert again.read_bytes() == report[0].encode("utf-8")
    assert not [p for p in again.parent.iterdir() if p.name.startswith(".again.html")]


def test_report_errors_are_named_and_exit_1(scenario: Scenario, chain: InProcessChain) -> None:
    unknown = scenario.ame("report", "9", "-o", scenario.root / "never.html")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        f"WorkflowError: epoch 9 was never proposed on {scenario.settlement}\n",
    )
    assert not (scenario.root / "never.html").exists()
    empty = Ame(chain, scenario.root / "empty")("report", "-o", scenario.root / "never.html")
    assert empty.exit_code == 1
    # A reader's command: a reader's advice, and no state directory left behind (issue 14).
    assert empty.stderr.startswith(
        f"WorkflowError: no settlement contract to read on chain {chain.chain_id}: pass "
        "--settlement ADDRESS"
    )
    assert not (scenario.root / "empty").exists()
    blocker = scenario.root / "a-file"
    blocker.write_text("")
    unwritable = scenario.ame("report", "1", "-o", blocker / "report.html")
    assert unwritable.exit_code == 1
    assert unwritable.stderr.startswith(  # before any work
        f"InputError: report {blocker / 'report.html'}: cannot write: "
    )
    assert "Traceback" not in unknown.output + empty.output + unwritable.output


def test_value_flow_through_stages_conserves_every_unit() -> None:
    owners = [address(n) for n in range(1, 5)]
    registry = parse_registry(_registry(owners))
    manifest = map_epoch(parse_values(_values(1)), registry)
    kinds = {asset.id: asset.kind for asset in registry.assets}
    flow = value_flow(manifest, kinds, staged=True)
    assert flow.layers == ("revenue", "stages", "assets", "accounts")
    assert flow.total() == manifest.totals.revenue
    inflow: dict[str, int] = {}
    outflow: dict[str, int] = {}
    for link in flow.links:
        outflow[link.source] = outflow.get(link.source, 0) + link.value
        inflow[link.target] = inflow.get(link.target, 0) + link.value
    for node in flow.nodes:
        if node.layer in (1, 2):  # stages and assets pass on what they receive
            assert inflow[node.id] == outflow[node.id] == node.value, node
    earned = {b.account: b.earned for b in manifest.accounts}
    assert {n.id.removeprefix("account:"): n.value for n in flow.nodes if n.kind == "account"} == {
        a: e for a, e in earned.items() if e
    }
    assert flow.node("escrow").value == manifest.totals.escrowed
    # The adapter's royalty to the base model is value the adapter stage created.
    assert ("stage:adapter", "asset:transformer") in {(k.source, k.target) for k in flow.links}
    assert {n.label for n in flow.nodes if n.kind == "stage"} == {
        KIND_STAGES[k] for k in ("dataset", "base_model", "adapter", "prompt")
    } | {"unattributed"}

    stages = {
        "e1": {
            "data": Fraction(2),
            "base_model": Fraction(2),
            "adapter": Fraction(1),
            "prompt": Fraction(1),
        },
        "e2": {"base_model": Fraction(1), "adapter": Fraction(3)},
    }
    revenue = {str(e.id): int(e.revenue) for e in manifest.events}
    lines = {line.stage: line for line in stage_lines(flow, stages, revenue)}
    assert sum(line.value_share or 0 for line in lines.values()) == 1
    # e1 (0.6 ETH) gives the adapter 1/6, e2 (0.3 ETH) 3/4; e3 records no stages.
    assert lines["adapter"].value_share == (
        Fraction(6, 10) / 6 + Fraction(3, 10) * 3 / 4
    ) / Fraction(9, 10)
    assert lines["data"].value_share == Fraction(2, 9)
    assert lines["unattributed"].value_share is None
    assert sum(line.routed for line in lines.values()) == manifest.totals.revenue

    small = flow.collapsed(2)
    assert small.total() == flow.total()
    for layer in (1, 2, 3):
        kept = [
            n for n in small.nodes if n.layer == layer and n.kind in ("stage", "asset", "account")
        ]
        assert len(kept) <= 1 + sum(1 for n in kept if n.id.endswith("unattributed"))
        assert sum(n.value for n in small.nodes if n.layer == layer) == manifest.totals.revenue


def test_report_exports_are_pinned() -> None:
    assert ame.report.__all__ == [
        "KIND_STAGES",
        "STAGE_COLORS",
        "ContributorLine",
        "Decision",
        "EpochDates",
        "EpochReport",
        "EventSummary",
        "FlowLink",
        "FlowNode",
        "GasLine",
        "OutputCheck",
        "Report",
        "StageLine",
        "ValueFlow",
        "check_output",
        "collect_report",
        "contributor_lines",
        "decisions",
        "event_summaries",
        "format_amount",
        "read_event_outputs",
        "render_html",
        "stage_color",
        "stage_lines",
        "value_flow",
        "write_html",
        "write_report",
    ]
