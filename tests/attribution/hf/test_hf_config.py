"""The ``ame.pipeline/1`` configuration: every error names its field, paths resolve beside it."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ame_core.documents import parse_json, parse_yaml
from ame_core.exceptions import InputError
from offchain.attribution.hf.config import (
    PipelineConfig,
    inputs_digest,
    load_pipeline_config,
    parse_pipeline_config,
)
from offchain.attribution.tda import Projection

_FULL: dict[str, Any] = {
    "format": "ame.pipeline/1",
    "id": "market",
    "model": "models/base",
    "base_model": "model:base",
    "reference_model": "models/ref",
    "adapters": {"adapter:poetry": "adapters/poetry"},
    "prompts": {"prompt:story": "tell a story {request} and"},
    "neutral_template": "{request}",
    "datasets": {
        "dataset:a": "data/a.txt",
        "dataset:b": {"path": "data/b.jsonl", "format": "jsonl", "text_field": "body", "max_examples": 5},
    },
    "max_length": 32,
    "cache_dir": "cache",
    "attribution": {
        "method": "tracin-projected",
        "utility": "loglik",
        "gradient_params": ["*.h.1.*"],
        "projection": "gaussian",
        "projection_dim": 16,
        "seed": 3,
        "batch_size": 2,
    },
    "retrain": {"steps": 5, "learning_rate": 0.1, "batch_size": 4, "weight_decay": 0, "seed": 1, "max_datasets": 3},
}  # fmt: skip

# Each field with a value it refuses and the path and reason the message must give.
_BAD: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("format",), "ame.pipeline/2", r"format: must be 'ame.pipeline/1'"),
    (("id",), "", r"id: must have at least 1 character"),
    (("model",), 7, r"model: must be a valid string, got 7"),
    (("base_model",), None, r"base_model: must be a valid string"),
    (("reference_model",), 1.5, r"reference_model: must be a valid string"),
    (("adapters", "adapter:poetry"), "", r"adapters\['adapter:poetry'\]: must have"),
    (("prompts", "prompt:story"), "no slot", r"prompts: a template must hold the \{request\} slot"),
    (("neutral_template",), "plain", r"neutral_template: a template must hold the \{request\}"),
    (("datasets", "dataset:b", "format"), "csv", r"datasets\['dataset:b'\]\.format"),
    (("datasets", "dataset:b", "max_examples"), 0, r"datasets\['dataset:b'\]\.max_examples: must be greater than or equal to 1"),
    (("datasets", "dataset:b", "text_field"), "", r"datasets\['dataset:b'\]\.text_field"),
    (("max_length",), 1, r"max_length: must be greater than or equal to 2, got 1"),
    (("cache_dir",), [], r"cache_dir: must be a valid string"),
    (("attribution", "method"), "lasso", r"attribution\.method: must be 'shapley', 'owen', 'tracin' or 'tracin-projected', got 'lasso'"),
    (("attribution", "utility"), "bleu", r"attribution\.utility: must be"),
    (("attribution", "gradient_params"), [], r"attribution\.gradient_params"),
    (("attribution", "projection"), "fft", r"attribution\.projection: must be"),
    (("attribution", "projection_dim"), 0, r"attribution\.projection_dim: must be greater"),
    (("attribution", "factor_dim"), 0, r"attribution\.factor_dim: must be greater than or equal to 1"),
    (("attribution", "seed"), -1, r"attribution\.seed: must be greater than or equal to 0"),
    (("attribution", "batch_size"), True, r"attribution\.batch_size: must be a valid integer"),
    (("retrain", "steps"), 0, r"retrain\.steps: must be greater than or equal to 1"),
    (("retrain", "learning_rate"), -0.1, r"retrain\.learning_rate: must be greater"),
    (("retrain", "weight_decay"), "0", r"retrain\.weight_decay: must be"),
    (("retrain", "seed"), 1.0, r"retrain\.seed: must be a valid integer"),
    (("retrain", "max_datasets"), 0, r"retrain\.max_datasets: must be greater"),
    (("retrain", "batch_size"), "4", r"retrain\.batch_size: must be a valid integer"),
]  # fmt: skip


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_FULL)
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


def test_a_full_document_is_valid_and_keeps_paths_as_written_without_a_base() -> None:
    config = parse_pipeline_config(_FULL)
    assert config.model == "models/base"
    assert config.attribution.gradient_params == ["*.h.1.*"]
    assert config.retrain is not None and config.retrain.learning_rate == 0.1
    assert config.asset_ids() == [
        "model:base", "dataset:a", "dataset:b", "adapter:poetry", "prompt:story"
    ]  # fmt: skip
    assert config.datasets["dataset:a"].format == "auto"


def test_only_format_and_model_are_required_and_defaults_match_the_pipeline() -> None:
    config = parse_pipeline_config({"format": "ame.pipeline/1", "model": "m"})
    assert (config.base_model, config.neutral_template, config.retrain) == (
        "base_model", "{request}", None
    )  # fmt: skip
    assert config.attribution.method == "shapley"
    assert config.attribution.utility == "loglik-prefix"
    with pytest.raises(
        InputError,
        match=r"^<pipeline>: 2 problems:\n  format: required\n  model: required$",
    ):
        parse_pipeline_config({})


@pytest.mark.parametrize(
    ("path", "value", "message"), _BAD, ids=[".".join(map(str, p)) for p, _, _ in _BAD]
)
def test_every_field_refuses_a_bad_value_naming_its_path(
    path: tuple[str | int, ...], value: Any, message: str
) -> None:
    with pytest.raises(InputError, match=r"(?s)^cfg\.yaml: .*" + message) as caught:
        parse_pipeline_config(_with(path, value), source="cfg.yaml")
    assert "Traceback" not in str(caught.value)


def test_unknown_fields_and_repeated_asset_ids_are_refused() -> None:
    with pytest.raises(InputError, match=r"attribution\.epochs: unknown field"):
        parse_pipeline_config(_with(("attribution", "epochs"), 3))
    doc = _with(("prompts", "dataset:a"), "{request}")
    with pytest.raises(InputError, match=r"asset ids: 'dataset:a' names more than one asset"):
        parse_pipeline_config(doc)


def test_a_non_mapping_document_is_refused() -> None:
    with pytest.raises(
        InputError, match=r"^p: a pipeline configuration must be a mapping, got list"
    ):
        parse_pipeline_config([], source="p")


def _tree(root: Path) -> None:
    for directory in ("models/base", "models/ref", "adapters/poetry"):
        (root / directory).mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data/a.txt").write_text("x\n")
    (root / "data/b.jsonl").write_text('{"body": "x"}\n')


def test_relative_paths_resolve_against_the_files_directory_not_the_working_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path / "conf")
    file = tmp_path / "conf" / "pipeline.json"
    file.write_text(json.dumps(_FULL))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_pipeline_config(Path("..") / "conf" / "pipeline.json")
    base = (tmp_path / "conf").resolve()
    assert config.model == str(base / "models/base")
    assert config.reference_model == str(base / "models/ref")
    assert config.adapters == {"adapter:poetry": str(base / "adapters/poetry")}
    assert config.datasets["dataset:b"].path == str(base / "data/b.jsonl")
    assert config.datasets["dataset:b"].text_field == "body"
    assert config.cache_dir == str(base / "cache")


def test_missing_models_and_datasets_are_listed_by_field(tmp_path: Path) -> None:
    file = tmp_path / "pipeline.yaml"
    file.write_text(json.dumps(_FULL))  # JSON is YAML
    with pytest.raises(InputError) as caught:
        load_pipeline_config(file)
    message = str(caught.value)
    assert message.startswith(f"{file}: 5 problems:")
    for field in ("model", "reference_model", "adapters['adapter:poetry']"):
        assert re.search(rf"\n  {re.escape(field)}: '.*' is not a directory", message)
    for dataset in ("dataset:a", "dataset:b"):
        assert f"\n  datasets['{dataset}'].path: " in message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("p.json", '{"format": "ame.pipeline/1", "model": "a", "model": "b"}'),
        ("p.yaml", "format: ame.pipeline/1\nmodel: a\nattribution:\n  seed: 1\n  seed: 2\n"),
    ],
)
def test_a_repeated_key_is_refused_in_json_and_yaml(tmp_path: Path, name: str, text: str) -> None:
    file = tmp_path / name
    file.write_text(text)
    with pytest.raises(InputError, match=r"duplicate key '(model|seed)'"):
        load_pipeline_config(file)


def test_the_guarded_parsers_keep_repeated_keys_unless_asked() -> None:
    assert parse_json('{"a": 1, "a": 2}', source="s") == {"a": 2}
    assert parse_yaml("a: 1\na: 2\n", source="s") == {"a": 2}
    with pytest.raises(InputError, match=r"^s: not valid JSON: duplicate key 'a'"):
        parse_json('{"b": {"a": 1, "a": 2}}', source="s", unique_keys=True)
    with pytest.raises(InputError, match=r"^s: not valid YAML: .*duplicate key 'a'"):
        parse_yaml("b:\n  a: 1\n  a: 2\n", source="s", unique_keys=True)
    assert parse_yaml("a: 1\nb: [1, 1]\n", source="s", unique_keys=True) == {"a": 1, "b": [1, 1]}


def test_the_inputs_digest_covers_both_files_and_their_boundary(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"xy")
    b.write_bytes(b"z")
    first = inputs_digest(a, b)
    assert first == inputs_digest(a, b)
    a.write_bytes(b"x")
    b.write_bytes(b"yz")
    assert inputs_digest(a, b) != first
    with pytest.raises(InputError, match="cannot read"):
        inputs_digest(a, tmp_path / "missing")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**20) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    return out


_FIELDS = _paths(_FULL)


@given(
    field=st.sampled_from(_FIELDS),
    value=_JSON,
    delete=st.booleans(),
    extra=st.none() | st.text("abcxyz_0", min_size=1, max_size=6),
)
def test_malformed_documents_give_field_paths_never_tracebacks(
    field: tuple[str, ...], value: Any, delete: bool, extra: str | None
) -> None:
    doc = copy.deepcopy(_FULL)
    node: Any = doc
    for part in field[:-1]:
        node = node[part]
    if delete:
        del node[field[-1]]
    else:
        node[field[-1]] = value
    if extra is not None and extra not in PipelineConfig.model_fields:
        doc[extra] = 1
    try:
        parse_pipeline_config(doc, source="cfg")
    except InputError as err:
        lines = str(err).removeprefix("cfg: ").splitlines()
        problems = lines[1:] if re.fullmatch(r"\d+ problems:", lines[0]) else lines
        assert problems
        heads = ["asset ids", *PipelineConfig.model_fields, *doc]
        for line in problems:
            # Every problem starts with the path of the field it concerns, then why.
            path, _, reason = line.strip().partition(": ")
            assert reason, line
            quoted = path.startswith(("'", '"'))
            assert quoted or any(path == h or path.startswith((f"{h}.", f"{h}[")) for h in heads), (
                line
            )
        if extra is not None and extra not in PipelineConfig.model_fields:
            assert "unknown field" in str(err)
    else:
        assert extra is None or extra in PipelineConfig.model_fields


@given(
    raw=st.binary(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | _JSON.map(lambda doc: json.dumps({**_FULL, "attribution": doc}).encode()),
    suffix=st.sampled_from([".yaml", ".json", ""]),
)
def test_any_file_gives_a_config_or_an_input_error_naming_it(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes, suffix: str
) -> None:
    file = tmp_path_factory.mktemp("cfg") / f"pipeline{suffix}"
    file.write_bytes(raw)
    try:
        load_pipeline_config(file)
    except InputError as err:
        assert str(err).startswith(str(file))


# -- the JSON Schema ------------------------------------------------------------------------


def test_the_shipped_schema_is_the_one_the_model_generates() -> None:
    from offchain.attribution.hf import PIPELINE_SCHEMA, pipeline_schema

    assert PIPELINE_SCHEMA.read_bytes() == pipeline_schema(), (
        "stale: rewrite it with python -c 'from offchain.attribution.hf import *; "
        "PIPELINE_SCHEMA.write_bytes(pipeline_schema())'"
    )


def test_the_schema_states_every_field_its_defaults_and_refuses_others() -> None:
    from offchain.attribution.hf import pipeline_schema
    from offchain.attribution.hf.config import AttributionSettings, PipelineConfig

    schema = json.loads(pipeline_schema())
    assert schema["$id"] == "ame.pipeline/1" and schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(PipelineConfig.model_fields)
    assert set(schema["required"]) == {"format", "model"}
    settings = schema["$defs"]["AttributionSettings"]
    assert set(settings["properties"]) == set(AttributionSettings.model_fields)
    assert settings["additionalProperties"] is False
    for name, field in AttributionSettings.model_fields.items():
        assert settings["properties"][name]["default"] == field.default
    # The file accepts exactly the projections the estimator knows.
    assert set(settings["properties"]["projection"]["enum"]) == set(get_args(Projection))
    assert settings["properties"]["projection_dim"]["minimum"] == 1
