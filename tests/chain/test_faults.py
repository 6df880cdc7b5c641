"""``find_faults``' one-pass check of a well-formed list finds what the full search finds."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import event, given, seed, settings
from hypothesis import strategies as st

from ame_chain.leaves import EpochHeader, PayoutLeaf, _all_faults, _well_formed, find_faults

ZERO = "0x" + "00" * 20


def _header(pool: int, count: int) -> EpochHeader:
    return EpochHeader(
        epoch=1,
        root="0x" + "22" * 32,
        token=ZERO,
        pool=pool,
        leaf_count=count,
        challenge_end=0,
        operator=ZERO,
        bond=0,
        manifest_hash="0x" + "33" * 32,
    )


@st.composite
def leaf_lists(draw: st.DrawFn) -> tuple[EpochHeader, list[PayoutLeaf]]:
    """A well-formed epoch's leaves and header, or one broken in a way the contract checks."""
    amounts = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
    accounts = sorted(
        draw(st.sets(st.integers(1, 2**160 - 1), min_size=len(amounts), max_size=len(amounts)))
    )
    leaves, before = [], 0
    for i, (amount, account) in enumerate(zip(amounts, accounts, strict=True)):
        leaves.append(PayoutLeaf(i, f"0x{account:040x}", amount, before))  # type: ignore[arg-type]
        before += amount
    pool, count = before, len(leaves)
    fault = draw(
        st.sampled_from(
            [
                "none",
                "none",
                "index",
                "before",
                "amount",
                "negative",
                "account",
                "zero",
                "duplicate",
                "drop",
                "swap",
                "pool",
                "count",
                "huge",
            ]
        )
    )
    i = draw(st.integers(0, len(leaves) - 1))
    leaf = leaves[i]
    change: dict[str, Any] = {}
    match fault:
        case "index":
            change["index"] = draw(st.sampled_from([leaf.index + 1, leaf.index - 1, 2**64]))
        case "before":
            change["amount_before"] = leaf.amount_before + draw(st.sampled_from([-1, 1]))
        case "amount":
            change["amount"] = leaf.amount + 1
        case "negative":
            change["amount"] = -1
        case "account":
            change["account"] = leaves[i - 1].account if i else leaves[-1].account
        case "zero":
            change["account"] = ZERO
        case "duplicate":
            leaves.insert(i, leaf)
        case "drop":
            del leaves[i]
        case "swap":
            j = draw(st.integers(0, len(leaves) - 1))
            leaves[i], leaves[j] = leaves[j], leaves[i]
        case "pool":
            pool += draw(st.sampled_from([-1, 1]))
        case "count":
            count += draw(st.sampled_from([-1, 1]))
        case "huge":
            change["amount"] = 2**256
    if change:
        leaves[i] = dataclasses.replace(leaf, **change)
    return _header(pool, count), leaves


@settings(max_examples=500, deadline=None)
@seed(16_03)
@given(case=leaf_lists())
def test_find_faults_finds_what_the_full_search_finds(
    case: tuple[EpochHeader, list[PayoutLeaf]],
) -> None:
    header, leaves = case
    full = _all_faults(header, leaves)
    event("faulty" if full else "no fault")
    event(f"one pass: {_well_formed(header, leaves)}")
    assert find_faults(header, leaves) == full
    if _well_formed(header, leaves):
        assert full == []
