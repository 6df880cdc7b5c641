"""The factored projections on the tiny GPT-2: Conv1D layers, a tied head, LoRA wrappers.

Their features (``"factored"`` and the default ``"factored-vocab"``, its vocabulary
kept whole or count-sketched) against the materialised per-example gradients times the
Kronecker matrix (adapter on and off), the cache keyed by the projection and every one
of its settings, and one event scored as in a batch. The bytes are compared on one thread, the HF
pipeline's policy (the model's own float32 kernels sum in another order on two); the
projection's arithmetic alone is checked on two threads in ``test_tda_factored.py``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution._factored import FactoredGradients, Sketch, kronecker
from offchain.attribution.hf import HFEvent, HFPipeline
from offchain.attribution.hf._gradients import PREFIX, LogitsOf, select_params, token_nll
from offchain.attribution.tda import Checkpoint, _PerExampleGradients
from tests.attribution.hf.models import POEM, PROMPTS, TEXT

pytestmark = [
    pytest.mark.torch,
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("factored")
    (root / "text.txt").write_text("\n".join(TEXT) + "\n")
    (root / "poem.txt").write_text("\n".join(POEM) + "\n")
    return {"dataset:text": root / "text.txt", "dataset:poem": root / "poem.txt"}


@pytest.fixture(scope="module")
def pipe(saved: dict[str, Path], data: dict[str, Path]) -> HFPipeline:
    return HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets=data,
        batch_size=4,
        projection="factored",
        factor_dim=6,
    )


def _event(i: int, request: str, text: str, prompt: str | None, adapter: str | None) -> HFEvent:
    return HFEvent(
        id=f"e{i}",
        request=request,
        prompt=prompt,
        adapter=adapter,
        text=text,
        revenue=10**18,
        commercial=False,
        date=dt.date(2026, 12, 7),
    )


events_st = st.builds(
    _event,
    st.integers(0, 10**6),
    st.sampled_from(["the cat", "a dog", "the moon"]),
    st.sampled_from(["sat on the mat", "ran", "the cat sat"]),
    st.sampled_from([None, *PROMPTS]),
    st.sampled_from([None, "adapter:poem"]),
)


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    factor_dim=st.integers(1, 20),
    adapter=st.booleans(),
    vocab=st.one_of(st.none(), st.tuples(st.integers(1, 20), st.sampled_from([1, 7, 31, 10_000]))),
)
def test_features_equal_the_gradients_times_the_kronecker_matrix(
    pipe: HFPipeline,
    seed: int,
    factor_dim: int,
    adapter: bool,
    vocab: tuple[int, int] | None,
) -> None:
    """Conv1D weights and biases, layer norms, the position embedding broadcast over the
    batch and the token embedding tied to the head, under peft's LoRA wrappers; with
    ``vocab`` (``vocab_factor_dim``, ``vocab_buckets``) the embeddings token by token,
    their rows kept whole or count-sketched."""
    names = [PREFIX + n for n in select_params(pipe.model, "all", None)]
    wrapper = LogitsOf(pipe.model)
    own = dict(wrapper.named_parameters())
    checkpoint = Checkpoint({n: own[n].detach() for n in names})
    gradients = _PerExampleGradients(wrapper, [checkpoint], token_nll, names, 8, None)
    vocab_factor_dim, vocab_buckets = (None, 8192) if vocab is None else vocab
    factored = FactoredGradients(
        wrapper,
        names,
        token_nll,
        factor_dim=factor_dim,
        seed=seed,
        vocab_factor_dim=vocab_factor_dim,
        vocab_buckets=vocab_buckets,
    )
    (wte,) = [i for i, n in enumerate(names) if n.endswith("transformer.wte.weight")]
    assert (wte in factored.vocab) == (vocab is not None)
    if vocab is not None:
        rows = factored.factors(0)[wte][0]
        assert isinstance(rows, Sketch) == (vocab_buckets < pipe.vocab_size)
    tensors = pipe.example_tensors
    assert tensors is not None
    x, y = tensors[0][:5], tensors[1][:5]
    with pipe._adapter("adapter:poem" if adapter else None):
        got = gradients.apply(lambda s, a, b: factored(0, s, a, b), 0, x, y).double()
        dense = gradients(0, x, y).double()
    expected = dense @ kronecker(factored.factors(0), factored.shapes).T.double()
    scale = float(expected.abs().max())
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=1e-5 * scale)


@pytest.fixture(scope="module")
def vocab_pipe(saved: dict[str, Path], data: dict[str, Path]) -> HFPipeline:
    """The default projection, its vocabulary count-sketched (fewer buckets than tokens)."""
    return HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets=data,
        batch_size=4,
        factor_dim=6,
        vocab_factor_dim=4,
        vocab_buckets=7,
    )


def test_the_default_projection_is_factored_vocab(saved: dict[str, Path]) -> None:
    pipe = HFPipeline(saved["model"])
    assert (pipe.projection, pipe.factor_dim, pipe.vocab_factor_dim, pipe.vocab_buckets) == (
        "factored-vocab",
        64,
        16,
        8192,
    )


@settings(max_examples=5, deadline=None)
@given(
    events=st.lists(events_st, min_size=1, max_size=5, unique_by=lambda e: e.id),
    vocab=st.booleans(),
)
def test_one_event_scores_as_it_does_in_a_batch(
    pipe: HFPipeline, vocab_pipe: HFPipeline, events: list[HFEvent], vocab: bool
) -> None:
    scorer = vocab_pipe if vocab else pipe
    together = scorer.example_influence(events, projection_dim=8)
    for event, row in zip(events, together, strict=True):
        alone = scorer.example_influence([event], projection_dim=8)[0]
        scale = max(float(np.abs(alone).max()), 1e-30)
        np.testing.assert_allclose(row, alone, rtol=0, atol=1e-5 * scale)


@pytest.fixture
def indexed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Training examples whose factored gradients are computed."""
    calls: list[int] = []
    original = FactoredGradients.__call__

    def counting(self: Any, c: int, state: Any, inputs: Any, targets: Any) -> Any:
        calls.append(len(inputs))
        return original(self, c, state, inputs, targets)

    monkeypatch.setattr(FactoredGradients, "__call__", counting)
    return calls


def _cached(saved: dict[str, Path], data: dict[str, Path], cache: Path, **kw: Any) -> HFPipeline:
    return HFPipeline(saved["model"], datasets=data, cache_dir=cache, **kw)


def test_the_cache_keeps_each_projection_and_rank_apart_and_rereads_its_own(
    saved: dict[str, Path], data: dict[str, Path], tmp_path: Path, indexed: list[int]
) -> None:
    event = _event(0, "the cat", "sat on the mat", None, None)
    cache = tmp_path / "cache"
    first = _cached(saved, data, cache, projection="factored", factor_dim=4)
    values = first.influence([event], projection_dim=4).values
    assert sum(indexed) >= len(TEXT) + len(POEM)
    assert len(list(cache.iterdir())) == 1
    _cached(saved, data, cache, projection="subspace").influence([event], projection_dim=4)
    _cached(saved, data, cache, projection="factored", factor_dim=5).influence(
        [event], projection_dim=4
    )
    assert len(list(cache.iterdir())) == 3
    vocab_settings: list[dict[str, Any]] = [
        {"factor_dim": 4},
        {"factor_dim": 5},
        {"factor_dim": 4, "vocab_factor_dim": 3},
        {"factor_dim": 4, "vocab_buckets": 9},
    ]
    for kw in vocab_settings:
        _cached(saved, data, cache, projection="factored-vocab", **kw).influence(
            [event], projection_dim=4
        )
    assert len(list(cache.iterdir())) == 3 + len(vocab_settings)
    indexed.clear()
    again = _cached(saved, data, cache, projection="factored", factor_dim=4)
    np.testing.assert_array_equal(again.influence([event], projection_dim=4).values, values)
    assert indexed == [1]  # the event's own gradient only


@pytest.mark.parametrize(
    ("mine", "other"),
    [
        ({"projection": "factored", "factor_dim": 4}, {"projection": "subspace"}),
        (
            {"projection": "factored-vocab", "factor_dim": 4},
            {"projection": "factored-vocab", "factor_dim": 4, "vocab_factor_dim": 3},
        ),
        ({"projection": "factored-vocab", "factor_dim": 4}, {"projection": "factored"}),
    ],
)
def test_another_settings_features_under_a_factored_key_are_recomputed(
    saved: dict[str, Path],
    data: dict[str, Path],
    tmp_path: Path,
    indexed: list[int],
    mine: dict[str, Any],
    other: dict[str, Any],
) -> None:
    event = _event(0, "the cat", "sat on the mat", None, None)
    factored_dir, subspace_dir = tmp_path / "factored", tmp_path / "other"
    values = _cached(saved, data, factored_dir, **mine).influence([event], projection_dim=4).values
    _cached(saved, data, subspace_dir, **other).influence([event], projection_dim=4)
    (factored_file,) = factored_dir.iterdir()
    (subspace_file,) = subspace_dir.iterdir()
    good = factored_file.read_bytes()
    # A sound file (its hash matches) of other settings, under this key.
    shutil.copyfile(subspace_file, factored_file)
    indexed.clear()
    again = _cached(saved, data, factored_dir, **mine)
    np.testing.assert_array_equal(again.influence([event], projection_dim=4).values, values)
    assert sum(indexed) >= len(TEXT) + len(POEM)
    assert factored_file.read_bytes() == good


@pytest.mark.parametrize(
    "settings_",
    [
        {"projection": "factored"},
        {"projection": "factored-vocab"},
        {"projection": "factored-vocab", "vocab_buckets": 5},
    ],
)
def test_two_runs_index_to_the_same_bytes(
    saved: dict[str, Path], data: dict[str, Path], tmp_path: Path, settings_: dict[str, Any]
) -> None:
    event = _event(0, "a dog", "ran", None, None)
    for run in ("a", "b"):
        _cached(saved, data, tmp_path / run, **settings_).influence([event], projection_dim=6)
    (a,), (b,) = (list((tmp_path / run).iterdir()) for run in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "8"])
@pytest.mark.parametrize("field", ["factor_dim", "vocab_factor_dim", "vocab_buckets"])
def test_a_bad_factor_setting_is_named(saved: dict[str, Path], field: str, bad: object) -> None:
    with pytest.raises(InputError, match=rf"^{field}: must be an int >= 1, got"):
        HFPipeline(saved["model"], **{field: bad})
