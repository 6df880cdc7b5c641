"""The report's figures, drawn with matplotlib's Agg canvas and returned as PNG bytes.

No pyplot and no display: each figure is a :class:`~matplotlib.figure.Figure` on a
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`, drawn under matplotlib's
default style (a user's ``matplotlibrc`` cannot change the bytes) and saved without the
``Software`` metadata, so the same numbers give the same PNG bytes. Amounts become
floats here only as coordinates; every label is formatted from the exact integer.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import matplotlib
from matplotlib import colormaps, style, ticker
from matplotlib import colors as mcolors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from ame.report._analysis import ContributorLine, Decision, EventSummary, FlowNode, ValueFlow
from ame.report._collect import GasLine

__all__ = [
    "STAGE_COLORS",
    "contributor_label",
    "decisions_png",
    "events_png",
    "flow_png",
    "gas_png",
    "shares_png",
    "stage_color",
]

#: Formats an exact amount for a label.
Formatter = Callable[[int], str]

_DPI = 100
_CLAIMED, _UNCLAIMED, _CARRIED = "#2e7d32", "#ef6c00", "#9e9e9e"
_ESCROW, _OTHERS, _REVENUE = "#c62828", "#bdbdbd", "#37474f"


#: The colour of each stage of the reference pipeline, the same in every chart of every
#: report (Okabe-Ito: told apart by colour-blind readers too). Other stages take one of
#: :data:`_EXTRA_STAGE_COLORS` by a hash of their name, so they too keep their colour.
STAGE_COLORS: Final[Mapping[str, str]] = {
    "data": "#0072b2",
    "base_model": "#e69f00",
    "adapter": "#009e73",
    "prompt": "#cc79a7",
    "other": "#56b4e9",
    "unknown": "#999999",
    "unattributed": "#bdbdbd",
}
_EXTRA_STAGE_COLORS: Final = (
    "#d55e00",
    "#8c564b",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#9467bd",
    "#393b79",
    "#637939",
)


def stage_color(stage: str) -> str:
    """The fixed colour of a pipeline stage (``#rrggbb``), whatever else the report shows.

    The reference stages have their own (:data:`STAGE_COLORS`); any other stage is given
    one by the SHA-256 of its name, never by its rank, so two reports agree.
    """
    if stage in STAGE_COLORS:
        return STAGE_COLORS[stage]
    digest = hashlib.sha256(stage.encode("utf-8", "surrogatepass")).digest()
    return _EXTRA_STAGE_COLORS[digest[0] % len(_EXTRA_STAGE_COLORS)]


def _text(label: str, limit: int = 40) -> str:
    # Labels come from documents: control characters (a newline would break the layout)
    # and lone surrogates are drawn as U+FFFD; long ones are cut.
    label = "".join(
        "\ufffd" if unicodedata.category(c) in ("Cc", "Cs", "Cf", "Zl", "Zp") else c for c in label
    )
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _render(draw: Callable[[Figure], None], width: float, height: float) -> bytes:
    with (
        style.context("default"),
        matplotlib.rc_context(
            {
                "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs anywhere
                "font.size": 9,
                "axes.titlesize": 11,
                # Labels come from documents: a "$" must not switch to mathtext.
                "text.parse_math": False,
                "path.simplify": True,
            }
        ),
        warnings.catch_warnings(),
    ):
        # Names come from registries in any script; a glyph DejaVu lacks is drawn as a
        # box (the HTML tables hold the text), not worth a warning per report.
        warnings.filterwarnings(
            "ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning
        )
        figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure)
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=_DPI, metadata={"Software": None})
    return out.getvalue()


def _palette(count: int) -> list[str]:
    colors = colormaps["tab20"].colors  # type: ignore[attr-defined]
    # tab20 pairs a strong and a pale tone: strong ones first.
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))
    return [mcolors.to_hex(colors[order[i % 20]]) for i in range(count)]


def flow_png(
    flow: ValueFlow,
    fmt: Formatter,
    *,
    title: str,
    stage_of: Mapping[str, str] | None = None,
) -> bytes:
    """A Sankey-style diagram of ``flow``: columns of nodes, bands as wide as the units moved.

    Stages are drawn in their fixed colours (:func:`stage_color`); without a stage column
    each asset takes its stage's colour, and deeper nodes their largest source's.

    Args:
        flow: The (collapsed) value flow.
        fmt: Formats an amount for the labels.
        title: The figure's title.
        stage_of: Asset id to its stage, for the colours of a flow without stages.
    """
    columns: dict[int, list[FlowNode]] = defaultdict(list)
    for node in flow.nodes:
        columns[node.layer].append(node)
    total = max(flow.total(), 1)
    stage_of = stage_of or {}
    color: dict[str, str] = {}
    for node in flow.nodes:
        if node.kind == "others" and node.id.count(":") == 2:  # a stage's long tail
            color[node.id] = stage_color(node.id.split(":", 2)[2])
        if node.layer != 1 or node.id.endswith("unattributed"):
            continue
        if node.kind == "stage":
            color[node.id] = stage_color(node.id.removeprefix("stage:"))
        elif node.kind == "asset":
            color[node.id] = stage_color(stage_of.get(node.id.removeprefix("asset:"), "unknown"))
    for node in flow.nodes:
        color.setdefault(node.id, _color_of(node, flow, color))
    gap, min_slot, width = 0.025, 0.045, 0.06
    # Each node gets room for its label even when its band is thin.
    top: dict[str, float] = {}
    height: dict[str, float] = {}
    extent = 0.0
    for nodes in columns.values():
        y = 0.0
        for node in nodes:
            height[node.id] = node.value / total
            top[node.id] = -y
            y += max(height[node.id], min_slot) + gap
        extent = max(extent, y - gap)
    rows = max(len(nodes) for nodes in columns.values())

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        out_cursor = dict(top)
        in_cursor = dict(top)
        order = {node.id: i for i, node in enumerate(flow.nodes)}
        for link in sorted(flow.links, key=lambda k: (order[k.source], order[k.target])):
            source, target = flow.node(link.source), flow.node(link.target)
            band = link.value / total
            y0, y1 = out_cursor[source.id], in_cursor[target.id]
            out_cursor[source.id] -= band
            in_cursor[target.id] -= band
            x0, x1 = source.layer + width, target.layer
            mid = (x0 + x1) / 2
            path = MplPath(
                [
                    (x0, y0),
                    (mid, y0),
                    (mid, y1),
                    (x1, y1),
                    (x1, y1 - band),
                    (mid, y1 - band),
                    (mid, y0 - band),
                    (x0, y0 - band),
                    (x0, y0),
                ],
                [MplPath.MOVETO]
                + [MplPath.CURVE4] * 3
                + [MplPath.LINETO]
                + [MplPath.CURVE4] * 3
                + [MplPath.CLOSEPOLY],
            )
            tone = color[target.id] if source.kind == "revenue" else color[source.id]
            ax.add_patch(PathPatch(path, facecolor=tone, edgecolor="none", alpha=0.45))
        for node in flow.nodes:
            ax.add_patch(
                Rectangle(
                    (node.layer, top[node.id] - height[node.id]),
                    width,
                    max(height[node.id], 0.002),
                    facecolor=color[node.id],
                    edgecolor="none",
                )
            )
            share = f"{100 * node.value / total:.1f}%"
            first = node.layer == 0  # labelled on its left, clear of the bands
            ax.text(
                node.layer - 0.02 if first else node.layer + width + 0.02,
                top[node.id] - min(height[node.id], min_slot) / 2,
                f"{_text(node.label)}\n{fmt(node.value)} ({share})",
                va="center",
                ha="right" if first else "left",
                fontsize=7.5,
            )
        layers = len(flow.layers)
        for i, name in enumerate(flow.layers):
            ax.text(i + width / 2, 0.035, name, ha="center", va="bottom", fontweight="bold")
        ax.set_xlim(-0.45, layers - 1 + 0.75)
        ax.set_ylim(-extent - 0.02, 0.09)
        ax.set_axis_off()
        ax.set_title(title)

    return _render(draw, 11.0, min(max(3.2, 0.55 * rows + 1.2), 11.0))


def _color_of(node: FlowNode, flow: ValueFlow, known: dict[str, str]) -> str:
    if node.kind == "revenue":
        return _REVENUE
    if node.kind == "escrow":
        return _ESCROW
    if node.kind == "others" or node.id.endswith("unattributed"):
        return _OTHERS
    # Deeper nodes take the colour of their largest source.
    sources = [link for link in flow.links if link.target == node.id]
    if sources:
        best = max(sources, key=lambda k: (k.value, k.source))
        if best.source in known:
            return known[best.source]
    return _OTHERS


def contributor_label(line: ContributorLine, limit: int = 28) -> str:
    """A contributor as a chart names it: its registry name and a short address."""
    short = f"{line.account[:6]}…{line.account[-4:]}"
    if not line.names:
        return short
    return f"{_text(' / '.join(line.names), limit)} ({short})"


def shares_png(
    contributors: Sequence[ContributorLine], fmt: Formatter, *, title: str, top: int = 20
) -> bytes:
    """Horizontal bars of the largest earners' shares of the epoch's earnings, by claim state.

    The ``top`` largest earners are drawn, named; what the others earned together is
    written under the chart rather than drawn, so a long tail of small earners cannot
    flatten the bars of the named ones. The axis runs to 100 % at most and the figure's
    size is bounded whatever the number of contributors.
    """
    earning = [c for c in contributors if c.earned > 0]
    shown = earning[:top]
    rest = earning[len(shown) :]
    total = sum(c.earned for c in earning) or 1
    labels = [contributor_label(c) for c in shown]
    values = [c.earned for c in shown]
    colors = [
        _CARRIED if c.claimed is None else _CLAIMED if c.claimed else _UNCLAIMED for c in shown
    ]
    caption = "share of the epoch's earnings (%)"
    if rest:
        title = f"{title}: the {len(shown)} largest of {len(earning):,}"
        others = sum(c.earned for c in rest)
        caption += (
            f"\nthe other {len(rest):,} accounts together: {100 * others / total:.2f}% · "
            f"{fmt(others)} (every one in the table below)"
        )

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        positions = list(range(len(values)))
        shares = [100 * v / total for v in values]
        ax.barh(positions, shares, color=colors)
        ax.set_yticks(positions, labels=labels)
        ax.invert_yaxis()
        ax.set_xlabel(caption)
        limit = min(100.0, max(shares, default=1) * 1.45)
        ax.set_xlim(0, limit)
        for y, (share, value) in enumerate(zip(shares, values, strict=True)):
            label = f"{share:.2f}% · {fmt(value)}"
            if share > 0.6 * limit:  # no room to its right: inside the bar
                ax.text(
                    share, y, f"{label}  ", va="center", ha="right", fontsize=7.5, color="white"
                )
            else:
                ax.text(share, y, f"  {label}", va="center", fontsize=7.5)
        legend = [
            (tone, name)
            for tone, name in (
                (_CLAIMED, "paid, claimed"),
                (_UNCLAIMED, "paid, not claimed"),
                (_CARRIED, "carried forward"),
            )
            if tone in colors
        ]
        ax.legend(
            [Rectangle((0, 0), 1, 1, color=tone) for tone, _ in legend],
            [name for _, name in legend],
            loc="lower right",
            fontsize=7.5,
        )
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)

    return _render(draw, 9.0, min(max(2.6, 0.32 * len(values) + 1.6), 10.0))


def events_png(
    events: Sequence[EventSummary], fmt: Formatter, *, title: str, top: int = 15
) -> bytes:
    """Each of the largest events' stage split, as a bar of 100 % in the stages' colours.

    The ``top`` events with the most revenue are drawn, their revenue written beside;
    the rest are one ``N other events`` bar (their splits weighted by revenue), so the
    figure's size is bounded. An event nobody was attributed in is a grey bar.
    """
    ranked = sorted(events, key=lambda e: (-e.revenue, e.id))
    shown = ranked[:top] if len(ranked) <= top + 1 else ranked[: top - 1]
    rest = ranked[len(shown) :]
    rows: list[tuple[str, int, dict[str, float]]] = [
        (_text(e.id, 32), e.revenue, {s: float(v) for s, v in e.stages}) for e in shown
    ]
    if rest:
        revenue = sum(e.revenue for e in rest)
        merged: dict[str, float] = defaultdict(float)
        for event in rest:
            for stage, share in event.stages:
                merged[stage] += float(share) * event.revenue / max(revenue, 1)
        rows.append((f"{len(rest):,} other events", revenue, dict(merged)))
    stages = sorted({s for _, _, split in rows for s in split})

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        positions = list(range(len(rows)))
        done = [0.0] * len(rows)
        for stage in stages:
            widths = [split.get(stage, 0.0) for _, _, split in rows]
            ax.barh(positions, widths, left=done, color=stage_color(stage), label=stage)
            done = [a + b for a, b in zip(done, widths, strict=True)]
        for y, (_, revenue, split) in enumerate(rows):
            if not split:  # nothing attributed: held in escrow whole
                ax.barh([y], [1.0], color=_OTHERS)
            ax.text(1.0, y, f"  {fmt(revenue)}", va="center", fontsize=7.5)
        ax.set_yticks(positions, labels=[label for label, _, _ in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, 1.4)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], labels=["0", "25", "50", "75", "100 %"])
        ax.set_xlabel("stage split of each event (%), and its revenue")
        if stages:
            ax.legend(fontsize=7.5, loc="lower right")
        ax.set_title(title)

    return _render(draw, 9.0, min(max(2.6, 0.32 * len(rows) + 1.4), 8.0))


def decisions_png(items: Sequence[Decision], fmt: Formatter, *, title: str) -> bytes:
    """Withheld lines by reason: units escrowed (left) and lines escrowed or redistributed (right)."""
    escrowed: dict[str, int] = defaultdict(int)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for item in items:
        reason = " + ".join(dict.fromkeys(_reason_label(r) for r in item.reasons)) or "(none)"
        counts[reason, item.action] += 1
        if item.action == "escrowed":
            escrowed[reason] += item.amount
    reasons = sorted({r for r, _ in counts}, key=lambda r: (-escrowed.get(r, 0), r))[:15]

    def draw(figure: Figure) -> None:
        left, right = figure.subplots(1, 2, sharey=True)
        positions = list(range(len(reasons)))
        units = [escrowed.get(r, 0) for r in reasons]
        top = max(units, default=0) or 1
        left.barh(positions, [u / top for u in units], color=_ESCROW)
        left.set_yticks(positions, labels=[_text(r, 48) for r in reasons])
        left.invert_yaxis()
        left.set_xlim(0, 1.6)
        left.set_xticks([])
        left.set_title("escrowed, by reason")
        for y, u in enumerate(units):
            left.text(u / top, y, f"  {fmt(u)}", va="center", fontsize=7.5)
        done = [0] * len(reasons)
        actions = [a for a in ("escrowed", "redistributed") if any(k[1] == a for k in counts)]
        for action in actions:
            values = [counts.get((r, action), 0) for r in reasons]
            tone = _ESCROW if action == "escrowed" else _UNCLAIMED
            right.barh(positions, values, left=done, color=tone, label=action)
            done = [a + b for a, b in zip(done, values, strict=True)]
        for y, count in enumerate(done):
            right.text(count, y, f"  {count}", va="center", fontsize=7.5)
        right.set_xlim(0, max(done, default=1) * 1.25)
        right.set_xlabel("lines withheld")
        right.set_title("lines withheld, by action")
        if len(actions) > 1:
            right.legend(fontsize=7.5, loc="lower right")
        right.xaxis.get_major_locator().set_params(integer=True)
        figure.suptitle(title)

    return _render(draw, 10.0, min(max(2.6, 0.35 * len(reasons) + 1.6), 8.0))


def _reason_label(reason: str) -> str:
    # Reason codes of docs/registry.md, short enough for an axis.
    code, _, rest = reason.partition(":")
    if code == "opted_out":
        return f"opt-out ({rest.rpartition(':')[2] or 'signal'})"
    if code == "derivative_not_allowed":
        return f"no derivatives ({rest})"
    if code == "ancestor_non_commercial":
        return f"ancestor non-commercial ({rest})"
    if code == "licence_expired":
        return f"licence expired {rest}"
    return reason.replace("_", " ")


#: The order of an epoch's life, for the gas chart.
_STEP_ORDER = (
    "approve",
    "propose",
    "prove-fraud",
    "dispute",
    "uphold",
    "reject",
    "dismiss",
    "resolve",
    "finalize",
    "claim",
    "refund",
    "sweep",
)


def gas_png(lines: Sequence[GasLine], *, title: str) -> bytes:
    """Bars of the gas used per step (summed over its transactions), labelled with the counts."""
    used: dict[str, int] = defaultdict(int)
    txs: dict[str, int] = defaultdict(int)
    for line in lines:
        used[line.step] += line.gas_used
        txs[line.step] += 1
    steps = sorted(
        used, key=lambda s: (_STEP_ORDER.index(s) if s in _STEP_ORDER else len(_STEP_ORDER), s)
    )

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        positions = list(range(len(steps)))
        values = [used[s] for s in steps]
        ax.bar(positions, values, color=_palette(len(steps)))
        ax.set_xticks(positions, labels=steps)
        ax.set_ylabel("gas used")
        ax.set_ylim(0, max(values, default=1) * 1.25)
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        for x, step in enumerate(steps):
            ax.text(
                x,
                used[step],
                f"{used[step]:,}\n{txs[step]} tx",
                ha="center",
                va="bottom",
                fontsize=7.5,
            )
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)

    return _render(draw, 8.0, 3.6)
