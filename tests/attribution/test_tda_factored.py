"""The factored (Kronecker, LoGra-style) projection against the materialised gradients.

Every layer kind the projection knows, on a small language model with a position
embedding broadcast over the batch and an output head tied to the token embedding:
its features equal the per-example gradients times the dense Kronecker matrix, are
seeded and bit-identical on rerun, and score one query as a batch does. The same for
``"factored-vocab"``, whose embedding tables keep their rows apart (the identity, or a
count sketch when there are more rows than buckets) and project their columns only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from ame_core.exceptions import InputError
from offchain.attribution._factored import FactoredGradients, Sketch, kronecker
from offchain.attribution.tda import Checkpoint, ProjectedTracIn, Projection, _PerExampleGradients

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

VOCAB, WIDTH, LENGTH = 13, 6, 5


class _TiedLM(nn.Module):
    """Embeddings (one with a padding row), a layer norm, a hidden layer, a tied head."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, WIDTH, padding_idx=0)
        self.positions = nn.Embedding(LENGTH, WIDTH)
        self.norm = nn.LayerNorm(WIDTH)
        self.hidden = nn.Linear(WIDTH, 7)
        self.back = nn.Linear(7, WIDTH, bias=False)
        self.head = nn.Linear(WIDTH, VOCAB, bias=False)
        self.head.weight = self.tokens.weight

    def forward(self, ids: Tensor) -> Tensor:
        # Positions as (1, T), broadcast over the batch, as GPT-2 computes them.
        h = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]).unsqueeze(0))
        h = h + self.back(torch.tanh(self.hidden(self.norm(h))))
        out: Tensor = self.head(h)
        return out


def _nll(logits: Tensor, targets: Tensor) -> Tensor:
    return nn.functional.cross_entropy(
        logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-100, reduction="sum"
    )


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return _TiedLM()


def _data(n: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (n, LENGTH), generator=generator)
    targets = torch.randint(0, VOCAB, (n, LENGTH), generator=generator)
    targets[:, 0] = -100
    return ids, targets


def _checkpoint(model: nn.Module, weight: float = 1.0) -> Checkpoint:
    return Checkpoint({n: p.detach() for n, p in model.named_parameters()}, weight)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    factor_dim=st.integers(1, 9),
    n=st.integers(1, 6),
)
def test_factored_features_equal_gradients_times_the_kronecker_matrix(
    seed: int, factor_dim: int, n: int
) -> None:
    model = _model(seed)
    names = [name for name, _ in model.named_parameters()]
    gradients = _PerExampleGradients(model, [_checkpoint(model)], _nll, names, 4, None)
    factored = FactoredGradients(model, names, _nll, factor_dim=factor_dim, seed=seed)
    x, y = _data(n, seed + 1)
    got = gradients.apply(lambda state, a, b: factored(0, state, a, b), 0, x, y)
    dense = gradients(0, x, y).double() @ kronecker(factored.factors(0), factored.shapes).T.double()
    assert got.shape == (n, factored.dim)
    scale = float(dense.abs().max()) or 1.0
    np.testing.assert_allclose(got.double().numpy(), dense.numpy(), rtol=0, atol=1e-5 * scale)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    factor_dim=st.integers(1, 9),
    vocab_factor_dim=st.integers(1, 8),
    vocab_buckets=st.integers(1, VOCAB + 2),
    n=st.integers(1, 6),
)
def test_vocab_features_equal_gradients_times_the_kronecker_matrix(
    seed: int, factor_dim: int, vocab_factor_dim: int, vocab_buckets: int, n: int
) -> None:
    """Embedding rows kept (buckets >= rows) or count-sketched, the padding row skipped,
    the tied head's part added to the token embedding's, the broadcast positions'."""
    model = _model(seed)
    names = [name for name, _ in model.named_parameters()]
    gradients = _PerExampleGradients(model, [_checkpoint(model)], _nll, names, 4, None)
    factored = FactoredGradients(
        model,
        names,
        _nll,
        factor_dim=factor_dim,
        seed=seed,
        vocab_factor_dim=vocab_factor_dim,
        vocab_buckets=vocab_buckets,
    )
    assert factored.vocab == {names.index("tokens.weight"), names.index("positions.weight")}
    tokens_rows = factored.factors(0)[names.index("tokens.weight")][0]
    assert (tokens_rows is None) == (vocab_buckets >= VOCAB)
    assert tokens_rows is None or isinstance(tokens_rows, Sketch)
    x, y = _data(n, seed + 1)
    got = gradients.apply(lambda state, a, b: factored(0, state, a, b), 0, x, y)
    dense = gradients(0, x, y).double() @ kronecker(factored.factors(0), factored.shapes).T.double()
    assert got.shape == (n, factored.dim)
    scale = float(dense.abs().max()) or 1.0
    np.testing.assert_allclose(got.double().numpy(), dense.numpy(), rtol=0, atol=1e-5 * scale)


def test_vocab_rows_are_kept_whole_up_to_the_buckets_and_sketched_past_them() -> None:
    model = _model(0)
    names = [name for name, _ in model.named_parameters()]
    kept = FactoredGradients(
        model, names, _nll, factor_dim=2, seed=0, vocab_factor_dim=3, vocab_buckets=VOCAB
    )
    sizes = dict(zip(names, kept.sizes, strict=True))
    assert sizes["tokens.weight"] == VOCAB * 3
    assert sizes["positions.weight"] == LENGTH * 3
    assert sizes["hidden.weight"] == 2 * 2
    sketched = FactoredGradients(
        model, names, _nll, factor_dim=2, seed=0, vocab_factor_dim=3, vocab_buckets=4
    )
    rows, _ = sketched.factors(0)[names.index("tokens.weight")]
    assert isinstance(rows, Sketch) and rows.width == 4
    assert set(rows.signs.tolist()) <= {-1.0, 1.0}
    assert int(rows.buckets.min()) >= 0 and int(rows.buckets.max()) < 4
    assert dict(zip(names, sketched.sizes, strict=True))["tokens.weight"] == 4 * 3


def test_a_factor_at_least_as_wide_as_its_side_is_the_identity() -> None:
    model = _model(0)
    names = [name for name, _ in model.named_parameters()]
    factored = FactoredGradients(model, names, _nll, factor_dim=VOCAB, seed=0)
    assert all(r is None and c is None for r, c in factored.factors(0))
    assert factored.dim == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("projection", ["factored", "factored-vocab"])
def test_factored_projection_is_seeded_and_bit_identical_on_rerun_and_across_threads(
    projection: Projection,
) -> None:
    train, test = _data(30, 1), _data(3, 2)

    def run(seed: int) -> tuple[bytes, bytes]:
        model = _model(0)
        estimator = ProjectedTracIn(
            model,
            [_checkpoint(model, 0.5)],
            _nll,
            projection_dim=8,
            seed=seed,
            projection=projection,
            factor_dim=4,
            vocab_factor_dim=2,
            vocab_buckets=8,  # fewer than the vocabulary: the count sketch is seeded too
            basis_size=20,
            batch_size=7,
        ).fit(*train)
        state = estimator.state()
        return state["features"].tobytes() + state["subspace"].tobytes(), estimator.score(
            *test
        ).tobytes()

    first = run(3)
    assert run(3) == first
    assert run(4) != first
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert run(3) == first
    finally:
        torch.set_num_threads(threads)


def test_factored_tracin_is_exact_for_the_kronecker_gradients_when_the_subspace_spans_them() -> (
    None
):
    model = _model(5)
    checkpoint = _checkpoint(model, 0.3)
    names = [name for name, _ in model.named_parameters()]
    train, test = _data(9, 6), _data(4, 7)
    estimator = ProjectedTracIn(
        model, [checkpoint], _nll, projection_dim=16, projection="factored", factor_dim=3, seed=2
    ).fit(*train)
    factored = FactoredGradients(model, names, _nll, factor_dim=3, seed=2)
    gradients = _PerExampleGradients(model, [checkpoint], _nll, names, 64, None)

    def raw(x: Tensor, y: Tensor) -> Tensor:
        return gradients.apply(lambda s, a, b: factored(0, s, a, b), 0, x, y).double()

    expected = 0.3 * (raw(*test) @ raw(*train).T).numpy()
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(estimator.score(*test), expected, rtol=0, atol=1e-4 * scale)
    assert estimator.energy_kept == pytest.approx(1.0)


@settings(max_examples=6, deadline=None)
@given(
    rows=st.lists(st.integers(0, 9), min_size=1, max_size=5, unique=True),
    projection=st.sampled_from(["factored", "factored-vocab"]),
    vocab_buckets=st.sampled_from([5, VOCAB]),
)
def test_one_query_scores_as_it_does_in_a_batch(
    rows: list[int], projection: Projection, vocab_buckets: int
) -> None:
    model = _model(8)
    train, test = _data(25, 9), _data(10, 10)
    estimator = ProjectedTracIn(
        model,
        [_checkpoint(model)],
        _nll,
        projection_dim=6,
        projection=projection,
        factor_dim=3,
        vocab_factor_dim=2,
        vocab_buckets=vocab_buckets,
    ).fit(*train)
    index = torch.tensor(rows)
    batch = estimator.score(test[0][index], test[1][index])
    for i, row in enumerate(rows):
        one = estimator.score(test[0][row : row + 1], test[1][row : row + 1])
        scale = float(np.abs(batch[i]).max()) or 1.0
        np.testing.assert_allclose(one[0], batch[i], rtol=0, atol=1e-5 * scale)


def test_a_restored_factored_state_scores_as_the_fitted_estimator() -> None:
    model = _model(1)
    train, test = _data(12, 0), _data(3, 1)

    def make() -> ProjectedTracIn:
        return ProjectedTracIn(
            model, [_checkpoint(model)], _nll, projection_dim=5, projection="factored", seed=3
        )

    fitted = make().fit(*train)
    state = fitted.state()
    assert set(state) == {"features", "subspace", "spectrum"}
    assert state["subspace"].shape == (1, 5, fitted.raw_dim)
    restored = make().restore(state)
    np.testing.assert_array_equal(restored.score(*test), fitted.score(*test))


def test_a_parameter_of_an_unknown_layer_is_refused_naming_it() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Conv1d(4, 2, 1))
    with pytest.raises(InputError, match=r"projection='factored'.*\['1\.weight', '1\.bias'\]"):
        ProjectedTracIn(model, [_checkpoint(model)], _nll, projection="factored")
    for bad in (0, -2, True, 1.5):
        with pytest.raises(InputError, match=r"^factor_dim: must be a positive int"):
            FactoredGradients(
                _model(0),
                ["hidden.weight"],
                _nll,
                factor_dim=bad,
                seed=0,  # type: ignore[arg-type]
            )
        for field in ("vocab_factor_dim", "vocab_buckets"):
            with pytest.raises(InputError, match=rf"^{field}: must be a positive int, got"):
                ProjectedTracIn(
                    _model(0),
                    [_checkpoint(_model(0))],
                    _nll,
                    projection="factored-vocab",
                    **{field: bad},
                )
