"""Render a :class:`~ame.report.Report` as one self-contained HTML file.

The figures are PNG images embedded as ``data:`` URIs, so the file can be mailed or
archived alone. Every string from a document or the chain is escaped. The bytes depend
only on the report's numbers (no date, no version, deterministic PNGs), and the file is
written atomically (a temporary file in the same folder, then a rename).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

from ame.report._collect import EpochReport, Report
from ame.report._plots import decisions_png, flow_png, gas_png, shares_png
from ame_chain.leaves import ZERO_ADDRESS
from ame_core.exceptions import InputError
from ame_core.files import atomic_write

__all__ = ["check_output", "format_amount", "render_html", "write_html"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;
 padding:0 1rem;color:#212121;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #cfd8dc;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-top:1.8rem}.meta,.note{color:#546e7a}.note{font-style:italic}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
th,td{border-bottom:1px solid #eceff1;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f7f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.85em}
img{max-width:100%;height:auto;border:1px solid #eceff1;margin:.5rem 0}
.ok{color:#2e7d32;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:.4rem .8rem}
"""


def format_amount(amount: int, token: str, *, digits: int | None = None) -> str:
    """An amount for people: ETH for ETH pools (``0.2 ETH``), else the token's base units.

    Args:
        amount: Base units (wei for ETH).
        token: The pool's token; the zero address is ETH.
        digits: Round ETH to this many decimals (half to even), prefixed ``≈`` when that
            changed it; every digit when None.
    """
    if token.lower() != ZERO_ADDRESS:
        return f"{amount:,} units"
    ether = Decimal(amount).scaleb(-18)
    if digits is not None:
        rounded = ether.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
        if rounded != ether:
            return f"≈{rounded.normalize():f} ETH"
    return f"{ether.normalize():f} ETH"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _percent(share: Fraction | None, digits: int = 2) -> str:
    if share is None:
        return "—"
    scaled = share * 100 * 10**digits
    rounded = (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)
    return f"{Decimal(rounded).scaleb(-digits):.{digits}f}%"


class _Table:
    """An HTML table; amount cells carry their exact base units in ``data-units``."""

    def __init__(self, headers: Sequence[str], fmt: Callable[[int], str]) -> None:
        self.headers = headers
        self.fmt = fmt
        self.rows: list[str] = []

    def amount(self, value: int) -> str:
        return f'<td class="num" data-units="{value}">{_e(self.fmt(value))}</td>'

    def add(self, *cells: str) -> None:
        self.rows.append("<tr>" + "".join(cells) + "</tr>")

    def html(self, css_class: str) -> str:
        head = "".join(f"<th>{_e(h)}</th>" for h in self.headers)
        return (
            f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(self.rows)
            + "</tbody></table>"
        )


def _cell(value: object, css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<td{attribute}>{_e(value)}</td>"


def _image(png: bytes, alt: str, css_class: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{css_class}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def render_html(report: Report, *, max_rows: int = 500, keep: int = 10) -> bytes:
    """The report as HTML bytes (UTF-8), figures embedded as base64 PNG.

    Args:
        report: What :func:`~ame.report.collect_report` gathered.
        max_rows: Rows of the contributor and decision tables per epoch; the rest are
            summed in one ``N more`` row.
        keep: Nodes per column of the flow diagram; the smaller ones are merged.
    """
    title = f"AME report: chain {report.chain_id}, contract {report.settlement}"
    epochs = ", ".join(str(s.epoch) for s in report.epochs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        "<h1>AME settlement report</h1>",
        f'<p class="meta">chain {report.chain_id} · contract <code>{_e(report.settlement)}'
        f"</code> · as of block {report.block} · epochs {_e(epochs)}</p>",
        _overview(report),
    ]
    for section in report.epochs:
        parts.append(_epoch(section, max_rows=max_rows, keep=keep))
    parts.append(
        '<footer><p class="meta">Written by <code>ame report</code>. Amounts are exact: in ETH '
        "for ETH pools, else in the token's base units; each table cell holds the base units in "
        "<code>data-units</code>. Figures are PNG images embedded in this file. The flow traces "
        "every unit of revenue through the manifest (<code>docs/manifest.md</code>); the audit "
        "is the one <code>ame audit</code> runs (<code>docs/audit.md</code>).</p></footer>"
    )
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")


def _overview(report: Report) -> str:
    fmt = _formatter(report.epochs[0]) if report.epochs else str
    table = _Table(
        [
            "epoch",
            "status",
            "revenue",
            "pool",
            "escrowed",
            "carried out",
            "leaves",
            "claimed",
            "gas",
            "audit",
        ],
        fmt,
    )
    for s in report.epochs:
        table.fmt = _formatter(s)
        totals = s.totals
        verdict = (
            '<td class="ok">OK</td>'
            if s.audit.ok
            else f'<td class="bad">{len(s.audit.mismatches)} mismatch(es)</td>'
        )
        table.add(
            f'<td><a href="#epoch-{s.epoch}">{s.epoch}</a></td>',
            _cell(s.status),
            table.amount(totals.revenue) if totals else _cell("—"),
            table.amount(s.header.pool),
            table.amount(totals.escrowed) if totals else _cell("—"),
            table.amount(totals.carried_out) if totals else _cell("—"),
            _cell(s.header.leaf_count, "num"),
            table.amount(s.claimed),
            _cell(f"{sum(g.gas_used for g in s.gas):,}", "num"),
            verdict,
        )
    return f'<section id="overview"><h2>Overview</h2>{table.html("overview")}</section>'


def _formatter(section: EpochReport) -> Callable[[int], str]:
    token = section.header.token
    return lambda amount: format_amount(amount, token)


def _label_formatter(section: EpochReport) -> Callable[[int], str]:
    # Figures have room for a few digits; the tables hold the exact amounts.
    token = section.header.token
    return lambda amount: format_amount(amount, token, digits=4)


def _epoch(section: EpochReport, *, max_rows: int, keep: int) -> str:
    n = section.epoch
    fmt = _formatter(section)
    head = [
        f'<section id="epoch-{n}" class="epoch"><h2>Epoch {n}: {_e(section.status)}</h2>',
        '<table class="header"><tbody>',
        f"<tr><th>manifest</th><td><code>{_e(section.manifest_uri)}</code></td></tr>",
        f"<tr><th>manifest hash</th><td><code>{_e(section.header.manifest_hash)}</code></td></tr>",
        f"<tr><th>root</th><td><code>{_e(section.header.root)}</code></td></tr>",
        f"<tr><th>operator</th><td><code>{_e(section.header.operator)}</code></td></tr>",
        f"<tr><th>pool</th><td>{_e(fmt(section.header.pool))} in {section.header.leaf_count} "
        f"leaves; {_e(fmt(section.claimed))} claimed</td></tr>",
        "</tbody></table>",
    ]
    if section.status in ("Voided", "Refunded"):
        head.append(
            f'<p class="warn">This epoch is {_e(section.status)}: its proposal was rejected (a fraud '
            "proof or an upheld dispute), so none of the amounts below is paid.</p>"
        )
    head += [f'<p class="warn">{_e(note)}</p>' for note in section.notes]
    body = [
        _flow_section(section, fmt, keep),
        _contributors_section(section, fmt, max_rows),
        _decisions_section(section, fmt, max_rows),
        _gas_section(section),
        _audit_section(section),
    ]
    return "\n".join([*head, *body, "</section>"])


def _missing(section: EpochReport) -> str:
    return '<p class="note">No manifest could be read for this epoch (see the notes above).</p>'


def _flow_section(section: EpochReport, fmt: Callable[[int], str], keep: int) -> str:
    n = section.epoch
    out = [f'<section id="epoch-{n}-flow"><h3>Value flow</h3>']
    manifest, flow = section.manifest, section.flow
    if manifest is None or flow is None:
        return "".join([*out, _missing(section), "</section>"])
    path = " → ".join(flow.layers)
    out.append(
        f"<p>Every unit of revenue, {_e(path)}: paid to owners or held in escrow. "
        "Balances below the minimum payout are carried to the next epoch.</p>"
    )
    png = flow_png(flow.collapsed(keep), _label_formatter(section), title=f"Epoch {n}: value flow")
    out.append(_image(png, f"epoch {n} value flow: {path}", "flow"))
    totals = manifest.totals
    table = _Table(["", "amount"], fmt)
    for label, value in (
        ("revenue", totals.revenue),
        ("carried in from earlier epochs", totals.carried_in),
        ("escrowed (withheld, held for dispute)", totals.escrowed),
        ("carried out (below the minimum payout)", totals.carried_out),
        ("pool (paid in leaves)", totals.pool),
    ):
        table.add(_cell(label), table.amount(value))
    out.append(table.html("totals"))
    out.append(
        '<p class="note">revenue + carried in = pool + carried out + escrowed: '
        f"{_e(fmt(totals.revenue + totals.carried_in))} = "
        f"{_e(fmt(totals.pool + totals.carried_out + totals.escrowed))}</p>"
    )
    if section.stages:
        stages = _Table(
            ["stage", "value share (attribution)", "revenue routed", "routed share"], fmt
        )
        revenue = flow.total()
        for line in section.stages:
            stages.add(
                _cell(line.stage),
                _cell(_percent(line.value_share), "num"),
                stages.amount(line.routed),
                _cell(_percent(Fraction(line.routed, revenue) if revenue else None), "num"),
            )
        out.append(
            "<p>Stages: the share of value attribution gave each stage, against the revenue the "
            "manifest traces to assets of that stage (after royalties moved it between assets and "
            "filters withheld it).</p>"
        )
        out.append(stages.html("stages"))
    out.append("</section>")
    return "".join(out)


def _contributors_section(section: EpochReport, fmt: Callable[[int], str], max_rows: int) -> str:
    n = section.epoch
    out = [f'<section id="epoch-{n}-contributors"><h3>Contributors</h3>']
    if section.manifest is None:
        return "".join([*out, _missing(section), "</section>"])
    lines = section.contributors
    png = shares_png(lines, _label_formatter(section), title=f"Epoch {n}: shares of the earnings")
    out.append(_image(png, f"epoch {n} per-contributor shares", "shares"))
    table = _Table(
        [
            "contributor",
            "role",
            "share",
            "earned",
            "carried in",
            "amount paid",
            "carried out",
            "claimed",
        ],
        fmt,
    )
    for line in lines[:max_rows]:
        claimed = "—" if line.claimed is None else "yes" if line.claimed else "no"
        table.add(
            f'<td class="mono">{_e(line.account)}</td>',
            _cell(line.role),
            _cell(_percent(line.share), "num"),
            table.amount(line.earned),
            table.amount(line.carried_in),
            table.amount(line.paid),
            table.amount(line.carried_out),
            _cell(claimed),
        )
    rest = lines[max_rows:]
    if rest:
        table.add(
            _cell(f"{len(rest)} more"),
            _cell(""),
            _cell(_percent(sum((c.share for c in rest), Fraction(0))), "num"),
            table.amount(sum(c.earned for c in rest)),
            table.amount(sum(c.carried_in for c in rest)),
            table.amount(sum(c.paid for c in rest)),
            table.amount(sum(c.carried_out for c in rest)),
            _cell(f"{sum(1 for c in rest if c.claimed)} claimed"),
        )
    out.append(table.html("contributors"))
    out.append(
        "<p class=\"note\">share: part of the epoch's earnings; amount paid: the account's leaf, "
        "what the contract pays; claimed: whether that leaf was claimed on-chain (— when "
        "nothing was paid this epoch).</p>"
    )
    out.append("</section>")
    return "".join(out)


def _explain(reason: str) -> str:
    # The reason codes of docs/registry.md "Hard filters", in words.
    code, _, rest = reason.partition(":")
    if code == "opted_out":
        use, _, signal = rest.partition(":")
        return f"the {signal or 'opt-out'} signal refuses {use or 'a use'}"
    if code == "derivative_not_allowed":
        return f"derives from {rest or 'an asset'}, whose licence forbids derivatives"
    if code == "non_commercial":
        return "commercial event; its licence forbids commercial use"
    if code == "ancestor_non_commercial":
        return f"commercial event; ancestor {rest or '?'} forbids commercial use"
    if code == "licence_expired":
        return f"the event is dated after its licence's last day ({rest})"
    if code == "unattributed":
        return "no asset was attributed any value in the event"
    if code == "no_eligible_contributor":
        return "no asset of the event could be paid"
    return reason


def _decisions_section(section: EpochReport, fmt: Callable[[int], str], max_rows: int) -> str:
    n = section.epoch
    out = [f'<section id="epoch-{n}-decisions"><h3>Licence and opt-out decisions</h3>']
    manifest = section.manifest
    if manifest is None:
        return "".join([*out, _missing(section), "</section>"])
    items = section.decisions
    policy = manifest.policy.withheld
    out.append(
        f"<p>Policy for withheld value: <b>{_e(policy)}</b> "
        f"({'held in escrow for dispute' if policy == 'escrow' else 'shared among the eligible assets of the event'}). "
        f"{len(items)} line(s) withheld; {_e(fmt(manifest.totals.escrowed))} escrowed.</p>"
    )
    if not items:
        out.append('<p class="note">Every attributed asset was paid: nothing was withheld.</p>')
        return "".join([*out, "</section>"])
    png = decisions_png(
        items, _label_formatter(section), title=f"Epoch {n}: what was withheld, and why"
    )
    out.append(_image(png, f"epoch {n} licence and opt-out decisions", "decisions"))
    table = _Table(["event", "asset", "action", "amount", "claim share", "reasons", "why"], fmt)
    for item in items[:max_rows]:
        table.add(
            _cell(item.event),
            _cell(item.asset if item.asset is not None else "(none attributed)"),
            _cell(item.action),
            table.amount(item.amount),
            _cell(_percent(item.claim_share), "num"),
            f'<td class="mono">{_e(", ".join(item.reasons))}</td>',
            _cell("; ".join(_explain(r) for r in item.reasons)),
        )
    rest = items[max_rows:]
    if rest:
        table.add(
            _cell(f"{len(rest)} more"),
            _cell(""),
            _cell(""),
            table.amount(sum(d.amount for d in rest)),
            _cell(""),
            _cell(""),
            _cell(""),
        )
    out.append(table.html("decisions"))
    out.append(
        "<p class=\"note\">claim share: the asset's part of the event's claims before the filter; "
        "redistributed lines pay nothing to the asset, their part went to the others.</p>"
    )
    out.append("</section>")
    return "".join(out)


def _gas_section(section: EpochReport) -> str:
    n = section.epoch
    out = [f'<section id="epoch-{n}-gas"><h3>Gas used per step</h3>']
    if not section.gas:
        out.append('<p class="note">No transaction of this epoch was found.</p>')
        return "".join([*out, "</section>"])
    png = gas_png(section.gas, title=f"Epoch {n}: gas used per step")
    out.append(_image(png, f"epoch {n} gas used per step", "gas"))
    table = _Table(["step", "transaction", "block", "gas used", "status", "source"], str)
    for line in section.gas:
        table.add(
            _cell(line.step),
            f'<td class="mono">{_e(line.tx_hash)}</td>',
            _cell(line.block, "num"),
            f'<td class="num" data-gas="{line.gas_used}">{line.gas_used:,}</td>',
            _cell(line.status),
            _cell(line.source),
        )
    out.append(table.html("gas"))
    out.append(
        '<p class="note">source: <i>state</i> for receipts the operator state recorded, '
        "<i>chain</i> for transactions others sent (found from the contract's events). A "
        "claimMany covering several epochs is listed under each of them.</p>"
    )
    out.append("</section>")
    return "".join(out)


def _audit_section(section: EpochReport) -> str:
    n = section.epoch
    audit = section.audit
    out = [f'<section id="epoch-{n}-audit"><h3>Audit verdict</h3>']
    if audit.ok:
        out.append(
            '<p class="verdict"><span class="ok">PASS</span>: every check matched '
            f"({_e(', '.join(audit.checks))}).</p>"
        )
    else:
        out.append(
            f'<p class="verdict"><span class="bad">FAIL</span>: {len(audit.mismatches)} '
            f"mismatch(es); checked {_e(', '.join(audit.checks))}.</p>"
        )
        table = _Table(["epoch", "leaf", "field", "expected", "found"], str)
        for m in audit.mismatches:
            table.add(
                _cell(m.epoch, "num"),
                _cell("" if m.leaf is None else m.leaf, "num"),
                _cell(m.field),
                f'<td class="mono">{_e(m.expected)}</td>',
                f'<td class="mono">{_e(m.found)}</td>',
            )
        out.append(table.html("mismatches"))
    out.append(
        '<p class="note">The audit recomputes the allocation from the published inputs, rebuilds '
        "the tree, compares it with the commitment on-chain, verifies every proof and the "
        "conservation of the pool (<code>ame audit</code>).</p></section>"
    )
    return "".join(out)


def check_output(path: Path | str) -> Path:
    """Fail early when ``path`` cannot be written (its folder is created if missing).

    Raises:
        InputError: The folder cannot be created or written to, or ``path`` is a folder.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"report {path}: cannot write: {err}") from None
    if path.is_dir():
        raise InputError(f"report {path}: cannot write: it is a folder")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise InputError(f"report {path}: cannot write: {path.parent} is not writable")
    return path


def write_html(data: bytes, path: Path | str) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then a rename).

    Raises:
        InputError: The file or its folder cannot be written.
    """
    path = check_output(path)
    try:
        atomic_write(path, data)
    except OSError as err:
        raise InputError(f"report {path}: cannot write: {err}") from None
    return path
