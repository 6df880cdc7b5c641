"""Hypothesis strategies for random registries, values, policies and carried ledgers,
and the reference (path-enumeration) royalty oracle the engine is checked against."""

from __future__ import annotations

import random
from collections import defaultdict
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from offchain.mapping import Registry

from ._builders import HASH, address

ROYALTIES = ["0", "1%", "250bps", "1/7", "5%", "12.5%", "1/3", "100%"]
DATES = ["2026-01-01", "2026-06-01", "2026-06-02", "2027-01-01"]
KINDS = ["dataset", "base_model", "adapter", "prompt", "other"]
USES = ["data_mining", "ai_training", "ai_generative_training", "ai_inference"]
ACCOUNTS = [address(n) for n in (1, 2, 0xFFFF, 3, 2**159, 2**160 - 1)]


def _fraction(text: str) -> Fraction:
    if text.endswith("bps"):
        return Fraction(int(text[:-3]), 10_000)
    if text.endswith("%"):
        return Fraction(text[:-1]) / 100
    return Fraction(text)


@st.composite
def registry_docs(draw: st.DrawFn, max_assets: int = 7) -> dict[str, Any]:
    """A valid registry document: a random DAG whose LAP stacks stay within 100 %."""
    n = draw(st.integers(1, max_assets))
    mode = draw(st.sampled_from(["LAP", "LRP"]))
    assets: list[dict[str, Any]] = []
    lap_stack: list[Fraction] = []
    direct: list[Fraction] = []
    for i in range(n):
        parents = []
        stack = Fraction(0)
        paid = Fraction(0)
        for p in draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []:
            text = draw(st.sampled_from(ROYALTIES))
            royalty = _fraction(text)
            if paid + royalty > 1 or (mode == "LAP" and stack + royalty + lap_stack[p] > 1):
                continue
            paid += royalty
            stack += royalty + lap_stack[p]
            parents.append({"asset": f"a{p}", "relation": "derived_from", "royalty": text})
        lap_stack.append(stack)
        direct.append(paid)
        owners = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=3, unique=True))
        weights = draw(st.lists(st.integers(1, 5), min_size=len(owners), max_size=len(owners)))
        licence: dict[str, Any] = {
            "commercial_use": draw(st.sampled_from([True, True, True, False])),
            "derivatives_allowed": draw(st.sampled_from([True, True, True, False])),
            "attribution_required": draw(st.booleans()),
        }
        if draw(st.integers(0, 4)) == 0:
            licence["expires"] = draw(st.sampled_from(DATES))
        signals: dict[str, Any] = {}
        if draw(st.integers(0, 5)) == 0:
            signals = {
                "do_not_train": draw(st.booleans()),
                "tdm_reservation": draw(st.booleans()),
                "training_mining": draw(
                    st.dictionaries(
                        st.sampled_from(USES),
                        st.sampled_from(["allowed", "notAllowed", "constrained"]),
                    )
                ),
            }
        assets.append(
            {
                "id": f"a{i}",
                "kind": draw(st.sampled_from(KINDS)),
                "content_hash": HASH,
                "uri": f"ar://a{i}",
                "owners": [
                    {"address": a, "share": f"{w}/{sum(weights)}"}
                    for a, w in zip(owners, weights, strict=True)
                ],
                "licence": licence,
                "parents": parents,
                "signals": signals,
            }
        )
    return {"format": "ame.registry/1", "revision": 1, "royalty_mode": mode, "assets": assets}


VALUE = st.one_of(
    st.integers(0, 1000),
    st.sampled_from(["0.1", "0.25", "1/3", "2/7", "1e-3", "0"]),
    st.floats(0, 10, allow_nan=False, allow_infinity=False),
)
REVENUE = st.one_of(st.integers(0, 12), st.integers(0, 10**24))


@st.composite
def values_docs(draw: st.DrawFn, asset_ids: list[str], epoch: int = 1) -> dict[str, Any]:
    """A values document over the given assets."""
    count = draw(st.integers(0, 5))
    events = []
    for e in range(count):
        events.append(
            {
                "id": f"e{e}",
                "revenue": draw(REVENUE),
                "commercial": draw(st.booleans()),
                "date": draw(st.sampled_from(DATES)),
                "values": draw(st.dictionaries(st.sampled_from(asset_ids), VALUE, max_size=4)),
            }
        )
    return {"format": "ame.values/1", "epoch": epoch, "events": events}


policy_docs = st.fixed_dictionaries(
    {
        "withheld": st.sampled_from(["escrow", "redistribute"]),
        "min_payout": st.sampled_from([1, 7, 1000, 10**18]),
    }
)

carried_docs = st.fixed_dictionaries(
    {
        "epoch": st.just(0),
        "balances": st.dictionaries(st.sampled_from(ACCOUNTS), st.integers(0, 2000), max_size=3),
    }
)


def shuffled(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same document with every list and mapping whose order carries no meaning permuted."""

    def perm(items: list[Any]) -> list[Any]:
        items = list(items)
        rng.shuffle(items)
        return items

    out = dict(doc)
    if "assets" in doc:
        out["assets"] = [
            {**a, "owners": perm(a["owners"]), "parents": perm(a["parents"])}
            for a in perm(doc["assets"])
        ]
    if "events" in doc:
        out["events"] = [
            {**e, "values": dict(perm(list(e["values"].items())))} for e in perm(doc["events"])
        ]
    if "balances" in doc:
        out["balances"] = dict(perm(list(doc["balances"].items())))
    return out


def enumerate_lap(registry: Registry, asset: str) -> dict[str, Fraction]:
    """LAP by brute force: walk every path; each edge's parent takes its royalty of the source."""
    shares: dict[str, Fraction] = defaultdict(Fraction)
    shares[asset] = Fraction(1)

    def walk(node: str) -> None:
        for parent in registry.by_id[node].parents:
            shares[parent.asset] += parent.royalty
            shares[asset] -= parent.royalty
            walk(parent.asset)

    walk(asset)
    return {a: s for a, s in shares.items() if s}


def enumerate_lrp(registry: Registry, asset: str) -> dict[str, Fraction]:
    """LRP by brute force: follow the money along every path, each asset paying on what it got."""
    shares: dict[str, Fraction] = defaultdict(Fraction)

    def flow(node: str, amount: Fraction) -> None:
        paid = Fraction(0)
        for parent in registry.by_id[node].parents:
            cut = amount * parent.royalty
            paid += cut
            flow(parent.asset, cut)
        shares[node] += amount - paid

    flow(asset, Fraction(1))
    return {a: s for a, s in shares.items() if s}
