"""The second and third reference-judgment suites follow the rules their READMEs state.

Read from the files alone (no pipeline is trained), file by file: nine families of at
least three scenarios, shares for every asset (and every registry owner where payees
are judged), and rankings in which each contributor's share is at least twice the next
one's. The third suite, held out, states the second's rules unchanged.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from bench.evaluation import JudgmentScenario, load_suite
from tests.bench.evaluation.test_suite import FAMILIES

BENCH = Path(__file__).resolve().parents[3] / "bench"
#: Each suite and the fewest scenarios it must hold.
SUITES = {"judgments_v2": 30, "judgments_v3": 27}
ITEMS = {name: load_suite(BENCH / name) for name in SUITES}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_the_suite_has_nine_families_of_at_least_three_scenarios(suite: str) -> None:
    items = ITEMS[suite]
    families = [item.family for item in items]
    assert set(families) == FAMILIES
    assert len(items) >= SUITES[suite]
    assert min(families.count(f) for f in FAMILIES) >= 3
    assert len({item.id for item in items}) == len(items)


def test_the_held_out_suite_shares_no_scenario_id_with_the_second() -> None:
    assert not {i.id for i in ITEMS["judgments_v2"]} & {i.id for i in ITEMS["judgments_v3"]}


def _ordered(ranking: tuple[str, ...], shares: dict[str, float]) -> list[str]:
    """Consecutive ranked pairs whose shares are not at least a factor of two apart."""
    bad = []
    for hi, lo in pairwise(ranking):
        a, b = shares[hi], shares[lo]
        # Shares are written to four decimals: a factor of exactly 2 may round a hair under.
        if not (a > 0 and (b == 0 or a >= 2 * b - 1e-4)):
            bad.append(f"{hi}={a} vs {lo}={b}")
    return bad


@pytest.mark.parametrize(
    "item",
    [item for name in sorted(SUITES) for item in ITEMS[name]],
    ids=lambda i: f"{i.path.parent.parent.name}/{i.family}/{i.path.stem}",
)
def test_every_reference_follows_the_suite_rules(item: JudgmentScenario) -> None:
    scenario, reference = item.scenario, item.reference
    assets = set(scenario.asset_ids())
    assert set(reference.shares) == assets, "shares name every asset, and only assets"
    assert _ordered(reference.ranking, dict(reference.shares)) == []
    if reference.payees is not None:
        registry = scenario.registry()
        assert registry is not None
        names = {o.name for a in registry.assets for o in a.owners}
        assert set(reference.payees.shares) == names
        assert _ordered(reference.payees.ranking, dict(reference.payees.shares)) == []
    total = sum(reference.shares.values())
    # Only withheld value (opt-outs, licences) leaves the shares short of the revenue.
    assert total == pytest.approx(1.0, abs=1e-3) or item.family == "restricted"
