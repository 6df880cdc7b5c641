"""The Hugging Face pipeline's data stage: TracIn over the datasets' training examples.

On the tiny GPT-2 of :mod:`tests.attribution.hf.models`: exact scores against a direct
``torch.autograd`` computation, projections against exact scores, per-dataset sums, the
on-disk feature cache, the datasets' formats and their errors, and the ``"tracin"``
methods end to end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from ame_core.exceptions import InputError
from offchain.attribution import MultiStageAttribution
from offchain.attribution.hf import HFEvent, HFPipeline, TrainingSet
from offchain.attribution.hf._gradients import FeatureCache, canonical_name
from offchain.attribution.hf.training import read_examples
from offchain.attribution.tda import _PerExampleGradients
from offchain.exceptions import AttributionError
from tests.attribution.hf.models import POEM, PROMPTS, TEXT, WORDS

pytestmark = [
    pytest.mark.torch,
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    (root / "text.txt").write_text("\n".join(TEXT) + "\n")
    (root / "poem.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in POEM))
    (root / "both.txt").write_text("\n".join([*TEXT, *POEM]))
    for i, line in enumerate([*TEXT, *POEM]):
        (root / f"one{i}.txt").write_text(line)
    return {p.stem: p for p in root.iterdir()}


@pytest.fixture(scope="module")
def pipe(saved: dict[str, Path], files: dict[str, Path]) -> HFPipeline:
    return HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets={"dataset:text": files["text"], "dataset:poem": files["poem"]},
        batch_size=4,
        # The subspace projection: exact at k >= n, which these tests check against.
        projection="subspace",
    )


def _event(i: int, **fields: Any) -> HFEvent:
    base: dict[str, Any] = {
        "id": f"e{i}",
        "request": "the cat",
        "prompt": "prompt:story",
        "adapter": "adapter:poem",
        "text": "sat on the mat",
        "revenue": 10**18 + i,
        "commercial": True,
        "date": dt.date(2026, 12, 7),
    }
    return HFEvent(**{**base, **fields})


def _plain(i: int) -> HFEvent:
    """An event of the base model alone: no prompt, no adapter."""
    return _event(i, prompt=None, adapter=None)


@contextlib.contextmanager
def _differentiable(leaves: list[torch.Tensor]) -> Iterator[None]:
    """``peft`` freezes the base weights; a direct gradient needs them as leaves."""
    before = [t.requires_grad for t in leaves]
    for t in leaves:
        t.requires_grad_(True)
    try:
        yield
    finally:
        for t, flag in zip(leaves, before, strict=True):
            t.requires_grad_(flag)


requests = st.lists(st.sampled_from(WORDS), min_size=0, max_size=4).map(" ".join)
outputs = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
events_st = st.builds(
    lambda i, r, t, p, a, rev: _event(i, request=r, text=t, prompt=p, adapter=a, revenue=rev),
    st.integers(0, 10**6),
    requests,
    outputs,
    st.sampled_from([None, *PROMPTS]),
    st.sampled_from([None, "adapter:poem"]),
    st.integers(0, 10**24),
)


def _loss(pipe: HFPipeline, context: list[int], scored: list[int]) -> torch.Tensor:
    """The summed NLL of ``scored`` after ``context``, straight from the model's logits."""
    ids = torch.tensor([context + scored])
    logp = pipe.model(input_ids=ids).logits[0].double().log_softmax(-1)
    return -sum(logp[len(context) + t - 1, token] for t, token in enumerate(scored))


def _direct(pipe: HFPipeline, event: HFEvent, names: list[str]) -> dict[str, float]:
    """Per-dataset sums of gradient dot products by plain ``torch.autograd``."""
    params = dict(pipe.model.named_parameters())
    leaves = [params[n] for n in names]
    with _differentiable(leaves):
        return _dots(pipe, event, leaves)


def _dots(pipe: HFPipeline, event: HFEvent, leaves: list[torch.Tensor]) -> dict[str, float]:
    bos = pipe.tokenizer.bos_token_id
    context = pipe._context_ids(event, prompt=True)
    output = pipe.tokenizer(event.text, add_special_tokens=False)["input_ids"]
    if event.adapter is not None:
        pipe.model.set_adapter(event.adapter)
        test = torch.autograd.grad(_loss(pipe, context, output), leaves, allow_unused=True)
    else:
        with pipe.model.disable_adapter():
            test = torch.autograd.grad(_loss(pipe, context, output), leaves, allow_unused=True)
    sums: dict[str, float] = {}
    for dataset, lines in (("dataset:text", TEXT), ("dataset:poem", POEM)):
        for line in lines:
            tokens = pipe.tokenizer(line, add_special_tokens=False)["input_ids"]
            with pipe.model.disable_adapter():
                train = torch.autograd.grad(_loss(pipe, [bos], tokens), leaves, allow_unused=True)
            dot = sum(
                float((a.double() * b.double()).sum())
                for a, b in zip(test, train, strict=True)
                if a is not None and b is not None
            )
            sums[dataset] = sums.get(dataset, 0.0) + dot
    return sums


@settings(max_examples=6)
@given(event=events_st)
def test_exact_scores_equal_a_direct_autograd_computation(pipe: HFPipeline, event: HFEvent) -> None:
    names = [n for n, _ in pipe.model.named_parameters() if ".lora_" not in n]
    expected = _direct(pipe, event, names)
    got = pipe.influence([event]).row(0)
    assert got.keys() == expected.keys()
    for dataset, value in expected.items():
        assert got[dataset] == pytest.approx(value, rel=1e-4, abs=1e-3)


def test_last_layer_is_the_last_block_and_the_final_norm(
    saved: dict[str, Path], files: dict[str, Path]
) -> None:
    last = HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets={"dataset:text": files["text"], "dataset:poem": files["poem"]},
        gradient_params="last-layer",
    )
    from offchain.attribution.hf._gradients import select_params

    names = select_params(last.model, "last-layer", None)
    canonical = [canonical_name(n) for n in names]
    assert canonical[0].startswith("transformer.h.1.")
    assert all(n.startswith(("transformer.h.1.", "transformer.ln_f.")) for n in canonical)
    assert {"transformer.ln_f.weight", "transformer.ln_f.bias"} <= set(canonical)
    assert not any(".lora_" in n for n in names)
    event = _event(0)
    expected = _direct(last, event, names)
    got = last.influence([event]).row(0)
    for dataset, value in expected.items():
        assert got[dataset] == pytest.approx(value, rel=1e-4, abs=1e-3)


def test_name_patterns_select_and_a_pattern_matching_nothing_is_named(
    saved: dict[str, Path], files: dict[str, Path]
) -> None:
    picked = HFPipeline(
        saved["model"],
        datasets={"dataset:text": files["text"]},
        gradient_params=["transformer.h.0.mlp.*"],
    )
    event = _plain(0)
    names = [n for n, _ in picked.model.named_parameters() if n.startswith("transformer.h.0.mlp.")]
    assert picked.influence([event]).row(0)["dataset:text"] == pytest.approx(
        sum(v for k, v in _direct_text(picked, event, names).items()), rel=1e-4, abs=1e-3
    )
    nothing = HFPipeline(
        saved["model"], datasets={"dataset:text": files["text"]}, gradient_params=["nope.*"]
    )
    with pytest.raises(InputError, match=r"gradient_params: pattern 'nope\.\*' matches no"):
        nothing.influence([event])
    with pytest.raises(InputError, match="gradient_params: must be one of"):
        HFPipeline(saved["model"], gradient_params="first-layer")  # type: ignore[arg-type]


def _direct_text(pipe: HFPipeline, event: HFEvent, names: list[str]) -> dict[str, float]:
    params = dict(pipe.model.named_parameters())
    leaves = [params[n] for n in names]
    context = pipe._context_ids(event, prompt=True)
    output = pipe.tokenizer(event.text, add_special_tokens=False)["input_ids"]
    with _differentiable(leaves):
        test = torch.autograd.grad(_loss(pipe, context, output), leaves)
        return _text_dots(pipe, test, leaves)


def _text_dots(
    pipe: HFPipeline, test: tuple[torch.Tensor, ...], leaves: list[torch.Tensor]
) -> dict[str, float]:
    out = {}
    for line in TEXT:
        tokens = pipe.tokenizer(line, add_special_tokens=False)["input_ids"]
        bos = pipe.tokenizer.bos_token_id
        train = torch.autograd.grad(_loss(pipe, [bos], tokens), leaves)
        out[line] = sum(
            float((a.double() * b.double()).sum()) for a, b in zip(test, train, strict=True)
        )
    return out


@settings(max_examples=4)
@given(events=st.lists(events_st, min_size=1, max_size=3, unique_by=lambda e: e.id))
def test_subspace_projection_at_k_at_least_n_equals_exact(
    pipe: HFPipeline, events: list[HFEvent]
) -> None:
    exact = pipe.influence(events).values
    projected = pipe.influence(events, projection_dim=16).values
    scale = np.abs(exact).max()
    np.testing.assert_allclose(projected, exact, rtol=0, atol=1e-3 * scale)


#: A small parameter set (4,160 numbers), so a dense Gaussian projection stays small.
OUT_PROJECTION = ["transformer.h.1.mlp.c_proj.*"]


@pytest.fixture(scope="module")
def singletons(saved: dict[str, Path], files: dict[str, Path]) -> HFPipeline:
    """One dataset per training example: its column is that example's score."""
    return HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets={f"d{i}": files[f"one{i}"] for i in range(len(TEXT) + len(POEM))},
        gradient_params=OUT_PROJECTION,
        projection="gaussian",
    )


def test_spearman_with_exact_scores_rises_with_the_projection_dimension(
    singletons: HFPipeline,
) -> None:
    events = [
        _event(i, request=r, text=t) for i, (r, t) in enumerate(zip(WORDS, TEXT, strict=False))
    ]
    exact = singletons.influence(events).values
    means = []
    for k in (2, 32, 1024):
        rhos = []
        for seed in range(4):
            singletons.seed = seed
            projected = singletons.influence(events, projection_dim=k).values
            rhos += [spearmanr(p, e).statistic for p, e in zip(projected, exact, strict=True)]
        means.append(float(np.mean(rhos)))
    singletons.seed = 0
    assert means[0] < means[1] < means[2]
    assert means[2] > 0.95


@pytest.fixture(scope="module")
def grouped(saved: dict[str, Path], files: dict[str, Path]) -> HFPipeline:
    """Three datasets, the third the union of the first two."""
    return HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets={
            "dataset:text": files["text"],
            "dataset:poem": files["poem"],
            "dataset:both": files["both"],
        },
        gradient_params=OUT_PROJECTION,
    )


@settings(max_examples=4)
@given(event=events_st)
def test_a_datasets_score_is_the_sum_of_its_examples(
    grouped: HFPipeline, singletons: HFPipeline, event: HFEvent
) -> None:
    row = singletons.influence([event]).values[0]
    got = grouped.influence([event])
    n = len(TEXT)
    np.testing.assert_allclose(
        got.values[0], [row[:n].sum(), row[n:].sum(), row.sum()], rtol=1e-5, atol=1e-4
    )
    assert got.groups == ("dataset:text", "dataset:poem", "dataset:both")
    assert got.counts.tolist() == [len(TEXT), len(POEM), len(TEXT) + len(POEM)]


@settings(max_examples=4)
@given(event=events_st, dim=st.sampled_from([None, 3]))
def test_example_influence_is_each_examples_score_in_the_datasets_order(
    grouped: HFPipeline, singletons: HFPipeline, event: HFEvent, dim: int | None
) -> None:
    one = singletons.influence([event, event]).values
    rows = grouped.example_influence([event, event], projection_dim=dim)
    n = len(TEXT) + len(POEM)
    assert rows.shape == (2, 2 * n) and rows.dtype == np.float64
    assert grouped.example_datasets == (
        ("dataset:text",) * len(TEXT) + ("dataset:poem",) * len(POEM) + ("dataset:both",) * n
    )
    if dim is None:  # the third dataset repeats the first two's examples
        np.testing.assert_allclose(rows, np.concatenate([one, one], axis=1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(rows[:, :n], rows[:, n:], rtol=1e-5, atol=1e-4)
    tensors = grouped.example_tensors
    assert tensors is not None and len(tensors[0]) == len(tensors[1]) == 2 * n


# -- the cache ------------------------------------------------------------------------------


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Training examples whose gradient is computed (test gradients not counted)."""
    calls: list[int] = []
    original = _PerExampleGradients.__call__

    def counting(self: Any, c: int, inputs: Any, targets: Any, *, test: bool = False) -> Any:
        if not test:
            calls.append(len(inputs))
        return original(self, c, inputs, targets, test=test)

    monkeypatch.setattr(_PerExampleGradients, "__call__", counting)
    return calls


def _cached(saved: dict[str, Path], data: Path, cache: Path, **settings: Any) -> HFPipeline:
    settings.setdefault("gradient_params", "last-layer")
    # The cache tests count per-example gradient passes, which the subspace projection takes
    # (the factored ones use hooks instead; test_hf_factored.py counts theirs).
    settings.setdefault("projection", "subspace")
    return HFPipeline(
        settings.pop("model", saved["model"]),
        datasets={"dataset:text": data},
        cache_dir=cache,
        **settings,
    )


@pytest.mark.parametrize("dim", [None, 3])
def test_a_rerun_reads_the_cache_and_computes_no_training_gradient(
    saved: dict[str, Path], tmp_path: Path, counted: list[int], dim: int | None
) -> None:
    data = tmp_path / "text.txt"
    data.write_text("\n".join(TEXT))
    event = _plain(0)
    first = _cached(saved, data, tmp_path / "cache").influence([event], projection_dim=dim)
    assert sum(counted) >= len(TEXT)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    counted.clear()
    second = _cached(saved, data, tmp_path / "cache").influence([event], projection_dim=dim)
    assert counted == []
    np.testing.assert_array_equal(first.values, second.values)


@pytest.mark.parametrize(
    "change",
    ["data", "model", "seed", "max_length", "params", "dim", "projection", "text_field"],
)
def test_any_change_of_an_input_recomputes(
    saved: dict[str, Path], tmp_path: Path, counted: list[int], change: str
) -> None:
    data = tmp_path / "text.jsonl"
    data.write_text("".join(json.dumps({"text": t, "other": t[::-1]}) + "\n" for t in TEXT))
    event = _plain(0)
    _cached(saved, data, tmp_path / "cache").influence([event], projection_dim=4)
    counted.clear()
    settings: dict[str, Any] = {}
    dim = 4
    if change == "data":
        data.write_text(data.read_text().replace("mat", "rug", 1))
    elif change == "model":
        settings["model"] = saved["reference"]
    elif change == "seed":
        settings["seed"] = 1
    elif change == "max_length":
        settings["max_length"] = 5
    elif change == "params":
        settings["gradient_params"] = ["transformer.ln_f.*"]
    elif change == "dim":
        dim = 5
    elif change == "projection":
        settings["projection"] = "gaussian"
    else:
        settings_data = TrainingSet(data, text_field="other")
        pipe = HFPipeline(
            saved["model"],
            datasets={"dataset:text": settings_data},
            gradient_params="last-layer",
            projection="subspace",  # as _cached's, whose gradient passes are counted
            cache_dir=tmp_path / "cache",
        )
        pipe.influence([event], projection_dim=dim)
        assert sum(counted) >= len(TEXT)
        return
    _cached(saved, data, tmp_path / "cache", **settings).influence([event], projection_dim=dim)
    assert sum(counted) >= len(TEXT)
    assert len(list((tmp_path / "cache").iterdir())) == 2


@pytest.mark.parametrize("projection", ["subspace", "rademacher"])
def test_two_runs_index_to_the_same_bytes_and_restore_to_the_same_scores(
    saved: dict[str, Path], tmp_path: Path, projection: str
) -> None:
    data = tmp_path / "text.txt"
    data.write_text("\n".join(TEXT))
    events = [_plain(0), _plain(1)]
    runs = []
    for run in ("a", "b"):
        pipe = _cached(saved, data, tmp_path / run, projection=projection)
        runs.append(pipe.influence(events, projection_dim=4).values)
    (a,), (b,) = (list((tmp_path / run).iterdir()) for run in ("a", "b"))
    # Seeded projection and sample, deterministic index: the same file, byte for byte.
    assert a.read_bytes() == b.read_bytes()
    np.testing.assert_array_equal(runs[0], runs[1])
    restored = _cached(saved, data, tmp_path / "a", projection=projection)
    np.testing.assert_array_equal(restored.influence(events, projection_dim=4).values, runs[0])


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "header"])
def test_a_corrupt_or_truncated_cache_file_is_recomputed_never_trusted(
    saved: dict[str, Path], tmp_path: Path, counted: list[int], damage: str
) -> None:
    data = tmp_path / "text.txt"
    data.write_text("\n".join(TEXT))
    event = _plain(0)
    first = _cached(saved, data, tmp_path / "cache").influence([event], projection_dim=4)
    (path,) = (tmp_path / "cache").iterdir()
    good = path.read_bytes()
    raw = bytearray(good)
    if damage == "flip":
        raw[-40] ^= 0x01
    elif damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "empty":
        raw = bytearray()
    else:
        raw[:5] = b"\xff" * 5
    path.write_bytes(bytes(raw))
    counted.clear()
    again = _cached(saved, data, tmp_path / "cache").influence([event], projection_dim=4)
    assert sum(counted) >= len(TEXT)
    np.testing.assert_allclose(again.values, first.values, rtol=1e-6)
    assert path.read_bytes() == good


def test_a_cache_file_with_a_valid_hash_but_wrong_shapes_is_recomputed(
    saved: dict[str, Path], tmp_path: Path, counted: list[int]
) -> None:
    data = tmp_path / "text.txt"
    data.write_text("\n".join(TEXT))
    event = _plain(0)
    _cached(saved, data, tmp_path / "cache").influence([event])
    (path,) = (tmp_path / "cache").iterdir()
    FeatureCache(tmp_path / "cache").store(path.stem, {"features": np.zeros((2, 3), np.float32)})
    counted.clear()
    _cached(saved, data, tmp_path / "cache").influence([event])
    assert sum(counted) >= len(TEXT)


def test_an_unwritable_cache_directory_is_named(saved: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "text.txt"
    data.write_text("\n".join(TEXT))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cache_dir: cannot write"):
        _cached(saved, data, blocker / "cache").influence([_plain(0)])


def test_indexing_reports_a_step_and_a_bar_over_the_examples(
    saved: dict[str, Path], files: dict[str, Path]
) -> None:
    seen: list[tuple[str, object]] = []

    class Recorder:
        def step(self, message: str) -> None:
            seen.append(("step", message))

        @contextlib.contextmanager
        def bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
            seen.append(("bar", (label, total)))
            yield lambda n: seen.append(("advance", n))

    pipe = HFPipeline(
        saved["model"],
        datasets={"dataset:text": files["text"], "dataset:poem": files["poem"]},
        gradient_params="last-layer",
        batch_size=3,
        progress=Recorder(),
    )
    pipe.influence([_plain(0)])
    pipe.influence([_plain(1)])
    n = len(TEXT) + len(POEM)
    assert seen[0][0] == "step" and f"{n} examples of 2 datasets" in str(seen[0][1])
    assert seen[1] == ("bar", ("training gradients", n))
    assert [v for kind, v in seen if kind == "advance"] == [3, 3, 1]
    assert len(seen) == 5  # indexed once
    assert not pipe.model.training  # the gradient passes leave dropout off


# -- lora and bare ids ------------------------------------------------------------------


def test_lora_attributes_through_the_events_adapter(
    saved: dict[str, Path], files: dict[str, Path]
) -> None:
    lora = HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets={"dataset:text": files["text"], "dataset:poem": files["poem"]},
        gradient_params="lora",
    )
    event = _event(0, text="the blue tree and the red house")
    names = [n for n, _ in lora.model.named_parameters() if ".lora_" in n]
    assert names and all(".adapter:poem." in n for n in names)
    params = dict(lora.model.named_parameters())
    leaves = [params[n] for n in names]
    lora.model.set_adapter("adapter:poem")
    context = lora._context_ids(event, prompt=True)
    output = lora.tokenizer(event.text, add_special_tokens=False)["input_ids"]
    test = torch.autograd.grad(_loss(lora, context, output), leaves)
    expected = 0.0
    for line in POEM:
        tokens = lora.tokenizer(line, add_special_tokens=False)["input_ids"]
        train = torch.autograd.grad(_loss(lora, [lora.tokenizer.bos_token_id], tokens), leaves)
        expected += sum(
            float((a.double() * b.double()).sum()) for a, b in zip(test, train, strict=True)
        )
    assert lora.influence([event]).row(0)["dataset:poem"] == pytest.approx(expected, rel=1e-4)
    with pytest.raises(AttributionError, match=r"event 'e1': gradient_params='lora'.*used none"):
        lora.influence([_plain(1)])


def test_bare_dataset_ids_refuse_tracin_and_keep_shapley(saved: dict[str, Path]) -> None:
    bare = HFPipeline(saved["model"], datasets=("dataset:a", "dataset:b"))
    event = _event(0, adapter=None, prompt=None)
    with pytest.raises(AttributionError, match=r"bare ids.*method='shapley' or 'owen'"):
        MultiStageAttribution(bare, method="tracin").fit([event])
    result = MultiStageAttribution(bare, method="owen").fit([event]).result
    assert sum(result.events[0].amounts.values()) in (0, event.revenue)


# -- end to end -------------------------------------------------------------------------


@settings(max_examples=5)
@given(
    events=st.lists(events_st, min_size=1, max_size=3, unique_by=lambda e: e.id),
    method=st.sampled_from(["tracin", "tracin-projected"]),
)
def test_a_tracin_method_splits_every_events_revenue_exactly(
    pipe: HFPipeline, events: list[HFEvent], method: str
) -> None:
    pipe.score(events)
    fit = MultiStageAttribution(pipe, method=method, projection_dim=8)  # type: ignore[arg-type]
    result = fit.fit(events).result
    for event, attribution in zip(events, result.events, strict=True):
        players = frozenset(a for ids in pipe.assets(event).values() for a in ids)
        total = sum(attribution.amounts.values())
        if pipe.asset_game(event)(players) > 0:
            assert total == event.revenue
        else:
            assert total == 0
        assert all(isinstance(a, int) and a >= 0 for a in attribution.amounts.values())
        data = attribution.stages["data"]
        # TracIn, or nothing when no dataset's score is positive.
        assert data.method.startswith("tracin") or data.amount == 0
        scores = pipe.influence([event], projection_dim=None if method == "tracin" else 8)
        # A dataset with a non-positive score is paid nothing from the data stage.
        for dataset, score in scores.row(0).items():
            if score <= 0:
                assert attribution.amounts.get(dataset, 0) == 0


markets = st.lists(
    st.lists(st.integers(0, len(TEXT) + len(POEM) - 1), min_size=1, max_size=3, unique=True),
    min_size=1,
    max_size=3,
)


@settings(max_examples=5)
@given(
    market=markets,
    events=st.lists(events_st, min_size=1, max_size=3, unique_by=lambda e: e.id),
    method=st.sampled_from(["tracin", "tracin-projected"]),
)
def test_every_market_splits_every_events_revenue_by_positive_tracin_scores(
    saved: dict[str, Path],
    files: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    market: list[list[int]],
    events: list[HFEvent],
    method: str,
) -> None:
    lines = [*TEXT, *POEM]
    root = tmp_path_factory.mktemp("market")
    datasets = {}
    for d, rows in enumerate(market):
        path = root / f"d{d}.txt"
        path.write_text("\n".join(lines[i] for i in rows))
        datasets[f"dataset:{d}"] = path
    pipe = HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets=datasets,
        gradient_params=OUT_PROJECTION,
    )
    dim = None if method == "tracin" else 4
    result = MultiStageAttribution(pipe, method=method, projection_dim=4).fit(events).result  # type: ignore[arg-type]
    for event, attribution in zip(events, result.events, strict=True):
        players = frozenset(a for ids in pipe.assets(event).values() for a in ids)
        total = sum(attribution.amounts.values())
        assert total == (event.revenue if pipe.asset_game(event)(players) > 0 else 0)
        scores = pipe.influence([event], projection_dim=dim).row(0)
        paid = {d: attribution.amounts.get(d, 0) for d in datasets}
        for a in datasets:
            # A stage of one asset gives it the whole stage, whatever its score.
            if scores[a] <= 0 and len(datasets) > 1:
                assert paid[a] == 0
            for b in datasets:
                # Largest remainder keeps the order of the scores, to one unit.
                if scores[a] > scores[b]:
                    assert paid[a] + 1 >= paid[b]


@settings(max_examples=6)
@given(
    events=st.lists(events_st, min_size=1, max_size=6, unique_by=lambda e: e.id),
    dim=st.sampled_from([None, 8]),
)
def test_events_scored_in_one_batch_score_as_each_alone(
    pipe: HFPipeline, events: list[HFEvent], dim: int | None
) -> None:
    together = pipe.example_influence(events, projection_dim=dim)
    for event, row in zip(events, together, strict=True):
        alone = pipe.example_influence([event], projection_dim=dim)[0]
        # Batched gradients (vmap) and one matrix product for the batch round apart
        # from one event's reverse pass and vector product: float32 noise, no more.
        scale = max(float(np.abs(alone).max()), 1e-30)
        np.testing.assert_allclose(row, alone, rtol=0, atol=1e-5 * scale)


@settings(max_examples=4)
@given(
    events=st.lists(events_st, min_size=2, max_size=5, unique_by=lambda e: e.id),
    method=st.sampled_from(["tracin", "tracin-projected"]),
)
def test_a_log_asks_for_influence_once_per_batch_and_splits_as_event_by_event(
    pipe: HFPipeline, events: list[HFEvent], method: str
) -> None:
    calls: list[int] = []
    original = pipe.influence

    def counting(batch: list[HFEvent], **settings: Any) -> Any:
        calls.append(len(batch))
        return original(batch, **settings)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipe, "influence", counting)
        log = (
            MultiStageAttribution(pipe, method=method, projection_dim=8, influence_batch=64)  # type: ignore[arg-type]
            .fit(events)
            .result
        )
        asked = len(calls)
        calls.clear()
        default = MultiStageAttribution(pipe, method=method, projection_dim=8).fit(events).result  # type: ignore[arg-type]
        one_by_one = list(calls)
        alone = [
            MultiStageAttribution(pipe, method=method, projection_dim=8).fit([e]).result  # type: ignore[arg-type]
            for e in events
        ]
    # At most one call for the whole log: the first event with a data stage to split
    # asks for itself and every later event (fewer than 64).
    assert asked <= 1
    # By default one event per call: each event's bits are its own, whatever the log.
    assert set(one_by_one) <= {1}
    assert default.events == tuple(r.events[0] for r in alone)
    for together, single in zip(log.events, (r.events[0] for r in alone), strict=True):
        assert together.utility == single.utility
        for stage, part in together.stages.items():
            other = single.stages[stage]
            assert (part.value, part.amount, part.method) == (
                other.value,
                other.amount,
                other.method,
            )
            if stage != "data":
                assert part.amounts == other.amounts
                continue
            scale = max([abs(v) for v in other.asset_values.values()] + [1e-30])
            for asset, value in part.asset_values.items():
                assert abs(value - other.asset_values[asset]) <= 1e-5 * scale
                assert abs(part.amounts[asset] - other.amounts[asset]) <= 1e-4 * part.amount + 1


# -- the datasets' files ----------------------------------------------------------------


def test_each_format_reads_its_examples(tmp_path: Path) -> None:
    from datasets import Dataset

    text = tmp_path / "a.txt"
    text.write_text("  first line \n\n second\n")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"body": "one"}\n\n{"body": "two", "x": 1}\n')
    disk = tmp_path / "saved"
    Dataset.from_dict({"body": ["x y", "z"], "n": [1, 2]}).save_to_disk(str(disk))
    assert read_examples("t", TrainingSet(text)) == ["first line", "second"]
    assert read_examples("j", TrainingSet(jsonl, text_field="body")) == ["one", "two"]
    assert read_examples("d", TrainingSet(disk, text_field="body")) == ["x y", "z"]
    assert TrainingSet(disk).resolved_format == "disk"
    assert read_examples("t", TrainingSet(text, max_examples=1)) == ["first line"]
    assert read_examples("d", TrainingSet(disk, "disk", "body", max_examples=1)) == ["x y"]


def test_long_examples_are_truncated_to_max_length(saved: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "long.txt"
    data.write_text(" ".join(WORDS * 5))
    pipe = HFPipeline(saved["model"], datasets={"d": data}, max_length=6)
    assert pipe._train is not None
    inputs = pipe._train[0]
    assert inputs.shape == (1, 2, 6)
    with pytest.raises(InputError, match="max_length: 65 is over the model's 64 positions"):
        HFPipeline(saved["model"], datasets={"d": data}, max_length=65)


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("text", None, r"dataset 'd': '.*missing': not a file \(format 'text'\)"),
        ("text", b"ok\n\xff\xfe\n", r"dataset 'd': '.*' line 2: not UTF-8 text"),
        ("text", b"\n  \n", r"dataset 'd': '.*': no examples"),
        ("jsonl", b'{"text": "a"}\n{oops\n', r"dataset 'd': '.*' line 2: not JSON"),
        ("jsonl", b'{"text": "a"}\n[1]\n', r"line 2: expected a JSON object, got list"),
        (
            "jsonl",
            b'{"text": "a", "text": "b"}\n',
            r"line 1: not JSON \(duplicate key 'text' at text\)",
        ),
        ("jsonl", b'{"body": "a"}\n', r"dataset 'd': '.*' line 1: text: field required"),
        ("jsonl", b'{"text": ""}\n', r"line 1: text: expected a non-empty string, got ''"),
        ("jsonl", b'{"text": 3}\n', r"line 1: text: expected a non-empty string, got 3"),
        ("disk", None, r"dataset 'd': '.*missing': not a directory \(format 'disk'\)"),
    ],
)
def test_a_bad_dataset_file_names_the_id_the_file_and_the_line(
    saved: dict[str, Path], tmp_path: Path, fmt: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / "missing"
    if content is not None:
        path = tmp_path / f"data.{fmt}"
        path.write_bytes(content)
    spec = TrainingSet(path, format=fmt)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=message):
        HFPipeline(saved["model"], datasets={"d": spec})


def test_a_bad_saved_dataset_is_named(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = Dataset.from_dict({"body": ["a", ""]})
    rows.save_to_disk(str(tmp_path / "rows"))
    DatasetDict({"train": rows}).save_to_disk(str(tmp_path / "splits"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match=r"dataset 'd': '.*rows': text: no such column"):
        read_examples("d", TrainingSet(tmp_path / "rows"))
    with pytest.raises(InputError, match=r"'.*rows' row 1: body: expected a non-empty string"):
        read_examples("d", TrainingSet(tmp_path / "rows", text_field="body"))
    with pytest.raises(InputError, match=r"holds a DatasetDict \(several splits\)"):
        read_examples("d", TrainingSet(tmp_path / "splits"))
    with pytest.raises(InputError, match=r"'.*plain': not a dataset saved with save_to_disk"):
        read_examples("d", TrainingSet(tmp_path / "plain"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "csv"}, "format: must be one of"),
        ({"text_field": ""}, "text_field: must be a non-empty string"),
        ({"max_examples": 0}, "max_examples: must be an int >= 1, got 0"),
        ({"max_examples": True}, "max_examples: must be an int >= 1, got True"),
    ],
)
def test_a_bad_training_set_field_is_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        TrainingSet(Path("x.txt"), **fields)


def test_bad_dataset_arguments_are_named(saved: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="datasets: expected ids or id -> file, got the string"):
        HFPipeline(saved["model"], datasets="dataset:a")
    with pytest.raises(InputError, match=r"datasets\['d'\]: expected a TrainingSet or a path"):
        HFPipeline(saved["model"], datasets={"d": 3})  # type: ignore[dict-item]
    with pytest.raises(InputError, match="projection: must be one of"):
        HFPipeline(saved["model"], projection="pca")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="max_length: must be an int >= 2 or None, got 1"):
        HFPipeline(saved["model"], max_length=1)
