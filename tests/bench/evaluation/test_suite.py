"""The suite loader, and the shipped suite's shape (parsing only, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ame_core.exceptions import InputError
from bench.evaluation import load_suite

SUITE = Path(__file__).resolve().parents[3] / "bench" / "judgments"
FAMILIES = {
    "adapter_style",
    "base_model",
    "co_owned",
    "duplicate",
    "noisy_irrelevant",
    "planted_facts",
    "prompt",
    "restricted",
    "royalties",
}


def test_the_shipped_suite_has_at_least_30_judged_scenarios_in_9_families() -> None:
    suite = load_suite(SUITE)
    assert len(suite) >= 30
    assert {item.family for item in suite} == FAMILIES
    for family in FAMILIES:
        assert sum(item.family == family for item in suite) >= 4, family
    assert len({item.id for item in suite}) == len(suite)
    for item in suite:
        ref = item.reference
        assert ref.reasoning, item.path
        # Shares are given for every asset, so L1 compares whole splits.
        assert set(ref.shares) == set(item.scenario.asset_ids()), item.path
        assert len(item.ranking) >= 2
    rights = {"royalties", "co_owned", "restricted"}
    assert all(item.scenario.registry() is not None for item in suite if item.family in rights)
    assert {item.family for item in suite if item.level == "payees"} == {"co_owned"}


def test_the_suite_is_sorted_and_filtered_by_family_and_name() -> None:
    suite = load_suite(SUITE)
    keys = [(item.family, item.path.stem) for item in suite]
    assert keys == sorted(keys)
    only = load_suite(SUITE, families=["prompt"], names=["prompt/generic", "prompt/passthrough"])
    assert [item.id for item in only] == ["prompt-generic", "prompt-passthrough"]


def _write(root: Path, family: str, name: str, reference: object) -> Path:
    doc = {
        "format": "ame.scenario/1",
        "id": name.replace("_", "-"),
        "datasets": [{"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 2}}],
        "events": [{"id": "e1", "fact": {"dataset": "geo", "index": 0}, "revenue": "10", "date": "2026-01-02"}],
    }  # fmt: skip
    if reference is not None:
        doc["reference"] = reference
    path = root / family / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_scenario_without_a_usable_reference_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "facts", "bare", None)
    with pytest.raises(InputError, match=r"bare\.yaml: reference: a judgment scenario needs"):
        load_suite(tmp_path)
    _write(tmp_path, "facts", "bare", {"ranking": ["geo"]})
    with pytest.raises(InputError, match=r"reference\.ranking: needs at least two contributors"):
        load_suite(tmp_path)
    _write(tmp_path, "facts", "bare", {"ranking": ["geo", "transformer"]})
    assert [item.family for item in load_suite(tmp_path)] == ["facts"]


def test_bad_suite_arguments_are_refused_naming_them(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^suite: .* is not a directory"):
        load_suite(tmp_path / "nope")
    with pytest.raises(InputError, match=r"^suite: no scenario files"):
        load_suite(tmp_path)
    _write(tmp_path, "facts", "one", {"ranking": ["geo", "transformer"]})
    with pytest.raises(InputError, match=r"^families: unknown \['nope'\], have \['facts'\]"):
        load_suite(tmp_path, families=["nope"])
    with pytest.raises(InputError, match=r"^names: unknown scenarios \['facts/two'\]"):
        load_suite(tmp_path, names=["facts/two"])
