"""TracIn and projected TracIn against brute force, determinism, aggregation, bad inputs."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from torch import Tensor, nn

from ame_core.exceptions import InputError
from offchain.attribution.reference.lm import TinyTransformerLM, sequence_nll
from offchain.attribution.reference.pipeline import ModelSettings
from offchain.attribution.tda import (
    Checkpoint,
    ProjectedTracIn,
    Projection,
    TracIn,
    aggregate_scores,
)
from offchain.exceptions import AttributionError

# One torch thread: results depend on float summation order, and xdist runs two workers.
pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def _checkpoints(model: nn.Module, n: int, seed: int = 1) -> list[Checkpoint]:
    generator = torch.Generator().manual_seed(seed)
    out = []
    for c in range(n):
        params = {
            name: p.detach() + 0.3 * torch.randn(p.shape, generator=generator)
            for name, p in model.named_parameters()
        }
        out.append(Checkpoint(params, weight=0.1 * (c + 1)))
    return out


def _cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return nn.functional.cross_entropy(logits, targets, reduction="sum")


def _data(n: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=generator), torch.randint(0, 3, (n,), generator=generator)


def _brute_force(
    model: nn.Module,
    checkpoints: list[Checkpoint],
    loss_fn: object,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    test_checkpoints: list[Checkpoint] | None = None,
) -> np.ndarray:
    """Sum over checkpoints of weight * <grad train_i, grad test_j>, one example at a time."""
    assert callable(loss_fn)

    def gradient(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        leaves = {n: t.detach().clone().requires_grad_(True) for n, t in params.items()}
        out = torch.func.functional_call(model, leaves, (x[None],))
        grads = torch.autograd.grad(loss_fn(out, y[None]), list(leaves.values()))
        return torch.cat([g.reshape(-1) for g in grads]).double()

    scores = np.zeros((len(test[0]), len(train[0])))
    for c, checkpoint in enumerate(checkpoints):
        at_test = (test_checkpoints or checkpoints)[c].params
        for j in range(len(test[0])):
            g_test = gradient(dict(at_test), test[0][j], test[1][j])
            for i in range(len(train[0])):
                g_train = gradient(dict(checkpoint.params), train[0][i], train[1][i])
                scores[j, i] += checkpoint.weight * float(g_test @ g_train)
    return scores


def test_tracin_matches_brute_force_gradient_dot_products() -> None:
    model = _mlp()
    checkpoints = _checkpoints(model, 3)
    train, test = _data(13, seed=2), _data(4, seed=3)
    tracin = TracIn(model, checkpoints, _cross_entropy, batch_size=5).fit(*train)
    expected = _brute_force(model, checkpoints, _cross_entropy, train, test)
    np.testing.assert_allclose(tracin.score(*test), expected, rtol=1e-4, atol=1e-6)
    assert tracin.n_train == 13


def test_tracin_matches_brute_force_on_the_transformer_language_model() -> None:
    settings = ModelSettings(d_model=8, n_heads=2, d_ff=16, max_len=8)
    torch.manual_seed(0)
    model = TinyTransformerLM(11, settings)
    checkpoints = _checkpoints(model, 2)
    generator = torch.Generator().manual_seed(4)
    inputs = torch.randint(0, 11, (6, 7), generator=generator)
    targets = torch.randint(0, 11, (6, 7), generator=generator)
    targets[:, :2] = -100  # padding and prompt positions carry no loss
    train, test = (inputs[:4], targets[:4]), (inputs[4:], targets[4:])
    tracin = TracIn(model, checkpoints, sequence_nll).fit(*train)
    expected = _brute_force(model, checkpoints, sequence_nll, train, test)
    np.testing.assert_allclose(tracin.score(*test), expected, rtol=1e-4, atol=1e-6)


def test_test_checkpoints_shift_only_the_test_gradients() -> None:
    model = _mlp()
    checkpoints = _checkpoints(model, 2)
    shifted = _checkpoints(model, 2, seed=9)
    train, test = _data(7, seed=2), _data(3, seed=3)
    tracin = TracIn(model, checkpoints, _cross_entropy, test_checkpoints=shifted).fit(*train)
    expected = _brute_force(model, checkpoints, _cross_entropy, train, test, shifted)
    np.testing.assert_allclose(tracin.score(*test), expected, rtol=1e-4, atol=1e-6)


def test_tracin_restricted_to_named_parameters_uses_only_their_gradients() -> None:
    model = _mlp()
    checkpoints = _checkpoints(model, 1)
    train, test = _data(6, seed=2), _data(2, seed=3)
    last = ["2.weight", "2.bias"]
    scores = TracIn(model, checkpoints, _cross_entropy, params=last).fit(*train).score(*test)
    # With only the last layer, the gradient is (softmax - onehot) outer [hidden, 1].
    params = checkpoints[0].params
    for j in range(2):
        for i in range(6):
            feats = []
            for x, y in ((test[0][j], test[1][j]), (train[0][i], train[1][i])):
                hidden = torch.tanh(x @ params["0.weight"].T + params["0.bias"])
                logits = hidden @ params["2.weight"].T + params["2.bias"]
                delta = logits.softmax(-1) - nn.functional.one_hot(y, 3)
                feats.append(torch.cat([torch.outer(delta, hidden).reshape(-1), delta]))
            expected = checkpoints[0].weight * float(feats[0] @ feats[1])
            assert scores[j, i] == pytest.approx(expected, rel=1e-4, abs=1e-6)


def _wide_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 64), nn.Tanh(), nn.Linear(64, 3))


def test_projected_tracin_correlates_with_exact_and_improves_with_dimension() -> None:
    model = _wide_mlp()
    checkpoints = _checkpoints(model, 2)
    train, test = _data(200, seed=2), _data(3, seed=3)
    exact = TracIn(model, checkpoints, _cross_entropy).fit(*train).score(*test)
    kinds: tuple[Literal["gaussian", "countsketch"], ...] = ("gaussian", "countsketch")
    for kind in kinds:
        errors = {}
        for k in (16, 4096):
            projected = ProjectedTracIn(
                model, checkpoints, _cross_entropy, projection_dim=k, seed=5, projection=kind
            )
            approx = projected.fit(*train).score(*test)
            errors[k] = float(np.abs(approx - exact).mean())
            if k == 4096:
                for row, row_exact in zip(approx, exact, strict=True):
                    assert spearmanr(row, row_exact).statistic > 0.95
        assert errors[4096] < errors[16] / 5


def test_subspace_projection_is_exact_when_the_subspace_spans_the_training_gradients() -> None:
    model = _wide_mlp()
    checkpoints = _checkpoints(model, 2)
    train, test = _data(40, seed=2), _data(3, seed=3)
    exact = TracIn(model, checkpoints, _cross_entropy).fit(*train).score(*test)
    # Every training example is in the basis and k exceeds their number.
    est = ProjectedTracIn(
        model, checkpoints, _cross_entropy, projection_dim=64, projection="subspace"
    ).fit(*train)
    np.testing.assert_allclose(est.score(*test), exact, rtol=1e-4, atol=1e-5 * np.abs(exact).max())
    assert est.energy_kept == pytest.approx(1.0)
    assert not est.train_features[:, 40:].any()  # directions past the rank are zero


def test_subspace_projection_beats_random_ones_at_the_same_dimension() -> None:
    model = _wide_mlp()
    checkpoints = _checkpoints(model, 2)
    train, test = _data(200, seed=2), _data(3, seed=3)
    exact = TracIn(model, checkpoints, _cross_entropy).fit(*train).score(*test)
    errors = {}
    kinds: tuple[Literal["gaussian", "countsketch", "subspace"], ...] = (
        "gaussian",
        "countsketch",
        "subspace",
    )
    for kind in kinds:
        # A basis of 50 of the 200 examples: the subspace generalises beyond its sample.
        est = ProjectedTracIn(
            model,
            checkpoints,
            _cross_entropy,
            projection_dim=32,
            seed=5,
            projection=kind,
            basis_size=50,
        ).fit(*train)
        approx = est.score(*test)
        errors[kind] = float(np.abs(approx - exact).mean() / np.abs(exact).mean())
        if kind == "subspace":
            assert 0.9 < est.energy_kept <= 1.0
            for row, row_exact in zip(approx, exact, strict=True):
                assert spearmanr(row, row_exact).statistic > 0.99
    assert errors["subspace"] < min(errors["gaussian"], errors["countsketch"]) / 10


def test_subspace_fitted_on_a_given_basis_projects_other_examples() -> None:
    model = _wide_mlp()
    checkpoints = _checkpoints(model, 1)
    train, basis, test = _data(30, seed=2), _data(60, seed=4), _data(2, seed=3)
    args = (model, checkpoints, _cross_entropy)
    given = ProjectedTracIn(*args, projection_dim=24, projection="subspace")
    given.fit(*train, basis=basis)
    # The same subspace whether the basis is passed or is the whole (small) training set.
    whole = ProjectedTracIn(*args, projection_dim=24, projection="subspace").fit(*basis)
    np.testing.assert_allclose(given.project(*test), whole.project(*test), rtol=1e-4, atol=1e-6)
    with pytest.raises(InputError, match=r"^basis: only a 'subspace' projection"):
        ProjectedTracIn(*args, projection="gaussian").fit(*train, basis=basis)
    with pytest.raises(InputError, match=r"^basis: 60 inputs but 59 targets"):
        given.fit(*train, basis=(basis[0], basis[1][:59]))


def test_subspace_sample_is_seeded_and_scores_are_bit_identical() -> None:
    model = _wide_mlp()
    checkpoints = _checkpoints(model, 2)
    train, test = _data(120, seed=2), _data(3, seed=3)

    def run(seed: int) -> np.ndarray:
        return (
            ProjectedTracIn(
                model,
                checkpoints,
                _cross_entropy,
                projection_dim=16,
                seed=seed,
                projection="subspace",
                basis_size=40,
            )
            .fit(*train)
            .score(*test)
        )

    assert np.array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))  # another sample of 40, another subspace


def test_subspace_needs_a_fit_before_projecting() -> None:
    model = _mlp()
    est = ProjectedTracIn(model, _checkpoints(model, 1), _cross_entropy, projection="subspace")
    with pytest.raises(AttributionError, match="subspace comes from the training gradients"):
        est.project(*_data(2, seed=1))
    with pytest.raises(AttributionError, match="not fitted"):
        _ = est.energy_kept
    gaussian = ProjectedTracIn(model, _checkpoints(model, 1), _cross_entropy)
    with pytest.raises(AttributionError, match="only for projection='subspace'"):
        _ = gaussian.energy_kept


def test_projected_tracin_is_unbiased_over_seeds() -> None:
    model = _mlp()
    checkpoints = _checkpoints(model, 3)
    train, test = _data(10, seed=2), _data(2, seed=3)
    exact = TracIn(model, checkpoints, _cross_entropy).fit(*train).score(*test)
    mean = np.mean(
        [
            ProjectedTracIn(
                model, checkpoints, _cross_entropy, projection_dim=32, seed=s, projection=kind
            )
            .fit(*train)
            .score(*test)
            for s in range(100)
            for kind in ("gaussian", "rademacher", "countsketch")
        ],
        axis=0,
    )
    # One 32-dimensional estimate is off by ~25%; the mean of 300 is within a few %.
    assert np.abs(mean - exact).max() < 0.08 * np.abs(exact).max()


def test_same_seed_gives_bit_identical_scores_and_features() -> None:
    model = _wide_mlp()
    checkpoints = _checkpoints(model, 2)
    train, test = _data(50, seed=2), _data(3, seed=3)

    def run(
        seed: int, kind: Literal["gaussian", "rademacher", "countsketch"] = "gaussian"
    ) -> tuple[np.ndarray, np.ndarray]:
        est = ProjectedTracIn(
            model, checkpoints, _cross_entropy, projection_dim=32, seed=seed, projection=kind
        ).fit(*train)
        return est.train_features, est.score(*test)

    first, again = run(7), run(7)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], run(8)[1])
    assert not np.array_equal(first[1], run(7, "rademacher")[1])
    sketch = run(7, "countsketch")
    assert np.array_equal(sketch[1], run(7, "countsketch")[1])
    assert not np.array_equal(sketch[1], run(8, "countsketch")[1])
    exact = TracIn(model, checkpoints, _cross_entropy).fit(*train)
    assert np.array_equal(exact.score(*test), exact.score(*test))


def test_regenerated_projections_equal_cached_ones_bit_for_bit() -> None:
    model = _wide_mlp()
    checkpoints = _checkpoints(model, 3)
    train, test = _data(20, seed=2), _data(2, seed=3)
    scores = [
        ProjectedTracIn(
            model, checkpoints, _cross_entropy, projection_dim=16, cache_projections=cache
        )
        .fit(*train)
        .score(*test)
        for cache in (True, False)
    ]
    assert np.array_equal(scores[0], scores[1])


def test_score_features_is_the_product_with_the_stored_matrix() -> None:
    model = _mlp()
    est = ProjectedTracIn(model, _checkpoints(model, 1), _cross_entropy, projection_dim=6)
    train, test = _data(9, seed=2), _data(2, seed=3)
    est.fit(*train)
    features = est.project(*test)
    assert features.shape == (2, 6)
    expected = features.double().numpy() @ est.train_features.astype(np.float64).T
    np.testing.assert_allclose(est.score_features(features), expected, rtol=1e-5)
    np.testing.assert_array_equal(est.score(*test), est.score_features(features))


def test_aggregate_scores_sums_or_averages_per_group_in_first_appearance_order() -> None:
    scores = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [0.5, -1.0, 0.0, 2.0, 2.0]])
    groups = ["b", "a", "b", "c", "a"]
    summed = aggregate_scores(scores, groups)
    assert summed.groups == ("b", "a", "c")
    np.testing.assert_array_equal(summed.values, [[4.0, 7.0, 4.0], [0.5, 1.0, 2.0]])
    np.testing.assert_array_equal(summed.counts, [2, 2, 1])
    assert summed.row(1) == {"b": 0.5, "a": 1.0, "c": 2.0}
    mean = aggregate_scores(scores, groups, how="mean")
    np.testing.assert_array_equal(mean.values, [[2.0, 3.5, 4.0], [0.25, 0.5, 2.0]])


def test_groups_with_equal_scores_get_bit_identical_values_wherever_they_sit() -> None:
    rng = np.random.default_rng(0)
    block = rng.normal(size=(3, 7)) * 1e3
    scores = np.concatenate([rng.normal(size=(3, 5)), block, rng.normal(size=(3, 2)), block], 1)
    groups = ["x"] * 5 + ["dup1"] * 7 + ["y"] * 2 + ["dup2"] * 7
    result = aggregate_scores(scores, groups)
    np.testing.assert_array_equal(result.values[:, 1], result.values[:, 3])


def test_scoring_before_fit_raises_attribution_error() -> None:
    model = _mlp()
    checkpoints = _checkpoints(model, 1)
    with pytest.raises(AttributionError, match="not fitted"):
        TracIn(model, checkpoints, _cross_entropy).score(*_data(2, seed=1))
    with pytest.raises(AttributionError, match="not fitted"):
        _ = ProjectedTracIn(model, checkpoints, _cross_entropy).train_features


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"checkpoints": []}, "checkpoints"),
        ({"batch_size": 0}, "batch_size"),
        ({"params": ["nope.weight"]}, "params"),
        ({"params": []}, "params"),
        ({"projection_dim": 0}, "projection_dim"),
        ({"seed": -1}, "seed"),
        ({"projection": "sparse"}, "projection"),
        ({"basis_size": 0}, "basis_size"),
        ({"test_checkpoints": []}, "test_checkpoints"),
    ],
)
def test_bad_estimator_arguments_raise_input_error_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    model = _mlp()
    args: dict[str, object] = {"checkpoints": _checkpoints(model, 1), **kwargs}
    with pytest.raises(InputError, match=rf"^{field}"):
        ProjectedTracIn(model, loss_fn=_cross_entropy, **args)  # type: ignore[arg-type]


def test_bad_checkpoints_raise_input_error_naming_index_and_parameter() -> None:
    model = _mlp()
    good = _checkpoints(model, 2)
    missing = Checkpoint({n: t for n, t in good[1].params.items() if n != "2.bias"})
    with pytest.raises(InputError, match=r"checkpoints\[1\]\.params: missing '2\.bias'"):
        TracIn(model, [good[0], missing], _cross_entropy)
    misshaped = Checkpoint({**good[0].params, "0.bias": torch.zeros(3)})
    with pytest.raises(InputError, match=r"checkpoints\[0\]\.params\['0\.bias'\]: shape"):
        TracIn(model, [misshaped], _cross_entropy)
    with pytest.raises(InputError, match=r"checkpoints\[0\]\.weight"):
        TracIn(model, [Checkpoint(good[0].params, weight=-1.0)], _cross_entropy)


def test_bad_data_raise_input_error_naming_the_batch() -> None:
    model = _mlp()
    est = TracIn(model, _checkpoints(model, 1), _cross_entropy)
    x, y = _data(4, seed=1)
    with pytest.raises(InputError, match=r"^train: 4 inputs but 3 targets"):
        est.fit(x, y[:3])
    with pytest.raises(InputError, match=r"^train: need at least one example"):
        est.fit(x[:0], y[:0])
    est.fit(x, y)
    with pytest.raises(InputError, match=r"^test: inputs and targets must be torch tensors"):
        est.score(x.numpy(), y)  # type: ignore[arg-type]
    projected = ProjectedTracIn(model, _checkpoints(model, 1), _cross_entropy, projection_dim=4)
    projected.fit(x, y)
    with pytest.raises(InputError, match=r"^features: expected shape \(n, 4\)"):
        projected.score_features(torch.zeros(2, 5))


@pytest.mark.parametrize(
    ("groups", "how", "field"),
    [(["a", "b"], "sum", "groups"), (["a", "b", "c"], "median", "how")],
)
def test_bad_aggregation_raises_input_error_naming_the_field(
    groups: list[str], how: str, field: str
) -> None:
    with pytest.raises(InputError, match=f"^{field}"):
        aggregate_scores(np.zeros((1, 3)), groups, how=how)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^scores"):
        aggregate_scores(np.zeros(3), ["a", "b", "c"])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), n_train=st.integers(1, 9), n_test=st.integers(1, 4))
def test_tracin_features_multiply_to_its_scores(seed: int, n_train: int, n_test: int) -> None:
    model = _mlp(seed % 7)
    checkpoints = _checkpoints(model, 2, seed=seed)
    train, test = _data(n_train, seed), _data(n_test, seed + 1)
    tracin = TracIn(model, checkpoints, _cross_entropy, batch_size=4).fit(*train)
    advanced: list[int] = []
    features = tracin.features(*train, advance=advanced.append)
    assert sum(advanced) == n_train
    from_features = TracIn.score_features(tracin.features(*test, test=True), features)
    np.testing.assert_allclose(from_features, tracin.score(*test), rtol=1e-5, atol=1e-6)
    expected = _brute_force(model, checkpoints, _cross_entropy, train, test)
    np.testing.assert_allclose(from_features, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(InputError, match="must be matrices of the same width"):
        TracIn.score_features(features[:, :3], features)


@pytest.mark.parametrize("projection", ["gaussian", "rademacher", "countsketch", "subspace"])
def test_a_restored_state_scores_as_the_fitted_estimator(projection: Projection) -> None:
    model = _mlp()
    checkpoints = _checkpoints(model, 2)
    train, test = _data(12, 0), _data(3, 1)

    def make() -> ProjectedTracIn:
        return ProjectedTracIn(
            model, checkpoints, _cross_entropy, projection_dim=6, projection=projection, seed=3
        )

    advanced: list[int] = []
    fitted = make().fit(*train, advance=advanced.append)
    assert sum(advanced) == 12
    state = fitted.state()
    assert set(state) == (
        {"features", "subspace", "spectrum"} if projection == "subspace" else {"features"}
    )
    restored = make().restore(state)
    np.testing.assert_array_equal(restored.score(*test), fitted.score(*test))
    if projection == "subspace":
        assert restored.energy_kept == fitted.energy_kept


def test_restoring_a_state_of_the_wrong_shape_is_refused() -> None:
    model = _mlp()
    estimator = ProjectedTracIn(
        model, _checkpoints(model, 1), _cross_entropy, projection_dim=4, projection="subspace"
    )
    state = estimator.fit(*_data(5, 0)).state()
    with pytest.raises(InputError, match=r"state\['features'\]: shape \(5, 3\)"):
        estimator.restore({**state, "features": state["features"][:, :3]})
    with pytest.raises(InputError, match=r"state\['subspace'\]: expected an array"):
        estimator.restore({"features": state["features"]})
    with pytest.raises(InputError, match=r"state\['features'\]: no training example"):
        estimator.restore({**state, "features": state["features"][:0]})
    with pytest.raises(AttributionError, match="not fitted"):
        ProjectedTracIn(model, _checkpoints(model, 1), _cross_entropy).state()


def _language_model() -> tuple[nn.Module, list[Checkpoint]]:
    """A tiny transformer over 40 token ids: a query's gradient is zero on unused rows."""
    torch.manual_seed(0)
    model = TinyTransformerLM(40, ModelSettings(d_model=8, n_heads=2, d_ff=16, max_len=8))
    return model, _checkpoints(model, 2)


def _token_data(n: int, seed: int, vocab: int, length: int = 7) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, vocab, (n, length), generator=generator)
    targets = torch.randint(0, 40, (n, length), generator=generator)
    targets[:, :2] = -100
    return inputs, targets


def _dense_reference(est: ProjectedTracIn, inputs: Tensor, targets: Tensor) -> np.ndarray:
    """Features as one float64 product of all of each checkpoint's gradient and matrix."""
    out = np.zeros((len(inputs), est.projection_dim))
    for c in range(2):
        grads = est._raw(c, inputs, targets, test=True).double().numpy()
        if est.projection == "subspace":
            assert est._subspace is not None
            out += grads @ est._subspace[c].double().numpy().T
        else:
            out += grads @ est._matrix(c).double().numpy()
    return out


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**16),
    n_test=st.sampled_from([1, 2, 3, 70]),
    vocab=st.sampled_from([1, 3, 40]),
    silent=st.booleans(),
    projection=st.sampled_from(["subspace", "gaussian", "rademacher"]),
)
def test_projecting_only_the_nonzero_gradient_columns_equals_the_dense_float64_product(
    seed: int, n_test: int, vocab: int, silent: bool, projection: Projection
) -> None:
    # Queries of few examples over few token ids (long zero runs in the embedding's
    # gradient), over every id (few zeros), with no loss at all (an all-zero gradient),
    # and a batch past _SPARSE_ROWS (the one dense product).
    model, checkpoints = _language_model()
    est = ProjectedTracIn(
        model, checkpoints, sequence_nll, projection_dim=24, seed=seed, projection=projection
    ).fit(*_token_data(60, seed + 1, 40))
    inputs, targets = _token_data(n_test, seed + 2, vocab)
    if silent:
        targets[:] = -100
    features = est.project(inputs, targets)
    expected = _dense_reference(est, inputs, targets)
    scale = max(float(np.abs(expected).max()), 1e-12)
    np.testing.assert_allclose(features.double().numpy(), expected, rtol=0, atol=1e-5 * scale)
    if silent:
        assert not features.any()
    assert torch.equal(features, est.project(inputs, targets))  # the same bits on a rerun


def test_column_runs_cover_every_nonzero_column_and_bridge_short_gaps() -> None:
    from offchain.attribution.tda import _RUN_GAP, _column_runs

    grads = torch.zeros(2, 3 * _RUN_GAP)
    grads[0, 3] = 1.0
    grads[1, 3 + _RUN_GAP] = -2.0  # _RUN_GAP - 1 zero columns in between: bridged
    grads[0, 2 * _RUN_GAP + 10] = 0.5  # a longer one: a new run
    assert _column_runs(grads) == [(3, 4 + _RUN_GAP), (2 * _RUN_GAP + 10, 2 * _RUN_GAP + 11)]
    assert _column_runs(torch.zeros(1, 9)) == []


def test_the_first_k_directions_of_a_wider_subspace_score_as_a_k_dimensional_fit() -> None:
    # bench/tda.py sweeps k by cutting one wide fit: direction i and feature coordinate i
    # come from eigenvector i alone, so the cut equals the narrower fit up to rounding.
    model, checkpoints = _language_model()
    train, test = _token_data(50, seed=1, vocab=40), _token_data(3, seed=2, vocab=40)

    def estimator(k: int) -> ProjectedTracIn:
        return ProjectedTracIn(
            model, checkpoints, sequence_nll, projection_dim=k, projection="subspace"
        )

    wide = estimator(24).fit(*train).state()
    cut = {
        "features": wide["features"][:, :10],
        "subspace": wide["subspace"][:, :10],
        "spectrum": wide["spectrum"],
    }
    narrow = estimator(10).fit(*train)
    expected = narrow.score(*test)
    got = estimator(10).restore(cut)
    np.testing.assert_allclose(
        got.score(*test), expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max()
    )
    assert got.energy_kept == pytest.approx(narrow.energy_kept)
