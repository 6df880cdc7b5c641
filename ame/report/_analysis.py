"""What a report says about one epoch, computed from its manifest alone, in exact integers.

Everything here is pure: a :class:`~offchain.mapping.Manifest`, the asset kinds of its
registry and, when attribution recorded them, the per-event stage values. The report
draws from these numbers; no amount is a float (plots turn them into coordinates only).

Value flow. Every unit of an event's revenue ends in a manifest line ``(asset x,
claim c_x, amount m, action)`` or, for an event without attribution, in escrow.
Mapping says which attributed asset ``a`` created the units each ``x`` received
(:attr:`Manifest.flow <offchain.mapping.Manifest.flow>`, ``x`` itself or an ancestor
by royalty), and so which pipeline stage: revenue -> stage of ``a`` -> recipient ``x``
-> ``x``'s owners (paid lines) or escrow (withheld lines). Without stages the middle
layer is left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from offchain.mapping import Manifest, Values

__all__ = [
    "KIND_STAGES",
    "ContributorLine",
    "Decision",
    "EventSummary",
    "FlowLink",
    "FlowNode",
    "NodeKind",
    "OutputCheck",
    "StageLine",
    "ValueFlow",
    "contributor_lines",
    "decisions",
    "event_summaries",
    "stage_lines",
    "value_flow",
]

#: The pipeline stage an asset of each registry kind belongs to, when no mapping is given
#: (the reference pipeline's stages: ``data``, ``base_model``, ``adapter``, ``prompt``).
KIND_STAGES: Mapping[str, str] = {
    "dataset": "data",
    "base_model": "base_model",
    "adapter": "adapter",
    "prompt": "prompt",
    "other": "other",
}

#: What a node of the flow diagram stands for.
NodeKind = Literal["revenue", "stage", "asset", "account", "escrow", "others"]

REVENUE = "revenue"
ESCROWED = "escrowed"
UNATTRIBUTED = "unattributed"


@dataclass(frozen=True)
class FlowNode:
    """A node of the value flow: ``layer`` 0 is revenue, the last layer accounts and escrow.

    Attributes:
        id: Unique within the flow (``stage:data``, ``asset:a1``, ``account:0x..``).
        label: What to print.
        layer: Column, left to right.
        kind: What it stands for.
        value: Units flowing through it (its inflow; revenue: its outflow).
    """

    id: str
    label: str
    layer: int
    kind: NodeKind
    value: int


@dataclass(frozen=True)
class FlowLink:
    """``value`` units moving from node ``source`` to node ``target``."""

    source: str
    target: str
    value: int


@dataclass(frozen=True)
class ValueFlow:
    """A layered flow from revenue to accounts and escrow; every node conserves its units.

    Attributes:
        layers: Names of the columns (``revenue``, [``stages``], ``assets``, ``accounts``).
        nodes: In column order, then by decreasing value (ties by id).
        links: Sorted by source then target.
    """

    layers: tuple[str, ...]
    nodes: tuple[FlowNode, ...]
    links: tuple[FlowLink, ...]

    def total(self) -> int:
        """Units leaving the revenue node (the epoch's revenue)."""
        return sum(link.value for link in self.links if link.source == REVENUE)

    def node(self, node_id: str) -> FlowNode:
        """The node with this id.

        Raises:
            KeyError: There is none.
        """
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def collapsed(self, keep: int, *, group: Mapping[str, str] | None = None) -> ValueFlow:
        """The flow with at most ``keep`` nodes of each stage/asset/account layer; the
        smaller ones merged into ``N others`` nodes (units conserved).

        Revenue, escrow and ``unattributed`` nodes are always kept.

        Args:
            keep: Nodes kept per layer, the merged ones included.
            group: Node id to a group (an asset's stage, say): the merged nodes of a layer
                become one ``N other <group> assets`` node per group (id
                ``others:<layer>:<group>``) rather than one for the layer, so a long tail
                still shows where its value came from. Nodes without a group merge into
                ``others:<layer>``.
        """
        group = group or {}
        rename: dict[str, str] = {}
        by_layer: dict[int, list[FlowNode]] = defaultdict(list)
        for node in self.nodes:
            if node.kind in ("stage", "asset", "account") and not node.id.endswith(UNATTRIBUTED):
                by_layer[node.layer].append(node)
        others: list[FlowNode] = []
        for layer, nodes in sorted(by_layer.items()):
            if len(nodes) <= keep:
                continue
            dropped = nodes[keep - 1 :] if keep > 0 else nodes
            noun = {"stage": "stages", "asset": "assets", "account": "accounts"}[dropped[0].kind]
            parts: dict[str, list[FlowNode]] = defaultdict(list)
            for node in dropped:
                parts[group.get(node.id, "")].append(node)
            for name, members in sorted(parts.items()):
                node_id = f"others:{layer}:{name}" if name else f"others:{layer}"
                for node in members:
                    rename[node.id] = node_id
                label = f"{len(members):,} other {name + ' ' if name else ''}{noun}"
                others.append(
                    FlowNode(node_id, label, layer, "others", sum(n.value for n in members))
                )
        if not rename:
            return self
        merged: dict[tuple[str, str], int] = defaultdict(int)
        for link in self.links:
            merged[rename.get(link.source, link.source), rename.get(link.target, link.target)] += (
                link.value
            )
        kept = [n for n in self.nodes if n.id not in rename]
        return ValueFlow(self.layers, _ordered(kept + others), _links(merged))


def _ordered(nodes: Sequence[FlowNode]) -> tuple[FlowNode, ...]:
    # Largest first; "others" and escrow sink to the bottom of their column.
    rank = {"others": 1, "escrow": 2}
    return tuple(sorted(nodes, key=lambda n: (n.layer, rank.get(n.kind, 0), -n.value, n.id)))


def _links(values: Mapping[tuple[str, str], int]) -> tuple[FlowLink, ...]:
    return tuple(FlowLink(s, t, v) for (s, t), v in sorted(values.items()) if v > 0)


def _short(account: str) -> str:
    return f"{account[:6]}…{account[-4:]}"


def value_flow(
    manifest: Manifest,
    kinds: Mapping[str, str] | None = None,
    *,
    staged: bool = False,
    stage_of: Mapping[str, str] | None = None,
) -> ValueFlow:
    """The epoch's revenue traced through stages (optional) and assets to accounts and escrow.

    Args:
        manifest: The epoch's manifest.
        kinds: Asset id to registry kind (decides the stage when ``stage_of`` does not).
        staged: Draw the stage layer (when attribution recorded stages).
        stage_of: Asset id to stage id; overrides :data:`KIND_STAGES`.

    Returns:
        The flow; ``flow.total() == manifest.totals.revenue`` and the account and escrow
        nodes hold every unit (``Σ earned + escrowed == revenue``).
    """
    kinds = kinds or {}
    stage_of = stage_of or {}
    links: dict[tuple[str, str], int] = defaultdict(int)
    labels: dict[str, tuple[str, int, NodeKind]] = {REVENUE: ("revenue", 0, "revenue")}
    asset_layer = 2 if staged else 1
    account_layer = asset_layer + 1

    def stage_node(asset: str | None) -> str:
        if asset is None:
            stage = UNATTRIBUTED
        else:
            stage = stage_of.get(asset) or KIND_STAGES.get(kinds.get(asset, ""), "unknown")
        node = f"stage:{stage}"
        labels[node] = (stage, 1, "stage")
        return node

    def asset_node(asset: str | None) -> str:
        node = f"asset:{asset}" if asset is not None else f"asset:{UNATTRIBUTED}"
        labels[node] = (asset or UNATTRIBUTED, asset_layer, "asset")
        return node

    escrow_node = "escrow"
    labels[escrow_node] = (ESCROWED, account_layer, "escrow")
    for event in manifest.events:
        for line in event.lines:
            if line.amount == 0:
                continue
            target = asset_node(line.asset)
            if not staged:
                links[REVENUE, target] += line.amount
            if line.action == "escrowed":
                links[target, escrow_node] += line.amount
    if staged:
        for origin, recipient, amount in manifest.flow:
            stage, target = stage_node(origin), asset_node(recipient)
            links[REVENUE, stage] += amount
            links[stage, target] += amount
    for entry in manifest.escrow:
        if entry.asset is None:
            target = asset_node(None)
            if staged:
                stage = stage_node(None)
                links[REVENUE, stage] += entry.amount
                links[stage, target] += entry.amount
            else:
                links[REVENUE, target] += entry.amount
            links[target, escrow_node] += entry.amount
    for payout in manifest.assets:
        source = asset_node(payout.id)
        for owner in payout.owners:
            node = f"account:{owner.account}"
            labels[node] = (_short(owner.account), account_layer, "account")
            links[source, node] += owner.amount
    inflow: dict[str, int] = defaultdict(int)
    for (_, target), value in links.items():
        inflow[target] += value
    inflow[REVENUE] = sum(v for (s, _), v in links.items() if s == REVENUE)
    nodes = [
        FlowNode(node, label, layer, kind, inflow[node])
        for node, (label, layer, kind) in labels.items()
        if inflow[node] > 0
    ]
    layers = (
        ("revenue", "stages", "assets", "accounts") if staged else ("revenue", "assets", "accounts")
    )
    return ValueFlow(layers, _ordered(nodes), _links(links))


@dataclass(frozen=True)
class StageLine:
    """One pipeline stage: what attribution said it was worth, and what went through it.

    Attributes:
        stage: The stage id.
        value_share: Revenue-weighted share of the stage values recorded in the values
            document (``Σ_e revenue_e · v_es / Σ_s v_es`` over ``Σ_e revenue_e``), for the
            events that recorded stages; None when no event named this stage.
        routed: Units of revenue the manifest traces to assets of this stage (paid or escrowed).
    """

    stage: str
    value_share: Fraction | None
    routed: int


def stage_lines(
    flow: ValueFlow,
    stages: Mapping[str, Mapping[str, Fraction]],
    revenue: Mapping[str, int],
) -> list[StageLine]:
    """Compare the values document's stage values with the revenue the flow routes per stage.

    Args:
        flow: A staged :func:`value_flow`.
        stages: Event id to ``{stage id: value}`` (events without stages left out).
        revenue: Event id to revenue.
    """
    weighted: dict[str, Fraction] = defaultdict(Fraction)
    staged_revenue = 0
    for event, values in stages.items():
        total = sum(values.values(), Fraction(0))
        if total <= 0 or event not in revenue:
            continue
        staged_revenue += revenue[event]
        for stage, value in values.items():
            weighted[stage] += revenue[event] * value / total
    routed = {
        link.target.removeprefix("stage:"): link.value
        for link in flow.links
        if link.source == REVENUE and link.target.startswith("stage:")
    }
    names = sorted(set(routed) | set(weighted), key=lambda s: (-routed.get(s, 0), s))
    return [
        StageLine(
            name,
            weighted[name] / staged_revenue if staged_revenue and name in weighted else None,
            routed.get(name, 0),
        )
        for name in names
    ]


@dataclass(frozen=True)
class ContributorLine:
    """One account of the epoch: what it earned, in which roles, what it was paid.

    Attributes:
        account: The payout address.
        role: The roles it earned in, e.g. ``dataset owner, royalty recipient``.
        share: Its part of the epoch's earnings (``earned / Σ earned``).
        earned: Units earned this epoch.
        carried_in: Balance carried in from earlier epochs.
        paid: Its leaf's amount, what the contract pays it (0 when carried forward).
        carried_out: Balance carried to the next epoch (below the minimum payout).
        leaf: Its leaf index, when paid.
        claimed: Whether its leaf was claimed; None when it has no leaf.
        names: Its owners' names in the registry (for people; untrusted text).
    """

    account: str
    role: str
    share: Fraction
    earned: int
    carried_in: int
    paid: int
    carried_out: int
    leaf: int | None
    claimed: bool | None
    names: tuple[str, ...] = ()


def _royalty_assets(manifest: Manifest) -> set[str]:
    # An asset paid in an event it was not attributed in earns there by royalty.
    out: set[str] = set()
    for event in manifest.events:
        weighted = {a for a, _ in event.weights}
        out.update(
            line.asset
            for line in event.lines
            if line.action == "paid" and line.amount and line.asset not in weighted
        )
    return out


def contributor_lines(
    manifest: Manifest,
    kinds: Mapping[str, str] | None = None,
    claimed: Sequence[int] = (),
    names: Mapping[str, Sequence[str]] | None = None,
) -> list[ContributorLine]:
    """Every account of the manifest, largest earnings first (ties by address).

    Args:
        manifest: The epoch's manifest.
        kinds: Asset id to registry kind (roles say ``asset`` when unknown).
        claimed: Indices of the leaves claimed on-chain.
        names: Account (checksummed) to its names in the registry.
    """
    kinds = kinds or {}
    names = names or {}
    royalty = _royalty_assets(manifest)
    roles: dict[str, set[str]] = defaultdict(set)
    for payout in manifest.assets:
        for owner in payout.owners:
            if owner.amount == 0:
                continue
            kind = kinds.get(payout.id, "asset")
            roles[owner.account].add(f"{kind} {'owner' if owner.share == 1 else 'co-owner'}")
            if payout.id in royalty:
                roles[owner.account].add("royalty recipient")
    leaves = {leaf.account: leaf for leaf in manifest.leaves}
    total = sum(b.earned for b in manifest.accounts)
    done = set(claimed)
    lines = []
    for balance in manifest.accounts:
        leaf = leaves.get(balance.account)
        lines.append(
            ContributorLine(
                account=balance.account,
                role=", ".join(sorted(roles[balance.account])) or "carried balance",
                share=Fraction(balance.earned, total) if total else Fraction(0),
                earned=balance.earned,
                carried_in=balance.carried_in,
                paid=leaf.amount if leaf is not None else 0,
                carried_out=balance.carried_out,
                leaf=leaf.index if leaf is not None else None,
                claimed=None if leaf is None else leaf.index in done,
                names=tuple(sorted(set(names.get(balance.account, ())))),
            )
        )
    return sorted(lines, key=lambda c: (-c.earned, -c.paid, int(c.account, 16)))


@dataclass(frozen=True)
class Decision:
    """A licence or opt-out decision: an asset withheld from an event, or an event unattributed.

    Attributes:
        event: The event id.
        asset: The asset withheld; None for an event nobody was attributed in.
        action: ``escrowed`` (held for dispute) or ``redistributed`` (shared among the
            event's eligible assets).
        amount: Units escrowed (0 when redistributed).
        claim_share: The asset's part of the event's claims before the filter (what it
            would have had).
        reasons: The filters that withheld it (``non_commercial``, ``opted_out:...``, ...).
    """

    event: str
    asset: str | None
    action: str
    amount: int
    claim_share: Fraction
    reasons: tuple[str, ...]


def decisions(manifest: Manifest) -> list[Decision]:
    """Every withheld line and unattributed event of the manifest, by event then asset."""
    out = []
    for event in manifest.events:
        claims = sum(line.claim for line in event.lines)
        for line in event.lines:
            if line.action == "paid":
                continue
            share = Fraction(line.claim, claims) if claims else Fraction(0)
            out.append(
                Decision(event.id, line.asset, line.action, line.amount, share, line.reasons)
            )
    out.extend(
        Decision(x.event, None, "escrowed", x.amount, Fraction(1), x.reasons)
        for x in manifest.escrow
        if x.asset is None
    )
    return sorted(out, key=lambda d: (d.event, d.asset or ""))


#: What the report says of an event's text from the log, against the record's hash.
OutputCheck = Literal["", "matches", "differs", "unchecked", "absent"]


@dataclass(frozen=True)
class EventSummary:
    """One revenue event of the epoch: what it earned, how the stages split it, who got most.

    Attributes:
        id: The event id.
        date: Its UTC day (ISO ``YYYY-MM-DD``).
        commercial: Whether it was a commercial use.
        revenue: Its revenue, in token units.
        escrowed: Units of it held in escrow (withheld lines, or nobody attributed).
        stages: ``(stage, share)`` largest first: the values document's stage values when
            attribution recorded them (``stage_source`` ``attribution``), else the revenue
            each stage's assets received in the manifest (``paid``).
        stage_source: ``attribution``, ``paid`` or ``""`` (nothing to split).
        top: The assets the manifest gave most of the event, ``(asset, units)``, largest first.
        assets: How many assets received part of the event.
        method: The valuation method the values document names (``diagnostics.method``).
        max_stderr: The largest standard error of an asset's value it reports (0 when exact).
        notes: The values document's diagnostic notes for the event.
        output: SHA-256 (hex) of the event's output text, as the attribution record names
            it; None without a record.
        text: The output's text from the event log the report was given; None without one.
        text_check: ``text`` against ``output``: ``matches``, ``differs``, ``unchecked``
            (no record to check it against) or ``absent`` (not in the log); ``""`` when
            no log was given.
    """

    id: str
    date: str
    commercial: bool
    revenue: int
    escrowed: int
    stages: tuple[tuple[str, Fraction], ...]
    stage_source: Literal["attribution", "paid", ""]
    top: tuple[tuple[str, int], ...]
    assets: int
    method: str | None = None
    max_stderr: float | None = None
    notes: tuple[str, ...] = ()
    output: str | None = None
    text: str | None = None
    text_check: OutputCheck = ""


def event_summaries(
    manifest: Manifest,
    kinds: Mapping[str, str] | None = None,
    *,
    stage_of: Mapping[str, str] | None = None,
    stages: Mapping[str, Mapping[str, Fraction]] | None = None,
    values: Values | None = None,
    top: int = 3,
) -> list[EventSummary]:
    """One summary per event of the manifest, in the manifest's order.

    Args:
        manifest: The epoch's manifest.
        kinds: Asset id to registry kind (an asset's stage when ``stage_of`` does not say).
        stage_of: Asset id to stage id; overrides :data:`KIND_STAGES`.
        stages: Event id to the values document's ``{stage: value}`` (when recorded).
        values: The values document, for each event's diagnostics (method, standard errors).
        top: How many of the largest recipients to keep per event.
    """
    kinds, stage_of, stages = kinds or {}, stage_of or {}, stages or {}
    events = {str(e.id): e for e in values.events} if values is not None else {}
    out = []
    for event in manifest.events:
        received: dict[str, int] = defaultdict(int)
        for line in event.lines:
            if line.amount and line.action == "paid":
                received[str(line.asset)] += line.amount
        recorded = stages.get(str(event.id))
        split: dict[str, Fraction] = {}
        source: Literal["attribution", "paid", ""] = ""
        if recorded and sum(recorded.values(), Fraction(0)) > 0:
            total = sum(recorded.values(), Fraction(0))
            split = {s: v / total for s, v in recorded.items() if v > 0}
            source = "attribution"
        elif received:
            by_stage: dict[str, int] = defaultdict(int)
            for asset, units in received.items():
                by_stage[
                    stage_of.get(asset) or KIND_STAGES.get(kinds.get(asset, ""), "unknown")
                ] += units
            paid = sum(by_stage.values())
            split = {s: Fraction(v, paid) for s, v in by_stage.items()}
            source = "paid"
        ranked = sorted(received.items(), key=lambda item: (-item[1], item[0]))
        diagnostics = getattr(events.get(str(event.id)), "diagnostics", None)
        out.append(
            EventSummary(
                id=str(event.id),
                date=event.date.isoformat(),
                commercial=bool(event.commercial),
                revenue=int(event.revenue),
                escrowed=int(event.escrowed),
                stages=tuple(sorted(split.items(), key=lambda item: (-item[1], item[0]))),
                stage_source=source,
                top=tuple(ranked[:top]),
                assets=len(received),
                method=diagnostics.method if diagnostics is not None else None,
                max_stderr=(
                    max(diagnostics.stderr.values(), default=0.0)
                    if diagnostics is not None
                    else None
                ),
                notes=tuple(diagnostics.notes) if diagnostics is not None else (),
            )
        )
    return out
