r"""Gradient-based training-data attribution: TracIn, exact and randomly projected.

TracInCP (Pruthi et al., 2020, "Estimating Training Data Influence by Tracing Gradient
Descent", NeurIPS) scores a training example :math:`z` against a test example
:math:`z'` by replaying checkpoints :math:`\theta_1, \dots, \theta_C` of training:

.. math::

    \operatorname{TracIn}(z, z') = \sum_{c=1}^{C} \eta_c \,
        \nabla_\theta \ell(\theta_c, z) \cdot \nabla_\theta \ell(\theta_c, z'),

where :math:`\eta_c` is the learning rate (times the steps the checkpoint stands for).
A positive score marks a proponent: gradient steps on :math:`z` lowered the loss of
:math:`z'`. :class:`TracIn` computes it exactly, with per-example gradients from
``torch.func`` (``functional_call`` + ``vmap(grad)``), streaming the training gradients
at query time, so it needs no memory per training example but costs a backward pass per
training example per query.

:class:`ProjectedTracIn` follows the random-projection idea of Pruthi et al. and of TRAK
(Park et al., 2023, "TRAK: Attributing Model Behavior at Scale", ICML): each example is
stored once as a ``k``-dimensional feature

.. math::

    \phi(z) = \sum_{c=1}^{C} \sqrt{\eta_c}\, P_c \nabla_\theta \ell(\theta_c, z),
    \qquad (P_c)_{ij} \overset{iid}{\sim} \mathcal N(0, 1/k)
    \text{ or } \pm 1/\sqrt{k},

with independent seeded matrices :math:`P_c \in \mathbb R^{k \times p}`. Since
:math:`\mathbb E[P_c^\top P_d] = \delta_{cd} I`, the product :math:`\phi(z) \cdot
\phi(z')` is an unbiased estimate of TracIn whose error shrinks as :math:`1/\sqrt{k}`
(Johnson-Lindenstrauss), and scoring one test example against :math:`n` training
examples is one :math:`(n \times k)` matrix-vector product. A dense :math:`P_c` costs
:math:`pk` per example and as much memory; ``projection="countsketch"`` uses a sparse
one instead (Charikar, Chen and Farach-Colton, 2002; Weinberger et al., 2009, "Feature
Hashing for Large Scale Multitask Learning"): each parameter :math:`j` is added, with a
random sign :math:`s_c(j)`, to one random coordinate :math:`h_c(j)` of the feature,

.. math::

    (P_c g)_i = \sum_{j : h_c(j) = i} s_c(j)\, g_j ,

also with :math:`\mathbb E[P_c^\top P_d] = \delta_{cd} I` and the same :math:`O(1/k)`
variance for gradients without a few dominant coordinates, at :math:`O(p)` work per
example and :math:`O(p)` memory. Unlike TRAK, no
:math:`(\Phi^\top \Phi)^{-1}` kernel and no model ensemble are applied: the estimand
stays TracIn.

A random projection spends its ``k`` coordinates on every direction of parameter space
alike, so its error shrinks only as :math:`1/\sqrt{k}` whatever the data.
Per-example gradients of a trained network are far from isotropic: they concentrate
in a subspace of low dimension. ``projection="subspace"`` spends the coordinates
there: it stacks the weighted gradients of a seeded sample of ``basis_size`` training
examples, :math:`\tilde g(z) = (\sqrt{\eta_1} g_1(z), \dots, \sqrt{\eta_C} g_C(z))`,
into :math:`B \in \mathbb R^{m \times Cp}` and takes the top ``k`` eigenvectors
:math:`U_k` (eigenvalues :math:`\lambda_k`) of the Gram matrix :math:`B B^\top`; then

.. math::

    V = B^\top U_k \Lambda_k^{-1/2}, \qquad \phi(z) = V^\top \tilde g(z),

so :math:`V` has orthonormal columns spanning the top principal directions of the
training gradients (an uncentred PCA of the sample) and :math:`\phi(z) \cdot \phi(z')
= \tilde g(z)^\top V V^\top \tilde g(z')` is TracIn with the training gradient's
component outside the subspace dropped. The estimate is exact when the training
gradients lie in the subspace (for instance when ``k`` is at least the number of
training examples and all of them are in the sample), and biased towards zero, not
noisy, otherwise; the eigenvalues give the share of the sample's gradient energy
kept. The cost is a dense ``(Cp, k)`` projection (the same memory as a cached
Gaussian one) and, at :meth:`~ProjectedTracIn.fit`, the sample's gradients
(``4 * basis_size * C * p`` bytes) and their Gram matrix. This is the idea of Schioppa
et al. (2022, "Scaling Up Influence Functions", AAAI), who project onto the top
eigenvectors of the Hessian, applied to the gradients TracIn multiplies.

A dense subspace still reads its ``k * C * p`` numbers for every query, except the
columns where the query's gradient is zero (the embedding rows its tokens do not use,
40 % of the reference model's parameters, are skipped): 71 ms for one event on a GPT-2
of half a million parameters, whose tied embedding is also the output layer and so has
a dense gradient. ``projection="factored"`` first
projects each gradient layer by layer with seeded Kronecker factors, the way LoGra does
(Choe et al., 2024, "What is Your Data Worth to GPT?"; :mod:`._factored`): a linear
layer's per-example gradient is :math:`\sum_t \delta_t a_t^\top`, and
:math:`(R \otimes C) \operatorname{vec} G = \operatorname{vec} \sum_t (R \delta_t)
(C a_t)^\top` is computed from forward hooks and one backward pass to the layers'
outputs, without forming any per-example gradient. The subspace above is then fitted
to these ``raw_dim`` numbers instead of the ``p`` parameters, so the dense step reads
``k * raw_dim`` numbers (``raw_dim`` a few tens of thousands) and the estimate is TracIn
of the Kronecker-projected gradients, restricted to their top principal directions.
``projection="factored-vocab"`` does the same except for embedding tables (and an
output head tied to one), whose rows, one per token, are kept apart (count-sketched
beyond ``vocab_buckets`` rows) and only their columns projected, to rank
``vocab_factor_dim``: a Gaussian factor over the vocabulary mixes the rows of unrelated
tokens, and on a language model those rows carry most of the gradient (see
:mod:`._factored`).

Per-dataset values (:func:`aggregate_scores`) sum the scores of a dataset's examples,
the first-order estimate of how much the test loss would rise without that dataset's
gradient steps; ``how="mean"`` divides by the dataset size instead, which does not pay
for sheer volume (a duplicated example counts twice in a sum, once in a mean).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from ame_core.exceptions import InputError
from offchain.attribution._factored import FactoredGradients
from offchain.exceptions import AttributionError

__all__ = [
    "Checkpoint",
    "GroupedScores",
    "LossFn",
    "ProjectedTracIn",
    "Projection",
    "TracIn",
    "aggregate_scores",
]

#: Loss of one example: ``loss_fn(model(inputs[None]), targets[None])`` -> scalar tensor.
LossFn = Callable[[Tensor, Tensor], Tensor]

#: How :class:`ProjectedTracIn` maps a gradient to a feature.
Projection = Literal[
    "gaussian", "rademacher", "countsketch", "subspace", "factored", "factored-vocab"
]
_PROJECTIONS: tuple[Projection, ...] = (
    "gaussian",
    "rademacher",
    "countsketch",
    "subspace",
    "factored",
    "factored-vocab",
)
#: Projections fitted to a sample of training gradients (a subspace), not only seeded.
_FITTED: tuple[Projection, ...] = ("subspace", "factored", "factored-vocab")
#: Projections whose gradients are first projected layer by layer (:mod:`._factored`).
_FACTORED: tuple[Projection, ...] = ("factored", "factored-vocab")
#: Seed stream of the subspace's sample, apart from the per-checkpoint streams ``0..C-1``.
_BASIS_STREAM = 2**32 - 1
#: Eigenvalues of the Gram matrix below this share of the largest are dropped: the
#: float32 Gram matrix resolves about 1e-7 of it, and such a direction's energy is nil.
_RELATIVE_EIGEN_FLOOR = 1e-6


@dataclass(frozen=True)
class Checkpoint:
    """Parameters of the model at one point of training, with their TracIn weight.

    Attributes:
        params: Parameter tensors by name (as in ``model.named_parameters()``); must
            cover every parameter attributed through. Other parameters missing here
            are taken from the model.
        weight: :math:`\\eta_c`, the learning rate times the steps it stands for.
    """

    params: Mapping[str, Tensor]
    weight: float = 1.0


class _PerExampleGradients:
    """Flattened per-example gradients of ``loss_fn`` at a checkpoint, by ``vmap(grad)``."""

    def __init__(
        self,
        model: nn.Module,
        checkpoints: Sequence[Checkpoint],
        loss_fn: LossFn,
        params: Sequence[str] | None,
        batch_size: int,
        test_checkpoints: Sequence[Checkpoint] | None,
    ) -> None:
        if not checkpoints:
            raise InputError("checkpoints: need at least one checkpoint, got none")
        if test_checkpoints is not None and len(test_checkpoints) != len(checkpoints):
            raise InputError(
                f"test_checkpoints: {len(test_checkpoints)} given for "
                f"{len(checkpoints)} checkpoints; they must pair up"
            )
        if batch_size <= 0:
            raise InputError(f"batch_size: must be positive, got {batch_size}")
        own = dict(model.named_parameters())
        names = [n for n, p in own.items() if p.requires_grad] if params is None else list(params)
        if not names:
            raise InputError("params: no parameter to attribute through")
        for name in names:
            if name not in own:
                raise InputError(f"params: {name!r} is not a parameter of the model")
        pairs = [("checkpoints", checkpoints)]
        if test_checkpoints is not None:
            pairs.append(("test_checkpoints", test_checkpoints))
        for field, group in pairs:
            for c, checkpoint in enumerate(group):
                if not np.isfinite(checkpoint.weight) or checkpoint.weight < 0:
                    raise InputError(
                        f"{field}[{c}].weight: must be finite and >= 0, got {checkpoint.weight}"
                    )
                for name in names:
                    tensor = checkpoint.params.get(name)
                    if tensor is None:
                        raise InputError(f"{field}[{c}].params: missing {name!r}")
                    if tensor.shape != own[name].shape:
                        raise InputError(
                            f"{field}[{c}].params[{name!r}]: shape {tuple(tensor.shape)}, "
                            f"model has {tuple(own[name].shape)}"
                        )
        self.model = model
        self.names = tuple(names)
        self.checkpoints = tuple(checkpoints)
        self.test_checkpoints = tuple(test_checkpoints or checkpoints)
        self.batch_size = batch_size
        self.dim = sum(own[n].numel() for n in names)
        # Parameters not differentiated still come from the checkpoint when it has them.
        self._own = {n: p.detach() for n, p in own.items() if n not in self.names}
        self._buffers = {n: b.detach() for n, b in model.named_buffers()}
        self._loss_fn = loss_fn

        def one_loss(
            trainable: dict[str, Tensor], fixed: dict[str, Tensor], x: Tensor, y: Tensor
        ) -> Tensor:
            state = {**fixed, **self._buffers, **trainable}
            out = functional_call(self.model, state, (x.unsqueeze(0),))
            return self._loss_fn(out, y.unsqueeze(0))

        self._grads = vmap(grad(one_loss), in_dims=(None, None, 0, 0))

    def __call__(self, c: int, inputs: Tensor, targets: Tensor, *, test: bool = False) -> Tensor:
        """``(len(inputs), dim)`` gradients at checkpoint ``c`` (one batch at most).

        With ``test``, at the ``c``-th test checkpoint instead.
        """
        params = (self.test_checkpoints if test else self.checkpoints)[c].params
        trainable = {n: params[n].detach() for n in self.names}
        fixed = {n: params.get(n, t).detach() for n, t in self._own.items()}
        was_training = self.model.training
        # Switching a model's mode walks every submodule (2 ms of a 47 ms query on the
        # HF pipeline's GPT-2); a model already wholly in eval mode is left alone.
        switch = any(m.training for m in self.model.modules())
        if switch:
            self.model.eval()
        try:
            if len(inputs) == 1:
                # One example (a query): plain reverse mode, 4x faster than vmap's batching.
                leaves = {n: t.requires_grad_(True) for n, t in trainable.items()}
                state = {**fixed, **self._buffers, **leaves}
                out = functional_call(self.model, state, (inputs,))
                loss = self._loss_fn(out, targets)
                grads = dict(
                    zip(self.names, torch.autograd.grad(loss, list(leaves.values())), strict=True)
                )
            else:
                grads = self._grads(trainable, fixed, inputs, targets)
        finally:
            if switch:
                self.model.train(was_training)
        return torch.cat([grads[n].reshape(len(inputs), -1) for n in self.names], dim=1)

    def batches(self, n: int) -> range:
        return range(0, n, self.batch_size)

    def apply(
        self,
        fn: Callable[[dict[str, Tensor], Tensor, Tensor], Tensor],
        c: int,
        inputs: Tensor,
        targets: Tensor,
        *,
        test: bool = False,
    ) -> Tensor:
        """``fn(state, inputs, targets)`` under checkpoint ``c``'s parameters, in eval mode.

        ``state`` maps every parameter and buffer name to its tensor, the attributed
        ones (:attr:`names`) taken from the checkpoint (the ``c``-th test checkpoint
        with ``test``).
        """
        params = (self.test_checkpoints if test else self.checkpoints)[c].params
        state = {
            **{n: params.get(n, t).detach() for n, t in self._own.items()},
            **self._buffers,
            **{n: params[n].detach() for n in self.names},
        }
        was_training = self.model.training
        switch = any(m.training for m in self.model.modules())
        if switch:
            self.model.eval()
        try:
            return fn(state, inputs, targets)
        finally:
            if switch:
                self.model.train(was_training)


#: Rows of a gradient block up to which :func:`_dense_projection` skips zero columns:
#: a query's few examples touch few embedding rows, a training batch's touch nearly all.
_SPARSE_ROWS = 64
#: Zero columns between two nonzero runs that :func:`_column_runs` still bridges: one
#: more matrix-vector call costs more than reading a few short unused stretches.
_RUN_GAP = 256


def _column_runs(grads: Tensor) -> list[tuple[int, int]]:
    """Half-open column ranges holding every nonzero entry of ``grads``, in order.

    Ranges closer than :data:`_RUN_GAP` columns are merged; an all-zero block has none.
    """
    columns = torch.nonzero((grads != 0).any(dim=0)).flatten()
    if len(columns) == 0:
        return []
    breaks = torch.nonzero(columns[1:] - columns[:-1] > _RUN_GAP).flatten()
    starts = [int(columns[0]), *(columns[breaks + 1]).tolist()]
    ends = [*(columns[breaks] + 1).tolist(), int(columns[-1]) + 1]
    return list(zip(starts, ends, strict=True))


def _dense_projection(grads: Tensor, columns: Callable[[int, int], Tensor], k: int) -> Tensor:
    """``grads @ M`` for a dense ``(raw_dim, k)`` projection ``M``, skipping zero columns.

    ``columns(a, b)`` is ``M[a:b]`` (a view). A query's gradient is zero on every
    embedding row its tokens do not use (40 % of the reference model's parameters), and
    reading the projection is what a query costs, so small blocks read only the rows of
    ``M`` their nonzero columns meet; the sum over those runs is the same product up to
    float rounding, and depends only on ``grads`` (the same bits on every rerun). Larger
    blocks (training batches) take the one product over all columns.
    """
    if len(grads) > _SPARSE_ROWS:
        return grads @ columns(0, grads.shape[1])
    out = torch.zeros(len(grads), k)
    for a, b in _column_runs(grads):
        out.addmm_(grads[:, a:b], columns(a, b))
    return out


def _check_pair(inputs: Tensor, targets: Tensor, where: str) -> None:
    if not isinstance(inputs, Tensor) or not isinstance(targets, Tensor):
        raise InputError(f"{where}: inputs and targets must be torch tensors")
    if inputs.ndim == 0 or targets.ndim == 0:
        raise InputError(f"{where}: inputs and targets need a leading example dimension")
    if len(inputs) != len(targets):
        raise InputError(
            f"{where}: {len(inputs)} inputs but {len(targets)} targets; they must match"
        )
    if len(inputs) == 0:
        raise InputError(f"{where}: need at least one example, got none")


class TracIn:
    """Exact TracInCP over checkpoints, with per-example gradients from ``torch.func``.

    Args:
        model: A module whose ``forward(inputs)`` output ``loss_fn`` consumes; it
            supplies the architecture (and any parameter not in ``params``).
        checkpoints: Parameters to replay, each with its weight :math:`\\eta_c`.
        loss_fn: Per-example loss, see :data:`LossFn`.
        params: Names of the parameters to differentiate; default every parameter
            that requires grad.
        batch_size: Examples per vectorised gradient batch (bounds memory).
        test_checkpoints: Parameters at which test gradients are taken, paired with
            ``checkpoints`` (their weights are ignored); default ``checkpoints``. Pass
            shifted checkpoints to attribute a model derived from the trained one,
            e.g. with a LoRA update merged in: since the update is additive, the
            gradient with respect to the base parameters is taken at the shifted point.

    Raises:
        InputError: If a checkpoint misses or misshapes a parameter, a weight is
            negative, ``batch_size`` is not positive, or ``test_checkpoints`` does not
            pair up with ``checkpoints``.
    """

    def __init__(
        self,
        model: nn.Module,
        checkpoints: Sequence[Checkpoint],
        loss_fn: LossFn,
        *,
        params: Sequence[str] | None = None,
        batch_size: int = 64,
        test_checkpoints: Sequence[Checkpoint] | None = None,
    ) -> None:
        self._gradients = _PerExampleGradients(
            model, checkpoints, loss_fn, params, batch_size, test_checkpoints
        )
        self._train: tuple[Tensor, Tensor] | None = None

    @property
    def n_train(self) -> int:
        """Number of training examples seen by :meth:`fit`."""
        return len(self._fitted()[0])

    def _fitted(self) -> tuple[Tensor, Tensor]:
        if self._train is None:
            raise AttributionError(f"{type(self).__name__} is not fitted: call fit(...) first")
        return self._train

    def fit(self, inputs: Tensor, targets: Tensor) -> Self:
        """Remember the training examples; their gradients are streamed at scoring.

        Args:
            inputs: Training inputs, one example per row.
            targets: Matching targets.

        Returns:
            This estimator.

        Raises:
            InputError: If inputs and targets do not pair up or are empty.
        """
        _check_pair(inputs, targets, "train")
        self._train = (inputs, targets)
        return self

    def features(
        self,
        inputs: Tensor,
        targets: Tensor,
        *,
        test: bool = False,
        advance: Callable[[int], None] | None = None,
    ) -> Tensor:
        """Weighted per-example gradients whose dot products are TracIn.

        Row :math:`i` is :math:`(\\sqrt{\\eta_1} g_1(z_i), \\dots, \\sqrt{\\eta_C}
        g_C(z_i))`, so a test feature times a training feature is their TracIn score
        (:meth:`score_features`). Storing them trades ``4 * n * C * n_params`` bytes
        for not recomputing the training gradients at every query (what :meth:`score`
        does), worth it when the model or the parameters attributed through are small.

        Args:
            inputs: Inputs, one example per row.
            targets: Matching targets.
            test: Take gradients at the test checkpoints (the weights stay the
                training checkpoints').
            advance: Called with the number of examples after each batch of the
                last checkpoint (a progress bar's callable).

        Returns:
            ``(n, n_checkpoints * n_params)`` float32 features.

        Raises:
            InputError: If inputs and targets do not pair up or are empty.
        """
        _check_pair(inputs, targets, "test" if test else "train")
        g = self._gradients
        blocks = []
        for c, checkpoint in enumerate(g.checkpoints):
            scale = float(np.sqrt(checkpoint.weight))
            parts = []
            for s in g.batches(len(inputs)):
                x, y = inputs[s : s + g.batch_size], targets[s : s + g.batch_size]
                parts.append(g(c, x, y, test=test) * scale)
                if advance is not None and c == len(g.checkpoints) - 1:
                    advance(len(x))
            blocks.append(torch.cat(parts))
        return torch.cat(blocks, dim=1)

    @staticmethod
    def score_features(test: Tensor, train: Tensor) -> np.ndarray:
        """TracIn from :meth:`features`: ``(n_test, n_train)`` dot products, as float64.

        Raises:
            InputError: If the feature widths differ.
        """
        if test.ndim != 2 or train.ndim != 2 or test.shape[1] != train.shape[1]:
            raise InputError(
                f"features: test {tuple(test.shape)} and train {tuple(train.shape)} "
                "must be matrices of the same width"
            )
        # A float32 product, as ProjectedTracIn's: widening the stored training features
        # to float64 at each query would copy all of them (2x their memory) every time.
        return (test @ train.T).double().numpy()

    def score(self, inputs: Tensor, targets: Tensor) -> np.ndarray:
        """TracIn of every training example against every test example.

        Args:
            inputs: Test inputs, one example per row.
            targets: Matching targets.

        Returns:
            ``(n_test, n_train)`` float64 scores.

        Raises:
            AttributionError: If the estimator is not fitted.
            InputError: If inputs and targets do not pair up or are empty.
        """
        train_x, train_y = self._fitted()
        _check_pair(inputs, targets, "test")
        g = self._gradients
        out = np.zeros((len(inputs), len(train_x)), dtype=np.float64)
        for c, checkpoint in enumerate(g.checkpoints):
            test = torch.cat(
                [
                    g(c, inputs[s : s + g.batch_size], targets[s : s + g.batch_size], test=True)
                    for s in g.batches(len(inputs))
                ]
            )
            for s in g.batches(len(train_x)):
                train = g(c, train_x[s : s + g.batch_size], train_y[s : s + g.batch_size])
                block = (test @ train.T).double().numpy()
                out[:, s : s + len(train)] += checkpoint.weight * block
        return out


class ProjectedTracIn:
    """TracIn estimated from projections of per-example gradients: random or fitted.

    :meth:`fit` stores one ``projection_dim`` feature per training example (an
    ``(n_train, projection_dim)`` float32 matrix); :meth:`score` projects the test
    gradients the same way and takes one matrix product. The projection matrices take
    ``4 * n_checkpoints * n_params * projection_dim`` bytes when cached (fast scoring),
    ``4 * n_params * projection_dim`` otherwise (each call regenerates them).

    Args:
        model: As for :class:`TracIn`.
        checkpoints: As for :class:`TracIn`.
        loss_fn: As for :class:`TracIn`.
        projection_dim: ``k``, the feature dimension; error falls as ``1/sqrt(k)``.
        seed: Seeds the projection matrices (one independent matrix per checkpoint).
        projection: ``"gaussian"`` (entries ``N(0, 1/k)``), ``"rademacher"``
            (entries ``+-1/sqrt(k)``), both dense, ``"countsketch"`` (sparse; for
            large models), ``"subspace"`` (dense, fitted: the top ``k`` principal
            directions of a sample of training gradients; see the module docstring),
            ``"factored"`` (the subspace of gradients first projected layer by
            layer with seeded Kronecker factors, without forming them; for models of
            linear, Conv1D, embedding and layer-norm layers), or ``"factored-vocab"``
            (the same, with embedding tables projected token by token: for language
            models).
        params: As for :class:`TracIn`.
        batch_size: As for :class:`TracIn`.
        test_checkpoints: As for :class:`TracIn`.
        cache_projections: Keep every checkpoint's dense projection matrix in memory
            instead of regenerating it (from its seed) at each :meth:`project` call.
            Count-sketch hashes and signs and the fitted subspace are always kept.
        basis_size: For ``"subspace"`` and the factored ones: training examples (a
            seeded sample, or all of them if fewer) whose gradients define the subspace.
        factor_dim: For ``"factored"`` and ``"factored-vocab"``: the rank of each
            parameter's two Kronecker factors (see the module docstring).
        vocab_factor_dim: For ``"factored-vocab"``: the rank an embedding table's
            columns are projected to, its rows kept apart.
        vocab_buckets: For ``"factored-vocab"``: an embedding table of more rows than
            this has them count-sketched into this many buckets.

    Raises:
        InputError: As for :class:`TracIn`, or if ``projection_dim`` is not positive,
            ``seed`` is negative, ``projection`` is unknown, ``basis_size``,
            ``factor_dim``, ``vocab_factor_dim`` or ``vocab_buckets`` is not positive,
            or a factored projection meets a parameter of a layer it does not know.
    """

    def __init__(
        self,
        model: nn.Module,
        checkpoints: Sequence[Checkpoint],
        loss_fn: LossFn,
        *,
        projection_dim: int = 256,
        seed: int = 0,
        projection: Projection = "gaussian",
        params: Sequence[str] | None = None,
        batch_size: int = 64,
        test_checkpoints: Sequence[Checkpoint] | None = None,
        cache_projections: bool = True,
        basis_size: int = 2048,
        factor_dim: int = 32,
        vocab_factor_dim: int = 16,
        vocab_buckets: int = 8192,
    ) -> None:
        if projection_dim <= 0:
            raise InputError(f"projection_dim: must be positive, got {projection_dim}")
        if seed < 0:
            raise InputError(f"seed: must be >= 0, got {seed}")
        if projection not in _PROJECTIONS:
            raise InputError(
                f"projection: must be one of {', '.join(map(repr, _PROJECTIONS))}, "
                f"got {projection!r}"
            )
        if basis_size <= 0:
            raise InputError(f"basis_size: must be positive, got {basis_size}")
        self._gradients = _PerExampleGradients(
            model, checkpoints, loss_fn, params, batch_size, test_checkpoints
        )
        self.projection_dim = projection_dim
        self.seed = seed
        self.projection = projection
        self._cache: dict[int, Tensor] | None = {} if cache_projections else None
        self._sketches: dict[int, tuple[Tensor, Tensor]] = {}
        self.basis_size = basis_size
        self._subspace: list[Tensor] | None = None
        self._spectrum: Tensor | None = None
        self._features: Tensor | None = None
        self.factor_dim = factor_dim
        self.vocab_factor_dim = vocab_factor_dim
        self.vocab_buckets = vocab_buckets
        self._factored: FactoredGradients | None = None
        if projection in _FACTORED:
            self._factored = FactoredGradients(
                model,
                self._gradients.names,
                loss_fn,
                factor_dim=factor_dim,
                seed=seed,
                vocab_factor_dim=vocab_factor_dim if projection == "factored-vocab" else None,
                vocab_buckets=vocab_buckets,
            )

    @property
    def raw_dim(self) -> int:
        """Numbers per example before the projection's last step: the parameters', or
        for ``"factored"`` the Kronecker-projected gradient's (what the subspace spans).
        """
        return self._gradients.dim if self._factored is None else self._factored.dim

    def _raw(self, c: int, inputs: Tensor, targets: Tensor, *, test: bool = False) -> Tensor:
        """Gradients at checkpoint ``c`` (``(n, raw_dim)``), Kronecker-projected if factored."""
        factored = self._factored
        if factored is None:
            return self._gradients(c, inputs, targets, test=test)
        return self._gradients.apply(
            lambda state, x, y: factored(c, state, x, y), c, inputs, targets, test=test
        )

    def _generator(self, c: int) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, c]).generate_state(2, dtype=np.uint32)
        return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))

    def _matrix(self, c: int) -> Tensor:
        """Dense ``sqrt(eta_c) P_c`` transposed, ``(dim, k)``, seeded by ``(seed, c)``."""
        if self._cache is not None and c in self._cache:
            return self._cache[c]
        generator = self._generator(c)
        shape = (self._gradients.dim, self.projection_dim)
        if self.projection == "gaussian":
            matrix = torch.randn(shape, generator=generator)
        else:
            matrix = torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
        weight = self._gradients.checkpoints[c].weight
        matrix *= float(np.sqrt(weight / self.projection_dim))
        if self._cache is not None:
            self._cache[c] = matrix
        return matrix

    def _sketch(self, c: int) -> tuple[Tensor, Tensor]:
        """Buckets ``h_c`` and signs ``sqrt(eta_c) s_c`` of the count sketch (cached)."""
        if c not in self._sketches:
            generator = self._generator(c)
            dim = self._gradients.dim
            buckets = torch.randint(0, self.projection_dim, (dim,), generator=generator)
            signs = torch.randint(0, 2, (dim,), generator=generator).float() * 2 - 1
            signs *= float(np.sqrt(self._gradients.checkpoints[c].weight))
            self._sketches[c] = (buckets, signs)
        return self._sketches[c]

    def _fit_subspace(self, x: Tensor, y: Tensor) -> None:
        """``sqrt(eta_c) V_c`` per checkpoint from the Gram matrix of ``x``'s gradients."""
        g = self._gradients
        p, k = self.raw_dim, self.projection_dim
        scales = [float(np.sqrt(c.weight)) for c in g.checkpoints]
        basis = torch.empty(len(x), len(g.checkpoints) * p)
        for c, scale in enumerate(scales):
            for s in g.batches(len(x)):
                block = self._raw(c, x[s : s + g.batch_size], y[s : s + g.batch_size])
                basis[s : s + len(block), c * p : (c + 1) * p] = block * scale
        eigenvalues, eigenvectors = torch.linalg.eigh((basis @ basis.T).double())
        eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
        # Directions the float32 Gram matrix cannot resolve carry no usable signal.
        top = float(eigenvalues[0]) if len(eigenvalues) else 0.0
        rank = int((eigenvalues > top * _RELATIVE_EIGEN_FLOOR).sum()) if top > 0 else 0
        kept = min(k, rank)
        whiten = eigenvectors[:, :kept] / eigenvalues[:kept].sqrt()
        # Kept as (k, p) rows: a query's (1, p) @ (p, k) product reads them in order.
        directions = torch.zeros(k, basis.shape[1])
        directions[:kept] = whiten.T.float() @ basis
        self._subspace = [
            (directions[:, c * p : (c + 1) * p] * scale).contiguous()
            for c, scale in enumerate(scales)
        ]
        self._spectrum = eigenvalues.clamp(min=0.0)

    @property
    def energy_kept(self) -> float:
        """For ``"subspace"``: share of the sample's gradient energy in the subspace.

        One minus the relative squared error of projecting the sample's own (weighted)
        gradients; 1.0 means they lie in the subspace.

        Raises:
            AttributionError: If the projection is not ``"subspace"`` or not fitted.
        """
        if self.projection not in _FITTED:
            raise AttributionError(
                f"energy_kept: only for projection='subspace', 'factored' or 'factored-vocab', not "
                f"{self.projection!r}"
            )
        if self._spectrum is None:
            raise AttributionError(f"{type(self).__name__} is not fitted: call fit(...) first")
        total = float(self._spectrum.sum())
        if total == 0.0:
            return 1.0
        return float(self._spectrum[: self.projection_dim].sum()) / total

    def _project_block(self, c: int, grads: Tensor) -> Tensor:
        if self.projection in _FITTED:
            if self._subspace is None:
                raise AttributionError(
                    f"{type(self).__name__} is not fitted: the subspace comes from the "
                    "training gradients, call fit(...) first"
                )
            rows = self._subspace[c]
            return _dense_projection(grads, lambda a, b: rows[:, a:b].T, self.projection_dim)
        if self.projection != "countsketch":
            matrix = self._matrix(c)
            return _dense_projection(grads, lambda a, b: matrix[a:b], self.projection_dim)
        buckets, signs = self._sketch(c)
        out = torch.zeros(len(grads), self.projection_dim)
        return out.index_add_(1, buckets, grads * signs)

    def project(
        self,
        inputs: Tensor,
        targets: Tensor,
        *,
        test: bool = True,
        advance: Callable[[int], None] | None = None,
    ) -> Tensor:
        """Features :math:`\\phi(z)` of examples, ``(n, projection_dim)`` float32.

        Args:
            inputs: Inputs, one example per row.
            targets: Matching targets.
            test: Take gradients at the test checkpoints (as :meth:`score` does);
                False for the training checkpoints (as :meth:`fit` does).
            advance: Called with the number of examples after each batch of the
                last checkpoint (a progress bar's callable).

        Raises:
            InputError: If inputs and targets do not pair up or are empty.
        """
        _check_pair(inputs, targets, "test" if test else "train")
        g = self._gradients
        out = torch.zeros(len(inputs), self.projection_dim)
        for c in range(len(g.checkpoints)):
            for s in g.batches(len(inputs)):
                x, y = inputs[s : s + g.batch_size], targets[s : s + g.batch_size]
                out[s : s + len(x)] += self._project_block(c, self._raw(c, x, y, test=test))
                if advance is not None and c == len(g.checkpoints) - 1:
                    advance(len(x))
        return out

    @property
    def train_features(self) -> np.ndarray:
        """The stored ``(n_train, projection_dim)`` training features (a copy)."""
        return self._fitted().T.numpy().copy()

    @property
    def n_train(self) -> int:
        """Number of training examples seen by :meth:`fit`."""
        return self._fitted().shape[1]

    def _fitted(self) -> Tensor:
        """The training features as ``(projection_dim, n_train)`` rows (see :meth:`fit`)."""
        if self._features is None:
            raise AttributionError(f"{type(self).__name__} is not fitted: call fit(...) first")
        return self._features

    def fit(
        self,
        inputs: Tensor,
        targets: Tensor,
        *,
        basis: tuple[Tensor, Tensor] | None = None,
        advance: Callable[[int], None] | None = None,
    ) -> Self:
        """Project and store the training examples' gradients.

        With ``projection="subspace"`` the subspace is fitted first, from the gradients
        of ``basis`` or, by default, of a seeded sample of ``basis_size`` training
        examples (all of them if there are fewer).

        Args:
            inputs: Training inputs, one example per row.
            targets: Matching targets.
            basis: For ``"subspace"``: ``(inputs, targets)`` of the examples whose
                gradients define the subspace, instead of the sample.
            advance: Called with the number of training examples as their features
                are stored (after the subspace is fitted).

        Returns:
            This estimator.

        Raises:
            InputError: If inputs and targets do not pair up or are empty, or
                ``basis`` is given to a random projection.
        """
        _check_pair(inputs, targets, "train")
        if basis is not None and self.projection not in _FITTED:
            raise InputError(
                f"basis: only a 'subspace' projection (or a factored one) is fitted, not "
                f"{self.projection!r}"
            )
        if self.projection in _FITTED:
            if basis is not None:
                _check_pair(*basis, "basis")
                self._fit_subspace(*basis)
            elif len(inputs) <= self.basis_size:
                self._fit_subspace(inputs, targets)
            else:
                rng = np.random.default_rng(np.random.SeedSequence([self.seed, _BASIS_STREAM]))
                rows = np.sort(rng.choice(len(inputs), self.basis_size, replace=False))
                sample = torch.from_numpy(rows)
                self._fit_subspace(inputs[sample], targets[sample])
        # Stored transposed: scoring one query is then (1, k) @ (k, n), which streams
        # the rows; the (n, k) layout's gemv ran 2.4x slower here (MKL on this CPU).
        self._features = self.project(inputs, targets, test=False, advance=advance).T.contiguous()
        return self

    def state(self) -> dict[str, np.ndarray]:
        """What :meth:`fit` computed, as arrays: to store and :meth:`restore` later.

        ``"features"``, the ``(n_train, projection_dim)`` training features, and for
        ``"subspace"`` also ``"subspace"``, the ``(n_checkpoints, projection_dim,
        n_params)`` weighted directions, and ``"spectrum"``, the sample's eigenvalues.
        Random projections need no more: their matrices follow from the seed.

        Raises:
            AttributionError: If the estimator is not fitted.
        """
        # A Fortran-ordered copy: the same bytes as the stored (projection_dim, n_train)
        # rows, so writing it and restoring it (even memory-mapped) copies nothing more.
        out = {"features": self._fitted().numpy().T.copy(order="K")}
        if self.projection in _FITTED:
            if self._subspace is None or self._spectrum is None:
                raise AttributionError(f"{type(self).__name__} is not fitted: call fit(...) first")
            out["subspace"] = torch.stack(self._subspace).numpy()
            out["spectrum"] = self._spectrum.numpy().copy()
        return out

    def restore(self, state: Mapping[str, np.ndarray]) -> Self:
        """Take a fitted state from :meth:`state` instead of calling :meth:`fit`.

        The caller vouches that the state came from an estimator with the same model,
        checkpoints, parameters and projection settings; shapes are checked.

        Args:
            state: The arrays :meth:`state` returned.

        Returns:
            This estimator, fitted.

        Raises:
            InputError: If an array is missing or has the wrong shape or type.
        """
        k, p = self.projection_dim, self.raw_dim
        shapes: dict[str, tuple[int | None, ...]] = {"features": (None, k)}
        if self.projection in _FITTED:
            shapes |= {"subspace": (len(self._gradients.checkpoints), k, p), "spectrum": (None,)}
        arrays = {}
        for name, shape in shapes.items():
            array = state.get(name)
            if not isinstance(array, np.ndarray) or array.ndim != len(shape):
                raise InputError(f"state[{name!r}]: expected an array of shape {shape}")
            if any(
                want is not None and got != want
                for got, want in zip(array.shape, shape, strict=True)
            ):
                raise InputError(
                    f"state[{name!r}]: shape {array.shape}, expected {shape} (None: any)"
                )
            array = np.asarray(array, dtype=np.float32)
            if not (array.flags.c_contiguous or array.flags.f_contiguous):
                array = np.ascontiguousarray(array)
            # No copy of a contiguous float32 array (a memory-mapped one stays mapped):
            # Fortran-ordered features are already the stored rows' layout.
            arrays[name] = torch.from_numpy(array)
        if len(arrays["features"]) == 0:
            raise InputError("state['features']: no training example")
        if self.projection in _FITTED:
            self._subspace = [m.contiguous() for m in arrays["subspace"]]
            self._spectrum = torch.from_numpy(np.asarray(state["spectrum"], dtype=np.float64))
        self._features = arrays["features"].T.contiguous()
        return self

    def score_features(self, features: Tensor) -> np.ndarray:
        """Scores of already projected test features against the training features.

        Args:
            features: ``(n_test, projection_dim)`` output of :meth:`project`.

        Returns:
            ``(n_test, n_train)`` float64 scores.
        """
        train = self._fitted()
        if features.ndim != 2 or features.shape[1] != self.projection_dim:
            raise InputError(
                f"features: expected shape (n, {self.projection_dim}), got {tuple(features.shape)}"
            )
        return (features @ train).double().numpy()

    def score(self, inputs: Tensor, targets: Tensor) -> np.ndarray:
        """Estimated TracIn of every training example against every test example.

        Args:
            inputs: Test inputs, one example per row.
            targets: Matching targets.

        Returns:
            ``(n_test, n_train)`` float64 scores.

        Raises:
            AttributionError: If the estimator is not fitted.
            InputError: If inputs and targets do not pair up or are empty.
        """
        self._fitted()
        return self.score_features(self.project(inputs, targets))


@dataclass(frozen=True)
class GroupedScores:
    """Per-example scores aggregated over groups (datasets), per test example.

    Attributes:
        groups: Group ids, in order of first appearance.
        values: ``(n_test, n_groups)`` aggregated scores.
        counts: ``(n_groups,)`` training examples per group.
        how: ``"sum"`` or ``"mean"``.
    """

    groups: tuple[str, ...]
    values: np.ndarray
    counts: np.ndarray
    how: Literal["sum", "mean"]

    def row(self, test: int = 0) -> dict[str, float]:
        """The values of one test example by group id."""
        return {g: float(v) for g, v in zip(self.groups, self.values[test], strict=True)}


def aggregate_scores(
    scores: np.ndarray, groups: Sequence[str], how: Literal["sum", "mean"] = "sum"
) -> GroupedScores:
    """Aggregate ``(n_test, n_train)`` scores over the group (dataset) of each example.

    Args:
        scores: Output of :meth:`TracIn.score` or :meth:`ProjectedTracIn.score`.
        groups: Group id of each training example (``n_train`` entries).
        how: ``"sum"`` (first-order effect of removing the whole group) or ``"mean"``
            (per-example average; size-independent).

    Returns:
        The aggregated scores.

    Raises:
        InputError: If shapes disagree or ``how`` is unknown.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise InputError(f"scores: expected (n_test, n_train), got shape {scores.shape}")
    if len(groups) != scores.shape[1]:
        raise InputError(f"groups: {len(groups)} group ids for {scores.shape[1]} training examples")
    if how not in ("sum", "mean"):
        raise InputError(f"how: must be 'sum' or 'mean', got {how!r}")
    return _aggregate(scores, *_group_members(groups), how)


def _group_members(groups: Sequence[str]) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """Group ids in order of first appearance, and each group's member indices (ascending).

    What :func:`aggregate_scores` computes from ``groups`` at every call; a caller that
    aggregates many score rows over the same groups computes it once.
    """
    index: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        index.setdefault(group, []).append(i)
    return tuple(index), [np.asarray(m, dtype=np.intp) for m in index.values()]


def _aggregate(
    scores: np.ndarray,
    ids: tuple[str, ...],
    members: Sequence[np.ndarray],
    how: Literal["sum", "mean"],
) -> GroupedScores:
    """:func:`aggregate_scores` given :func:`_group_members`' output (checked by the caller)."""
    # Column sums per group (not a 0/1 matrix product): groups with equal scores in equal
    # order get bit-identical values, whatever their position.
    values = np.stack([scores[:, m].sum(axis=1) for m in members], axis=1)
    counts = np.array([len(m) for m in members], dtype=np.int64)
    if how == "mean":
        values = values / counts
    return GroupedScores(ids, values, counts, how)
