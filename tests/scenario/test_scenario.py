"""The ``ame.scenario/1`` format: validation naming fields, canonical form, corpora, pipeline."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ame_core.exceptions import InputError
from offchain.attribution.reference.pipeline import (
    CorpusSettings,
    PipelineSettings,
    ReferencePipeline,
    generate_corpora,
)
from offchain.exceptions import AttributionError
from offchain.scenario import (
    DatasetSpec,
    load_scenario,
    parse_scenario,
    reference_pipeline,
    reference_scenario,
    reference_specs,
    scenario_events,
)
from tests.mapping._builders import address, asset_doc, registry_doc

# SHA-256 of the default corpora as the generator wrote them before scenarios existed:
# generalising it must not move a single word.
_DEFAULT_CORPORA = "31b2552db6203b3c4126c71aa48d4bc4d57859c7c2a48dfc5153d7f4652a5af4"
_SMALL_CORPORA = "e28910892fb3b578a4be363e92326155ad2680fa2fdb657ce5314acd8e64bfb8"


def _content_digest(corpora: Any) -> str:
    doc = {
        "datasets": [[d.id, d.owner, list(d.sentences)] for d in corpora.datasets],
        "adapters": [[d.id, d.owner, [list(p) for p in d.pairs]] for d in corpora.adapter_data],
        "prompts": [[p.id, p.author, p.template] for p in corpora.prompts],
        "facts": [[f.dataset, f.relation, f.subject, f.value] for f in corpora.facts],
        "noisy": sorted(corpora.noisy_values.items()),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _doc() -> dict[str, Any]:
    """A small valid scenario touching every kind of dataset, adapter and event."""
    return {
        "format": "ame.scenario/1",
        "id": "small",
        "seed": 3,
        "datasets": [
            {"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 4}},
            {"id": "noisy", "owner": "dave", "generate": {"kind": "noisy_copy", "of": "geo", "noise_rate": 0.5}},
            {"id": "copy", "owner": "carol", "generate": {"kind": "copy", "of": "notes"}},
            {"id": "walk", "owner": "erin", "generate": {"kind": "random_walk", "sentences": 5, "vocabulary": 6}},
            {"id": "notes", "owner": "zoe", "documents": ["the capital of zorbia is kelvo .", "kelvo  is  big ."]},
        ],
        "adapters": [
            {"id": "pirate", "owner": "frank", "style": {"tail": "arr", "count": 3}},
            {
                "id": "polite",
                "owner": "grace",
                "demonstrations": [{"context": "the capital of zorbia is kelvo .", "completion": "thanks"}],
            },
        ],
        "prompts": [{"id": "plain", "author": "paula", "template": "the {request} is"}],
        "events": [
            {"id": "e1", "fact": {"dataset": "geo", "index": 1}, "prompt": "plain", "revenue": "100", "date": "2026-01-02"},
            {"id": "e2", "request": "capital of zorbia", "adapter": "pirate", "revenue": 7, "date": "2026-01-03", "commercial": False},
        ],
    }  # fmt: skip


def _registry(assets: list[str]) -> dict[str, Any]:
    return registry_doc(
        [asset_doc(a, owners=[(address(i + 1), "1")]) for i, a in enumerate(assets)]
    )


_ASSETS = ["geo", "noisy", "copy", "walk", "notes", "transformer", "pirate", "polite", "plain"]


# -- the reference market ------------------------------------------------------------


def test_reference_scenario_is_the_default_pipeline() -> None:
    scenario = reference_scenario()
    corpora = scenario.corpora()
    assert corpora == generate_corpora(CorpusSettings(), 0)
    assert _content_digest(corpora) == _DEFAULT_CORPORA
    assert scenario.settings() == PipelineSettings()
    specs = reference_specs(CorpusSettings())
    assert [d.model_dump() for d in scenario.datasets] == [
        DatasetSpec.model_validate(d).model_dump() for d in specs["datasets"]
    ]
    assert scenario.canonical()["adapters"] == specs["adapters"]
    assert scenario.canonical()["prompts"] == specs["prompts"]
    assert scenario.owners() == {
        "geo": "alice",
        "noisy": "dave",
        "fauna": "bob",
        "fauna_copy": "carol",
        "irrelevant": "erin",
        "transformer": "model_developer",
        "pirate": "frank",
        "formal": "grace",
        "plain": "paula",
        "recall": "quinn",
    }


def test_generated_corpora_are_unchanged_for_other_sizes_and_seeds() -> None:
    small = CorpusSettings(
        n_countries=5,
        n_animals=3,
        noise_rate=0.3,
        n_irrelevant=9,
        irrelevant_vocab=4,
        n_adapter_facts=5,
    )
    assert _content_digest(generate_corpora(small, 3)) == _SMALL_CORPORA


# -- canonical form and digest ---------------------------------------------------------


def test_canonical_form_round_trips_and_ignores_notation(tmp_path: Path) -> None:
    scenario = parse_scenario(_doc())
    again = parse_scenario(scenario.canonical())
    assert again == scenario
    assert again.digest() == scenario.digest()
    assert re.fullmatch(r"[0-9a-f]{64}", scenario.digest())
    # Defaults written out, YAML instead of JSON, other key order, padded words: same digest.
    doc = _doc()
    doc["epoch"] = 1
    doc["pipeline"] = PipelineSettings().model_dump(exclude={"seed", "corpus"})
    doc["events"][0]["commercial"] = True
    doc["datasets"][4]["documents"][1] = "kelvo is big ."
    doc = dict(reversed(list(doc.items())))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert load_scenario(path).digest() == scenario.digest()
    json_path = tmp_path / "s.json"
    json_path.write_text(json.dumps(scenario.canonical()))
    assert load_scenario(json_path) == scenario
    changed = _doc()
    changed["events"][1]["revenue"] = "8"
    assert parse_scenario(changed).digest() != scenario.digest()


def test_pipeline_utility_reaches_the_settings_and_the_digest() -> None:
    scenario = parse_scenario(_doc())
    assert scenario.settings().utility == "loglik-prefix"
    # Recorded even at its default: the default changed once, and a digest must say.
    assert scenario.canonical()["pipeline"] == {"utility": "loglik-prefix"}
    doc = _doc()
    doc["pipeline"] = {"utility": "loglik-floored"}
    floored = parse_scenario(doc)
    assert floored.settings().utility == "loglik-floored"
    assert floored.canonical()["pipeline"] == {"utility": "loglik-floored"}
    assert floored.digest() != scenario.digest()
    doc["pipeline"] = {"utility": "loglik-prefix"}
    assert parse_scenario(doc).digest() == scenario.digest()
    assert parse_scenario(scenario.canonical()) == scenario


def test_documents_are_normalised_and_revenue_is_an_exact_integer() -> None:
    scenario = parse_scenario(_doc())
    assert scenario.datasets[4].documents == ("the capital of zorbia is kelvo .", "kelvo is big .")
    assert scenario.events[0].revenue == 100
    big = _doc()
    big["events"][0]["revenue"] = str(10**30 + 1)
    assert parse_scenario(big).events[0].revenue == 10**30 + 1
    assert parse_scenario(big).canonical()["events"][0]["revenue"] == str(10**30 + 1)


# -- corpora of a scenario ---------------------------------------------------------------


def test_scenario_corpora_plant_what_the_generators_say() -> None:
    scenario = parse_scenario(_doc())
    corpora = scenario.corpora()
    data = {d.id: d for d in corpora.datasets}
    assert [d.id for d in corpora.datasets] == ["geo", "noisy", "copy", "walk", "notes"]
    assert data["copy"].sentences == data["notes"].sentences
    assert data["copy"].owner == "carol"
    geo = corpora.facts_of("geo")
    assert len(geo) == 4 and len(data["geo"].sentences) == 8
    for fact in geo:
        assert f"the capital of {fact.subject} is {fact.value} ." in data["geo"].sentences
        stated = corpora.noisy_values[fact.subject]
        assert f"the capital of {fact.subject} is {stated} ." in data["noisy"].sentences
    words = {d: {w for s in data[d].sentences for w in s.split()} for d in data}
    others = set().union(*(words[d] for d in data if d != "walk"))
    assert not words["walk"] & others
    assert len(words["walk"]) <= 6
    # Pseudo-words never equal a word the scenario writes out.
    generated = {f.subject for f in corpora.facts} | {f.value for f in corpora.facts}
    assert not generated & {"zorbia", "kelvo", "big", "thanks", "arr", "capital"}
    pirate, polite = corpora.adapter_data
    assert all(tail == "arr" for _, tail in pirate.pairs) and len(pirate.pairs) == 3
    assert {f.relation for f in corpora.facts_of("pirate")} == {"capital"}
    assert polite.pairs == (("the capital of zorbia is kelvo .", "thanks"),)
    assert scenario.request(scenario.events[0]) == geo[1].request
    assert scenario.request(scenario.events[1]) == "capital of zorbia"
    assert scenario.corpora() is corpora
    other = _doc()
    other["seed"] = 4
    assert parse_scenario(other).corpora() != corpora


# -- rights ------------------------------------------------------------------------------


def test_rights_inline_or_by_path_give_the_same_registry_and_digest(tmp_path: Path) -> None:
    inline = _doc()
    inline["rights"] = {"registry": _registry(_ASSETS)}
    scenario = parse_scenario(inline)
    registry = scenario.registry()
    assert registry is not None and set(registry.by_id) == set(_ASSETS)
    (tmp_path / "rights").mkdir()
    (tmp_path / "rights" / "registry.json").write_text(json.dumps(_registry(_ASSETS)))
    by_path = _doc()
    by_path["rights"] = {"registry": "rights/registry.json"}
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(by_path))
    loaded = load_scenario(path)
    assert loaded.digest() == scenario.digest()
    assert parse_scenario(scenario.canonical()).digest() == scenario.digest()
    assert parse_scenario(_doc()).registry() is None
    assert parse_scenario(_doc()).digest() != scenario.digest()


# -- validation: every problem names its field ------------------------------------------------


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``doc`` with ``path`` (dots and [i]) set to ``value``; ``...`` deletes it."""
    doc = copy.deepcopy(doc)
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    target: Any = doc
    for part in parts[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    if value is ...:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return doc


BAD: list[tuple[str, Any, str]] = [
    ("format", "ame.scenario/2", r"^format: must be 'ame.scenario/1', got 'ame.scenario/2'"),
    ("colour", "red", r"^colour: unknown field"),
    ("id", "", r"^id: '' is not an id"),
    ("seed", -1, r"^seed: must be greater than or equal to 0, got -1"),
    ("seed", "1", r"^seed: must be a valid integer, got '1'"),
    ("datasets", [], r"^datasets: must list at least one item"),
    ("datasets[2].owner", "", r"^datasets\[2\]\.owner: '' is not a name"),
    ("datasets[0].id", "a b", r"^datasets\[0\]\.id: 'a b' is not an id"),
    ("datasets[0].documents", ["x ."], r"^datasets\[0\]: give exactly one of documents or generate"),
    ("datasets[4].documents", ..., r"^datasets\[4\]: give exactly one of documents or generate"),
    ("datasets[4].documents", [], r"^datasets\[4\]\.documents: must list at least one item"),
    ("datasets[4].documents[0]", "  ", r"^datasets\[4\]\.documents\[0\]: must hold at least one word"),
    ("datasets[4].documents[0]", "a <bos> b", r"^datasets\[4\]\.documents\[0\]: '<bos>' is a reserved token"),
    ("datasets[4].documents[0]", "the {request} is", r"^datasets\[4\]\.documents\[0\]: \{request\} is allowed only in prompt templates"),
    ("datasets[4].documents[0]", " ".join(["w"] * 24), r"^datasets\[4\]\.documents\[0\]: 24 words do not fit pipeline\.model\.max_len=24"),
    ("datasets[0].generate.kind", "poem", r"^datasets\[0\]\.generate: Input tag 'poem' found using 'kind' does not match"),
    ("datasets[0].generate.count", 0, r"^datasets\[0\]\.generate\.count: must be greater than or equal to 1, got 0"),
    ("datasets[0].generate.relation", "two words", r"^datasets\[0\]\.generate\.relation: must be a single word"),
    ("datasets[0].generate.size", 3, r"^datasets\[0\]\.generate\.size: unknown field"),
    ("datasets[1].generate.noise_rate", 1.5, r"^datasets\[1\]\.generate\.noise_rate: must be less than or equal to 1"),
    ("datasets[1].generate.of", "walk", r"^datasets\[1\]\.generate\.of: 'walk' must be generated with kind: facts and count >= 2"),
    ("datasets[2].generate.of", "nope", r"^datasets\[2\]\.generate\.of: unknown dataset 'nope'"),
    ("datasets[2].generate.of", "copy", r"^datasets\[2\]\.generate\.of: a dataset cannot copy itself"),
    ("datasets[3].generate.vocabulary", 1, r"^datasets\[3\]\.generate\.vocabulary: must be greater than or equal to 2"),
    ("datasets[3].id", "geo", r"^datasets\[3\]\.id: 'geo' is already datasets\[0\]\.id"),
    ("prompts[0].id", "pirate", r"^prompts\[0\]\.id: 'pirate' is already adapters\[0\]\.id"),
    ("base_model.id", "plain", r"^prompts\[0\]\.id: 'plain' is already base_model\.id"),
    ("prompts[0].template", "the request is", r"^prompts\[0\]\.template: must hold the word \{request\} exactly once"),
    ("prompts[0].template", "{request} {request}", r"^prompts\[0\]\.template: must hold the word \{request\} exactly once"),
    ("prompts[0].template", "the {request}s", r"^prompts\[0\]\.template: must hold the word \{request\} exactly once"),
    ("prompts[0].author", 5, r"^prompts\[0\]\.author: 5 is not a name"),
    ("adapters[0].style", ..., r"^adapters\[0\]: give exactly one of demonstrations or style"),
    ("adapters[0].style.count", -2, r"^adapters\[0\]\.style\.count: must be greater than or equal to 1"),
    ("adapters[1].demonstrations[0].completion", "", r"^adapters\[1\]\.demonstrations\[0\]\.completion: must hold at least one word"),
    ("adapters[1].demonstrations[0].context", ..., r"^adapters\[1\]\.demonstrations\[0\]\.context: required"),
    ("pipeline.model.d_model", -1, r"^pipeline\.model\.d_model: must be greater than 0, got -1"),
    ("pipeline.model.n_heads", 3, r"^pipeline\.model: n_heads=3 must divide d_model=32"),
    ("pipeline.train.lr", 0, r"^pipeline\.train\.lr: must be greater than 0, got 0"),
    ("pipeline.train.momentum", 0.9, r"^pipeline\.train\.momentum: unknown field"),
    ("pipeline.max_new_tokens", 0, r"^pipeline\.max_new_tokens: must be greater than 0"),
    ("pipeline.utility", "floored", r"^pipeline\.utility: must be 'loglik-prefix', 'loglik' or 'loglik-floored', got 'floored'"),
    ("pipeline.neutral_template", "the request is", r"^pipeline\.neutral_template: must hold the word \{request\} exactly once, got 'the request is'"),
    ("pipeline.neutral_template", "the <eos> {request}", r"^pipeline\.neutral_template: '<eos>' is a reserved token"),
    ("pipeline.reference_model", {"kind": "bigram"}, r"^pipeline\.reference_model\.kind: must be 'uniform', 'unigram' or 'base', got 'bigram'"),
    ("pipeline.reference_model", {"kind": "unigram", "smoothing": -1}, r"^pipeline\.reference_model\.smoothing: must be greater than 0, got -1"),
    ("pipeline.reference_model", {"kind": "uniform", "sentences": ["a"]}, r"^pipeline\.reference_model: sentences are only read by kind 'unigram', not 'uniform'"),
    ("events", [], r"^events: must list at least one item"),
    ("events[0].revenue", 1.5, r"^events\[0\]\.revenue: must be an integer amount in base units \(a digit string\), got 1\.5"),
    ("events[0].revenue", "1.5", r"^events\[0\]\.revenue: must be a string of decimal digits, got '1\.5'"),
    ("events[0].revenue", -3, r"^events\[0\]\.revenue: must be in \[0, 2\*\*256\), got -3"),
    ("events[0].revenue", True, r"^events\[0\]\.revenue: must be an integer amount"),
    ("events[0].revenue", ..., r"^events\[0\]\.revenue: required"),
    ("events[0].date", "2026-13-01", r"^events\[0\]\.date: must be a day YYYY-MM-DD, got '2026-13-01'"),
    ("events[0].commercial", "yes", r"^events\[0\]\.commercial: must be a valid boolean, got 'yes'"),
    ("events[0].request", "capital of x", r"^events\[0\]: give exactly one of request or fact"),
    ("events[1].request", ..., r"^events\[1\]: give exactly one of request or fact"),
    ("events[0].prompt", "fancy", r"^events\[0\]\.prompt: unknown prompt 'fancy', have \['plain'\]"),
    ("events[1].adapter", "nope", r"^events\[1\]\.adapter: unknown adapter 'nope'"),
    ("events[0].fact.index", 4, r"^events\[0\]\.fact\.index: 4 is out of range: 'geo' plants 4"),
    ("events[0].fact.dataset", "noisy", r"^events\[0\]\.fact\.dataset: 'noisy' plants no facts"),
    ("events[0].fact.dataset", "nope", r"^events\[0\]\.fact\.dataset: unknown dataset or adapter 'nope'"),
    ("events[1].id", "e1", r"^events\[1\]\.id: 'e1' is already events\[0\]\.id"),
    ("events[1].request", "capital of atlantis", r"^events\[1\]\.request: 'atlantis' appears in no dataset"),
    ("events[1].request", " ".join(["capital"] * 23), r"^events\[1\]: the prompt and request take 23 words, leaving no room"),
    ("reference", {"ranking": ["geo", "geo"]}, r"^reference\.ranking: 'geo' is listed twice"),
    ("reference", {"ranking": ["nope"]}, r"^reference\.ranking\[0\]: unknown asset 'nope'"),
    ("reference", {"shares": {"geo": 0.7, "notes": 0.5}}, r"^reference\.shares: shares sum to 1\.2, over 1"),
    ("reference", {"shares": {"geo": -0.1}}, r"^reference\.shares: share of 'geo' must be in \[0, 1\]"),
    ("reference", {"reasoning": "two\nlines"}, r"^reference\.reasoning: must be one line"),
    ("reference", {"verdict": "x"}, r"^reference\.verdict: unknown field"),
    ("events[1].reference", {"ranking": ["plain"]}, r"^events\[1\]\.reference\.ranking\[0\]: unknown asset 'plain'"),
    ("rights", {"registry": 5}, r"^rights\.registry: must be a path or an ame\.registry/1 document, got int"),
    ("rights", {"registry": "missing.yaml"}, r"^rights\.registry: .*missing\.yaml: cannot read"),
    ("rights", {"registry": {"format": "ame.registry/1"}}, r"^rights\.registry: <inline registry>: 3 problems"),
    ("rights", {"registry": _registry(_ASSETS[:-1])}, r"^rights\.registry: does not list the scenario's assets \['plain'\]"),
    ("valuation.max_evaluations", 0, r"^valuation\.max_evaluations: must be greater than 0, got 0"),
    ("valuation.max_evaluations", True, r"^valuation\.max_evaluations: must be a valid integer, got true"),
    ("valuation.target_stderr", -0.5, r"^valuation\.target_stderr: must be greater than 0"),
    ("valuation.target_stderr", float("inf"), r"^valuation\.target_stderr: "),
    ("valuation.rank_patience", 1.5, r"^valuation\.rank_patience: "),
    ("valuation.samples", 3, r"^valuation\.samples: unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "message"), BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD]
)
def test_each_bad_input_is_refused_naming_its_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(_set(_doc(), path, value), source="s.yaml")
    text = str(info.value)
    assert text.startswith("s.yaml: ")
    lines = [line.strip() for line in text.removeprefix("s.yaml: ").splitlines()]
    assert any(re.search(message, line) for line in lines), text


def test_valuation_settings_reach_the_estimator_and_the_digest_only_when_given() -> None:
    plain = parse_scenario(_doc())
    assert plain.valuation.options() == {}
    assert "valuation" not in plain.canonical()  # the digests of existing scenarios hold
    given = parse_scenario(_set(_doc(), "valuation", {"max_evaluations": 64, "rank_patience": 3}))
    assert given.valuation.options() == {"max_evaluations": 64, "rank_patience": 3}
    assert given.canonical()["valuation"] == {"max_evaluations": 64, "rank_patience": 3}
    assert given.digest() != plain.digest()
    assert parse_scenario(given.canonical()) == given


@pytest.mark.torch
def test_every_worker_builds_the_scenarios_estimator_with_its_valuation() -> None:
    from offchain.scenario import scenario_estimator

    doc = _set(_doc(), "valuation", {"max_evaluations": 64, "target_stderr": 0.05})
    scenario = parse_scenario(doc)
    estimator = scenario_estimator(scenario, reference_pipeline(scenario), method="owen")
    assert (estimator.max_evaluations, estimator.target_stderr) == (64, 0.05)
    assert estimator.rank_patience is None and estimator.seed == scenario.seed
    settings = estimator.settings()
    assert settings["max_evaluations"] == 64 and settings["target_stderr"] == 0.05
    assert "rank_patience" not in settings  # a record header names only what was set


def test_a_neutral_template_counts_towards_the_room_of_events_without_a_prompt() -> None:
    doc = _set(_doc(), "events[1].request", " ".join(["capital"] * 20))
    parse_scenario(doc)  # 20 words and one to generate fit max_len=24
    doc["pipeline"] = {"neutral_template": "please tell the {request} is"}
    with pytest.raises(InputError, match=r"events\[1\]: the prompt and request take 24 words"):
        parse_scenario(doc)


def test_adapter_style_needs_relations_without_fact_datasets() -> None:
    doc = _doc()
    doc["datasets"] = [doc["datasets"][4]]
    doc["events"] = [doc["events"][1]]
    doc["adapters"] = doc["adapters"][:1]
    with pytest.raises(InputError, match=r"adapters\[0\]\.style\.relations: required when"):
        parse_scenario(doc)
    doc["adapters"][0]["style"]["relations"] = ["colour"]
    assert {f.relation for f in parse_scenario(doc).corpora().facts} == {"colour"}


def test_copy_cycles_are_refused() -> None:
    doc = _set(
        _doc(),
        "datasets[4]",
        {"id": "notes", "owner": "z", "generate": {"kind": "copy", "of": "copy"}},
    )
    with pytest.raises(InputError, match=r"datasets\[2\]\.generate\.of: copies form a cycle"):
        parse_scenario(doc)


def test_every_problem_is_listed_at_once() -> None:
    doc = _set(_set(_doc(), "datasets[2].owner", ""), "events[0].revenue", "x")
    with pytest.raises(InputError) as info:
        parse_scenario(doc, source="s.yaml")
    lines = str(info.value).splitlines()
    assert lines[0] == "s.yaml: 2 problems:"
    assert lines[1].startswith("  datasets[2].owner: ")
    assert lines[2].startswith("  events[0].revenue: ")


def test_unreadable_or_malformed_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.yaml: cannot read"):
        load_scenario(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [b")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid yaml"):
        load_scenario(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(InputError, match=r"list\.json: a scenario must be a mapping, got list"):
        load_scenario(listed)


# -- the pipeline of a scenario -------------------------------------------------------------

_TINY = {
    "model": {"d_model": 16, "n_heads": 2, "d_ff": 32},
    "train": {"pretrain_steps": 40, "n_checkpoints": 2, "adapter_epochs": 4},
}


@pytest.mark.torch
def test_pipeline_from_the_reference_specs_is_the_default_pipeline() -> None:
    import torch

    doc = reference_scenario().canonical()
    doc["pipeline"] = _TINY
    scenario = parse_scenario(doc)
    built = reference_pipeline(scenario).fit()
    default = ReferencePipeline(scenario.settings()).fit()
    assert built.corpora == default.corpora
    assert built.owners == default.owners
    for name, tensor in built.base.model.state_dict().items():
        assert torch.equal(tensor, default.base.model.state_dict()[name])
    events = scenario_events(scenario, built)
    assert [e.id for e in events] == ["e1", "e2", "e3", "e4"]
    assert [e.revenue for e in events] == [int(e["revenue"]) for e in doc["events"]]
    spec = scenario.events[1]
    assert spec.adapter is not None
    assert events[1] == default.run(
        scenario.request(spec),
        prompt=spec.prompt,
        adapter=spec.adapter,
        revenue=spec.revenue,
        event_id="e2",
    )


@pytest.mark.torch
def test_pipeline_of_a_scenario_uses_its_assets() -> None:
    doc = _doc()
    doc["base_model"] = {"id": "tiny-lm", "owner": "mia"}
    doc["pipeline"] = _TINY
    scenario = parse_scenario(doc)
    pipe = reference_pipeline(scenario).fit()
    assert pipe.base_id == "tiny-lm"
    assert pipe.owners["tiny-lm"] == "mia"
    assert set(pipe.adapters) == {"pirate", "polite"}
    events = scenario_events(scenario, pipe)
    assert [(e.id, e.prompt, e.adapter, e.revenue) for e in events] == [
        ("e1", "plain", None, 100),
        ("e2", None, "pirate", 7),
    ]
    assert pipe.assets(events[1]) == {
        "data": ("geo", "noisy", "copy", "walk", "notes"),
        "base_model": ("tiny-lm",),
        "adapter": ("pirate",),
    }
    game = pipe.stage_game(events[1], free_disposal=False)
    assert game(frozenset({"data", "adapter"})) == 0.0
    with pytest.raises(AttributionError, match="not built from scenario 'small'"):
        scenario_events(scenario, ReferencePipeline())
    with pytest.raises(InputError, match=r"^scenario: expected a Scenario"):
        reference_pipeline(doc)  # type: ignore[arg-type]
    # The pipeline holds the scenario's inputs, not the scenario.
    assert (pipe.settings, pipe.corpora) == (scenario.settings(), scenario.corpora())
