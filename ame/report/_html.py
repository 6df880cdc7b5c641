"""Render a :class:`~ame.report.Report` as one self-contained HTML file, for people.

The figures are PNG images embedded as ``data:`` URIs, so the file can be mailed or
archived alone. Every string from a document or the chain (names, asset and event ids,
URIs, reasons) is HTML-escaped, and only ``http(s)`` URIs become links. The bytes depend
only on the report's numbers and the chain's clock (no local date, no version,
deterministic PNGs), and the file is written atomically (a temporary file in the same
folder, then a rename).

Readable at thousands of contributors: the charts draw the largest few and one
``others`` bar, at a bounded size; the tables list every contributor and event (up to
``max_rows``), with their registry names, in the token's units, and are sorted and
filtered in place by a few lines of script when the reader allows it (the content is all
in the HTML without it). Stages keep their colours (:func:`~ame.report.stage_color`)
from one chart and one report to the next.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

from ame.report._analysis import EventSummary
from ame.report._collect import EpochReport, Report
from ame.report._plots import (
    decisions_png,
    events_png,
    flow_png,
    gas_png,
    shares_png,
    stage_color,
)
from ame.workflow import (
    TokenUnits,
    format_date,  # the dates `ame owed` prints
    format_duration,
)
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
th{background:#f5f7f8}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.85em}
img{max-width:100%;height:auto;border:1px solid #eceff1;margin:.5rem 0}
.ok{color:#2e7d32;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:.4rem .8rem}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:-.05em}
.scroll{max-height:40rem;overflow:auto}.scroll thead th{position:sticky;top:0}
input.filter{margin:.4rem 0;padding:.2rem .4rem;width:20rem;max-width:100%}
th[data-sort]{cursor:pointer}td.split{white-space:nowrap}
"""

#: Sorting and filtering of the long tables: optional, the content is in the HTML without
#: it. Reads nothing but the table it is attached to; no network, no storage.
_SCRIPT = r"""
document.querySelectorAll('table[data-sortable]').forEach(function(t){
 var body=t.tBodies[0],f=document.createElement('input');
 f.type='search';f.className='filter';f.placeholder='Filter rows (name, address, id...)';
 f.addEventListener('input',function(){var q=f.value.toLowerCase();
  Array.prototype.forEach.call(body.rows,function(r){
   r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});
 t.parentNode.insertBefore(f,t);
 Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){
  h.setAttribute('data-sort','');h.title='Sort';var up=false;
  h.addEventListener('click',function(){up=!up;var rows=Array.prototype.slice.call(body.rows);
   function key(r){var c=r.cells[i];if(!c)return '';var u=c.getAttribute('data-units');
    if(u!==null)return BigInt(u);var t=c.textContent,n=parseFloat(t.replace(/[^0-9.eE+-]/g,''));
    return /^[≈0-9.,%\s+-]+[A-Za-z$ ]*$/.test(t)&&!isNaN(n)?n:t.toLowerCase();}
   rows.sort(function(a,b){var x=key(a),y=key(b);return (x<y?-1:x>y?1:0)*(up?1:-1);});
   rows.forEach(function(r){body.appendChild(r);});});});
});
"""


def format_amount(
    amount: int, token: str, *, digits: int | None = None, units: TokenUnits | None = None
) -> str:
    """An amount for people: ``0.2 ETH``, ``12.5 USDC``, or the token's base units.

    Args:
        amount: Base units (wei for ETH).
        token: The pool's token; the zero address is ETH.
        digits: Round to this many decimals (half to even), prefixed ``≈`` when that
            changed it; every digit when None.
        units: The token's symbol and decimals as read from the chain
            (:class:`~ame.workflow.TokenUnits`); without them an ERC-20 amount is shown
            in base units.
    """
    if units is None:
        if token.lower() != ZERO_ADDRESS:
            return f"{amount:,} units"
        units = TokenUnits(token, "ETH", 18)
    if units.decimals == 0:
        return f"{amount:,} {units.symbol}"
    value = Decimal(amount).scaleb(-units.decimals)
    if digits is not None and digits < units.decimals:
        rounded = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
        if rounded != value:
            return f"≈{rounded.normalize():f} {units.symbol}"
    return f"{value.normalize():f} {units.symbol}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _percent(share: Fraction | None, digits: int = 2) -> str:
    if share is None:
        return "—"
    scaled = share * 100 * 10**digits
    rounded = (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)
    return f"{Decimal(rounded).scaleb(-digits):.{digits}f}%"


class _Table:
    """An HTML table; amount cells carry their exact base units in ``data-units`` and,
    when shown rounded, the exact amount in their ``title``."""

    def __init__(
        self,
        headers: Sequence[str],
        fmt: Callable[[int], str],
        exact: Callable[[int], str] | None = None,
    ) -> None:
        self.headers = headers
        self.fmt = fmt
        self.exact = exact
        self.rows: list[str] = []

    def amount(self, value: int) -> str:
        shown = self.fmt(value)
        exact = self.exact(value) if self.exact is not None else shown
        title = f' title="{_e(exact)}"' if exact != shown else ""
        return f'<td class="num" data-units="{value}"{title}>{_e(shown)}</td>'

    def add(self, *cells: str) -> None:
        self.rows.append("<tr>" + "".join(cells) + "</tr>")

    def html(self, css_class: str, *, sortable: bool = False) -> str:
        head = "".join(f"<th>{_e(h)}</th>" for h in self.headers)
        table = (
            f'<table class="{css_class}"{" data-sortable" if sortable else ""}>'
            f"<thead><tr>{head}</tr></thead><tbody>" + "".join(self.rows) + "</tbody></table>"
        )
        return f'<div class="scroll">{table}</div>' if sortable else table


def _cell(value: object, css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<td{attribute}>{_e(value)}</td>"


def _image(png: bytes, alt: str, css_class: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{css_class}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def render_html(report: Report, *, max_rows: int = 5_000, keep: int = 10) -> bytes:
    """The report as HTML bytes (UTF-8), figures embedded as base64 PNG.

    Args:
        report: What :func:`~ame.report.collect_report` gathered.
        max_rows: Rows of the contributor, event and decision tables per epoch; the rest
            are summed in one ``N more`` row (the manifest lists them all).
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
        parts.append(_epoch(section, report, max_rows=max_rows, keep=keep))
    parts.append(_how_to_claim(report))
    parts.append(
        '<footer><p class="meta">Written by <code>ame report</code>. Amounts are in the '
        "token's units (ETH, or the symbol and decimals the token reports on-chain), rounded "
        f"to {_DIGITS} decimals (≈ when rounded; the exact amount in the cell's tooltip); each "
        "table cell holds the exact base units in <code>data-units</code>. Dates are UTC, from "
        "the chain's blocks. Names are the owners' names in the registry the epoch was mapped "
        "from, as its publisher wrote them: check the address. Figures are PNG images embedded "
        "in this file; each stage keeps its colour in every chart and report. The flow traces "
        "every unit of revenue through the manifest (<code>docs/manifest.md</code>); the audit "
        "is the one <code>ame audit</code> runs (<code>docs/audit.md</code>).</p></footer>"
    )
    parts.append(f'<script type="module">{_SCRIPT}</script>')
    parts.append("</body></html>\n")
    # A JSON document can carry a lone surrogate ("\ud800"), which UTF-8 cannot encode.
    return "\n".join(parts).encode("utf-8", "replace")


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
        table.fmt, table.exact = _formatter(s), _exact(s)
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


#: Decimals shown in the tables (the exact amount is in the cell's title and data-units).
_DIGITS = 6


def _formatter(section: EpochReport) -> Callable[[int], str]:
    token, units = section.header.token, section.units
    return lambda amount: format_amount(amount, token, digits=_DIGITS, units=units)


def _exact(section: EpochReport) -> Callable[[int], str]:
    token, units = section.header.token, section.units
    return lambda amount: format_amount(amount, token, units=units)


def _label_formatter(section: EpochReport) -> Callable[[int], str]:
    # Figures have room for a few digits; the tables hold the exact amounts.
    token, units = section.header.token, section.units
    return lambda amount: format_amount(amount, token, digits=4, units=units)


def _when(timestamp: int | None, now: int | None, *, pending: str = "—") -> str:
    if timestamp is None:
        return pending
    date = format_date(timestamp)
    if now is None:
        return date
    if timestamp > now:
        return f"{date} (in {format_duration(timestamp - now)})"
    return f"{date} ({format_duration(now - timestamp)} ago)"


def _link(uri: str) -> str:
    """``uri`` as a link when it is http(s), else as text: a document can name any scheme."""
    if uri.lower().startswith(("https://", "http://")):
        return f'<a href="{_e(uri)}"><code>{_e(uri)}</code></a>'
    return f"<code>{_e(uri)}</code>"


def _swatch(stage: str) -> str:
    return f'<span class="swatch" style="background:{stage_color(stage)}"></span>{_e(stage)}'


def _names(names: Sequence[str]) -> str:
    return " / ".join(names)


def _epoch(section: EpochReport, report: Report, *, max_rows: int, keep: int) -> str:
    n = section.epoch
    fmt = _formatter(section)
    units, dates, now = section.units, section.dates, report.time
    if section.header.is_eth:
        token = "ETH"
    else:
        token = (
            f"{_e(units.symbol)} ({units.decimals} decimals) at "
            f"<code>{_e(section.header.token)}</code>"
        )
    finalized = "not finalised" if section.status == "Proposed" else "—"
    head = [
        f'<section id="epoch-{n}" class="epoch"><h2>Epoch {n}: {_e(section.status)}</h2>',
        '<table class="header"><tbody>',
        f"<tr><th>token</th><td>{token}</td></tr>",
        f"<tr><th>proposed</th><td>{_e(_when(dates.proposed, now))}</td></tr>",
        f"<tr><th>challenge window ends</th><td>{_e(_when(dates.window_end, now))}</td></tr>",
        f"<tr><th>finalised</th><td>{_e(_when(dates.finalized, now, pending=finalized))}</td></tr>",
        "<tr><th>claim before</th><td>"
        + _e(_when(dates.expiry, now, pending="set when finalised"))
        + "</td></tr>",
        f"<tr><th>manifest</th><td>{_link(section.manifest_uri)}</td></tr>",
        "<tr><th>proofs file</th><td>"
        + (_link(section.proofs_uri) if section.proofs_uri else "none published")
        + "</td></tr>",
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
        _events_section(section, fmt, max_rows),
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
    # The assets merged for room keep their stage: "612 other data assets", in its colour.
    by_stage = {f"asset:{asset}": stage for asset, stage in section.stage_of.items()}
    png = flow_png(
        flow.collapsed(keep, group=by_stage),
        _label_formatter(section),
        title=f"Epoch {n}: value flow",
        stage_of=section.stage_of,
    )
    out.append(_image(png, f"epoch {n} value flow: {path}", "flow"))
    totals = manifest.totals
    table = _Table(["", "amount"], fmt, _exact(section))
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
            ["stage", "value share (attribution)", "revenue routed", "routed share"],
            fmt,
            _exact(section),
        )
        revenue = flow.total()
        for line in section.stages:
            stages.add(
                f"<td>{_swatch(line.stage)}</td>",
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
    out.append(_image(png, f"epoch {n} per-contributor shares, the largest first", "shares"))
    table = _Table(
        [
            "contributor",
            "name",
            "role",
            "share",
            "earned",
            "carried in",
            "amount paid",
            "carried out",
            "claimed",
        ],
        fmt,
        _exact(section),
    )
    for line in lines[:max_rows]:
        claimed = "—" if line.claimed is None else "yes" if line.claimed else "no"
        table.add(
            f'<td class="mono">{_e(line.account)}</td>',
            _cell(_names(line.names)),
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
            _cell("(in the manifest)"),
            _cell(""),
            _cell(_percent(sum((c.share for c in rest), Fraction(0))), "num"),
            table.amount(sum(c.earned for c in rest)),
            table.amount(sum(c.carried_in for c in rest)),
            table.amount(sum(c.paid for c in rest)),
            table.amount(sum(c.carried_out for c in rest)),
            _cell(f"{sum(1 for c in rest if c.claimed)} claimed"),
        )
    out.append(
        f"<p>{len(lines):,} account(s), the largest earners first; click a column to sort, "
        "type in the box to filter (your browser's find works too).</p>"
    )
    out.append(table.html("contributors", sortable=True))
    out.append(
        "<p class=\"note\">share: part of the epoch's earnings; amount paid: the account's leaf, "
        "what the contract pays; claimed: whether that leaf was claimed on-chain (— when "
        "nothing was paid this epoch); name: as the registry's publisher wrote it.</p>"
    )
    out.append("</section>")
    return "".join(out)


def _events_section(section: EpochReport, fmt: Callable[[int], str], max_rows: int) -> str:
    n = section.epoch
    out = [f'<section id="epoch-{n}-events"><h3>Revenue events</h3>']
    if section.manifest is None:
        return "".join([*out, _missing(section), "</section>"])
    events = section.events
    if not events:
        out.append('<p class="note">The epoch has no revenue event.</p>')
        return "".join([*out, "</section>"])
    png = events_png(events, _label_formatter(section), title=f"Epoch {n}: revenue by event")
    out.append(_image(png, f"epoch {n} revenue by event and stage, the largest first", "events"))
    table = _Table(
        [
            "event",
            "date",
            "use",
            "revenue",
            "escrowed",
            "output",
            "stage split",
            "largest recipients",
            "assets paid",
            "method",
            "largest std. error",
            "notes",
        ],
        fmt,
        _exact(section),
    )
    for event in events[:max_rows]:
        split = "<br>".join(
            f"{_swatch(stage)} {_percent(share, 1)}" for stage, share in event.stages
        )
        if event.stage_source == "paid":
            split += ' <span class="note">(paid)</span>'
        top = "; ".join(f"{_e(asset)} {_e(fmt(units))}" for asset, units in event.top)
        table.add(
            _cell(event.id),
            _cell(event.date),
            _cell("commercial" if event.commercial else "non-commercial"),
            table.amount(event.revenue),
            table.amount(event.escrowed),
            _output_cell(event),
            f'<td class="split">{split or "—"}</td>',
            f"<td>{top or '—'}</td>",
            _cell(event.assets, "num"),
            _cell(event.method or "—"),
            _cell("—" if event.max_stderr is None else f"{event.max_stderr:.3g}", "num"),
            _cell("; ".join(event.notes)),
        )
    rest = events[max_rows:]
    if rest:
        table.add(
            _cell(f"{len(rest)} more"),
            _cell("(in the manifest)"),
            _cell(""),
            table.amount(sum(e.revenue for e in rest)),
            table.amount(sum(e.escrowed for e in rest)),
            *[_cell("")] * 7,
        )
    out.append(
        f"<p>{len(events):,} event(s). Stage split: the stage values attribution recorded for "
        "the event, or, marked <i>(paid)</i>, the revenue the manifest paid to each stage's "
        "assets; largest recipients: the assets paid most of the event (royalties included); "
        "method and standard errors: the values document's diagnostics. Output: the SHA-256 "
        "of the text the event paid for, as the attribution record names it (the full hash "
        "in the tooltip), and the text itself when the report was given the event log "
        "(<code>ame report --events FILE</code>), checked against that hash.</p>"
    )
    out.append(table.html("events", sortable=True))
    out.append("</section>")
    return "".join(out)


#: Characters of an output's text shown in its cell; the whole text is in the tooltip.
_TEXT_SHOWN = 160


def _output_cell(event: EventSummary) -> str:
    """The record's hash of the event's output (short) and the log's text, checked against it."""
    parts = []
    if event.output is not None:
        parts.append(f'<code title="sha256 {_e(event.output)}">{_e(event.output[:12])}…</code>')
    text, check = event.text, event.text_check
    if text is not None:
        shown = text if len(text) <= _TEXT_SHOWN else text[:_TEXT_SHOWN] + "…"
        quoted = f'<q class="output" title="{_e(text)}">{_e(shown)}</q>'
        if check == "matches":
            parts.append(f'{quoted} <span class="ok">✓ matches the record</span>')
        elif check == "differs":
            # Never shown as the output: the log's text is not what the record names.
            parts.append(f'<span class="bad">✗ does not match the record</span> {quoted}')
        else:
            parts.append(f'{quoted} <span class="note">(not checked: no attribution record)</span>')
    elif check == "absent":
        parts.append('<span class="note">not in the event log</span>')
    css = f' data-output="{check}"' if check else ""
    return f"<td{css}>{'<br>'.join(parts) or '—'}</td>"


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


def _how_to_claim(report: Report) -> str:
    settlement = _e(report.settlement)
    out = ['<section id="how-to-claim"><h2>How to claim</h2>']
    out.append(
        "<p>Each paid account has one leaf per epoch. Once an epoch is finalised (after its "
        "challenge window), anyone can claim a leaf: the contract pays the leaf's own account, "
        "whoever sends the transaction, so a friend or a relayer can pay the gas.</p>"
    )
    if report.claim_page:
        out.append(
            f"<p><b>In a browser:</b> the claim page, {_link(report.claim_page)}: connect a "
            "wallet, see what you are owed in every epoch and claim one leaf or all of them.</p>"
        )
    else:
        out.append(
            "<p><b>In a browser:</b> the claim page (<code>docs/claim-page.md</code>; for "
            "development, <code>ame serve</code>) with this chain and contract: "
            f"<code>?chainId={report.chain_id}&amp;settlement={settlement}</code>.</p>"
        )
    out.append(
        "<p><b>From a terminal</b> (no key needed for the first two; add <code>--rpc URL</code> "
        "for your node):</p><pre><code>"
        f"ame owed ADDRESS --settlement {settlement}              # what you are owed, and when\n"
        f"ame proof ADDRESS --epoch N --json --settlement {settlement}  # leaf and Merkle proof\n"
        f"ame claim --account ADDRESS --settlement {settlement} --keystore KEY.json  # claim"
        "</code></pre>"
    )
    files = [(s.epoch, s.proofs_uri) for s in report.epochs if s.proofs_uri]
    if files:
        out.append(
            "<p><b>With any wallet or block explorer:</b> each epoch's proofs file "
            "(<code>ame.proofs/1</code>, <code>docs/manifest.md</code>) holds every account's "
            "leaf and proof, the arguments of the contract's <code>claim</code>:</p><ul>"
        )
        out += [f"<li>epoch {epoch}: {_link(uri)}</li>" for epoch, uri in files]
        out.append("</ul>")
    out.append("</section>")
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
