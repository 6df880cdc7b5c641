r"""Per-example gradients projected layer by layer with Kronecker factors, never formed whole.

LoGra (Choe et al., 2024, "What is Your Data Worth to GPT? LLM-Scale Data Valuation
with Influence Functions") observes that the per-example gradient of a linear layer is
a sum of outer products over the positions :math:`t` of the example,

.. math::

    G = \sum_t \delta_t a_t^\top, \qquad
    (R \otimes C)\operatorname{vec}(G) = \operatorname{vec}(R G C^\top)
        = \operatorname{vec}\Big(\sum_t (R \delta_t)(C a_t)^\top\Big),

with :math:`a_t` the layer's input and :math:`\delta_t` the loss gradient with respect
to its output. Projecting with the Kronecker product of a row factor :math:`R \in
\mathbb R^{r_r \times \text{rows}}` and a column factor :math:`C \in \mathbb R^{r_c
\times \text{cols}}` therefore needs only the projected inputs and output gradients,
which forward hooks and one backward pass to the layers' outputs give for a whole batch
at once: no per-example gradient of ``rows * cols`` numbers is ever formed, and no
parameter gradient is computed at all.

Every parameter is read as a matrix (a vector ``(d,)`` as ``(d, 1)``) and gets its own
pair of factors, seeded Gaussian with entries :math:`\mathcal N(0, 1/r)`, or the
identity where ``factor_dim`` reaches the side's size (nothing to compress: exact).
The layers and the signals of each side:

* ``nn.Linear``: weight ``(out, in)``, :math:`\sum_t \delta_t a_t^\top`; bias
  :math:`\sum_t \delta_t`;
* ``Conv1D`` (``transformers``' GPT-2 layers, weight ``(in, out)``):
  :math:`\sum_t a_t \delta_t^\top`; bias as above;
* ``nn.Embedding``: weight ``(num, dim)``, :math:`\sum_t e_{i_t} \delta_t^\top` for
  the token ids :math:`i_t` (:math:`R e_i` is the column :math:`i` of :math:`R`);
  rows of ``padding_idx`` get no gradient;
* ``nn.LayerNorm``: weight :math:`\sum_t \delta_t \odot \hat x_t` (the normalised
  input), bias :math:`\sum_t \delta_t`.

A parameter shared by several layers (GPT-2's token embedding, tied to the output
head: the head is a linear layer whose weight ``(vocab, dim)`` is the embedding's)
keeps one pair of factors and sums every layer's part, as its gradient does.

**Embeddings, token by token** (``vocab_factor_dim``). A Gaussian row factor mixes the
rows of an embedding table, one per token: a training sentence's gradient then leaks
into the rows of tokens it never contains, and since the rows of the tied embedding carry
most of a language model's per-example gradient (93 % of the exact TracIn scores'
magnitude on ``bench/lds.py``'s GPT-2), that noise swamps the signal: the factored scores
of a vocabulary of 302 tokens projected to rank 128 agree with exact TracIn at Spearman
0.2. The gradient of an embedding weight is sparse in its rows for the input side (a
sentence's own tokens) and spiked on the target tokens for a tied head's side
(:math:`p_t - e_{y_t}`), so with ``vocab_factor_dim`` set every embedding weight (and
whatever shares it) keeps its rows apart and projects only its columns, to rank
``vocab_factor_dim``: row :math:`i` of the projected gradient is :math:`C g_i`. A table
of more than ``vocab_buckets`` rows is count-sketched instead (Charikar et al., 2002):
row :math:`i` is added, with a seeded sign :math:`s(i)`, to the seeded bucket
:math:`h(i)`, which is unbiased and for sparse rows almost exact (two of a pair's
tokens rarely share a bucket), at a cost linear in the vocabulary, not in its product
with a rank. Measured on that GPT-2 (docs/attribution.md): Spearman 0.996 with the
exact embedding scores at column rank 16.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from ame_core.exceptions import InputError

#: The signal of one side of a parameter's gradient, from a layer's input and output
#: gradient: ``(n, T, size)`` per-position vectors, or ``(n, T)`` row indices (embeddings).
_Side = Callable[[Tensor, Tensor], Tensor]
#: Seed stream of the factors, apart from the subspace sample's and the dense projections'.
_FACTOR_STREAM: Final = 2**32 - 2


@dataclass(frozen=True)
class Sketch:
    """A count sketch of one side: index ``i`` is added to ``buckets[i]`` times ``signs[i]``.

    Attributes:
        buckets: ``(size,)`` int64 bucket of each index, in ``[0, width)``.
        signs: ``(size,)`` float32 signs, each +1 or -1.
        width: The number of buckets.
    """

    buckets: Tensor
    signs: Tensor
    width: int

    def dense(self) -> Tensor:
        """The ``(width, size)`` matrix of the sketch: one signed 1 per column."""
        out = torch.zeros(self.width, len(self.buckets))
        out[self.buckets, torch.arange(len(self.buckets))] = self.signs
        return out


#: One side's factor: a dense ``(rank, size)`` matrix, a count sketch, or the identity.
Factor = Tensor | Sketch | None


@dataclass(frozen=True)
class _Use:
    """One layer's use of one parameter: how to get each side's signal, per position."""

    param: int
    rows: _Side
    cols: _Side | None
    rows_are_ids: bool = False
    padding: int | None = None


def _flat(t: Tensor) -> Tensor:
    """``(n, ..., d)`` -> ``(n, T, d)``: every position of an example on one axis."""
    return t.reshape(t.shape[0], -1, t.shape[-1])


def _normalised(module: nn.LayerNorm) -> _Side:
    def side(inp: Tensor, grad: Tensor) -> Tensor:
        x = inp.float()
        dims = tuple(range(x.ndim - len(module.normalized_shape), x.ndim))
        mean = x.mean(dims, keepdim=True)
        var = x.var(dims, keepdim=True, unbiased=False)
        hat = (x - mean) * torch.rsqrt(var + module.eps)
        return _flat(grad * hat)

    return side


def _input(inp: Tensor, grad: Tensor) -> Tensor:
    return _flat(inp)


def _ids(inp: Tensor, grad: Tensor) -> Tensor:
    return inp.reshape(inp.shape[0], -1)


def _output_grad(inp: Tensor, grad: Tensor) -> Tensor:
    return _flat(grad)


def _uses(module: nn.Module, index: dict[int, int]) -> list[_Use]:
    """How ``module`` uses the selected parameters (``id(parameter)`` -> position)."""
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    out: list[_Use] = []
    w = index.get(id(weight)) if isinstance(weight, nn.Parameter) else None
    b = index.get(id(bias)) if isinstance(bias, nn.Parameter) else None
    if isinstance(module, nn.Linear):
        if w is not None:
            out.append(_Use(w, _output_grad, _input))
        if b is not None:
            out.append(_Use(b, _output_grad, None))
    elif type(module).__name__ == "Conv1D" and hasattr(module, "nf"):
        if w is not None:
            out.append(_Use(w, _input, _output_grad))
        if b is not None:
            out.append(_Use(b, _output_grad, None))
    elif isinstance(module, nn.Embedding):
        if w is not None:
            out.append(_Use(w, _ids, _output_grad, True, module.padding_idx))
    elif isinstance(module, nn.LayerNorm):
        if w is not None:
            out.append(_Use(w, _normalised(module), None))
        if b is not None:
            out.append(_Use(b, _output_grad, None))
    return out


def _factor(generator: torch.Generator, rank: int, size: int) -> Tensor | None:
    """A seeded ``(rank, size)`` Gaussian factor with entries N(0, 1/rank); None: identity."""
    if rank >= size:
        return None
    return torch.randn((rank, size), generator=generator) / float(np.sqrt(rank))


def _sketch(generator: torch.Generator, width: int, size: int) -> Sketch | None:
    """A seeded count sketch of ``size`` indices into ``width`` buckets; None: identity."""
    if width >= size:
        return None
    buckets = torch.randint(0, width, (size,), generator=generator)
    signs = torch.randint(0, 2, (size,), generator=generator).float() * 2 - 1
    return Sketch(buckets, signs, width)


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}: must be a positive int, got {value!r}")


class FactoredGradients:
    """Per-example gradients projected with per-parameter Kronecker factors, by hooks.

    Args:
        model: The module whose parameters are attributed through.
        names: The selected parameters, as in ``model.named_parameters()``.
        loss_fn: Loss of one example, as :data:`~offchain.attribution.tda.LossFn`.
        factor_dim: ``r``, the rank of each side's factor (the identity where the side
            is at most ``r`` long): a ``(rows, cols)`` parameter gives ``min(r, rows) *
            min(r, cols)`` numbers.
        seed: Seeds the factors, one independent pair per parameter and checkpoint.
        vocab_factor_dim: None: embedding weights are projected like any other
            parameter. Otherwise each embedding weight ``(rows, cols)`` (and a head tied
            to it) keeps its rows apart and projects its columns to this rank (see the
            module): ``min(rows, vocab_buckets) * min(vocab_factor_dim, cols)`` numbers.
        vocab_buckets: With ``vocab_factor_dim``: an embedding table of more rows than
            this has them count-sketched into this many buckets.

    Raises:
        InputError: If ``factor_dim``, ``vocab_factor_dim`` or ``vocab_buckets`` is not
            a positive int, or a selected parameter is not the weight or bias of a layer
            the projection knows (naming it).
    """

    def __init__(
        self,
        model: nn.Module,
        names: Sequence[str],
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        *,
        factor_dim: int,
        seed: int,
        vocab_factor_dim: int | None = None,
        vocab_buckets: int = 8192,
    ) -> None:
        _check_count("factor_dim", factor_dim)
        if vocab_factor_dim is not None:
            _check_count("vocab_factor_dim", vocab_factor_dim)
        _check_count("vocab_buckets", vocab_buckets)
        own = dict(model.named_parameters())
        self.names = tuple(names)
        self.shapes = [_matrix_shape(own[n]) for n in self.names]
        index = {id(own[n]): i for i, n in enumerate(self.names)}
        self._uses: list[tuple[nn.Module, list[_Use]]] = []
        covered: set[int] = set()
        for module in model.modules():
            uses = _uses(module, index)
            if uses:
                self._uses.append((module, uses))
                covered.update(u.param for u in uses)
        missing = [n for i, n in enumerate(self.names) if i not in covered]
        if missing:
            raise InputError(
                f"params: projection='factored' projects the weights and biases of linear, "
                f"Conv1D, embedding and layer-norm layers; {missing} belong to none"
            )
        self.model = model
        self.factor_dim = factor_dim
        self.seed = seed
        self.vocab_factor_dim = vocab_factor_dim
        self.vocab_buckets = vocab_buckets
        #: Positions (in :attr:`names`) of the parameters projected token by token.
        self.vocab: frozenset[int] = frozenset(
            u.param
            for _, uses in self._uses
            for u in uses
            if u.rows_are_ids and vocab_factor_dim is not None
        )
        self._loss_fn = loss_fn
        self._factors: dict[int, list[tuple[Factor, Factor]]] = {}
        self.ranks = [self._ranks(i, rows, cols) for i, (rows, cols) in enumerate(self.shapes)]
        self.sizes = [rows * cols for rows, cols in self.ranks]
        self.dim = sum(self.sizes)

    def _ranks(self, i: int, rows: int, cols: int) -> tuple[int, int]:
        """The projected shape of parameter ``i``: ``(rows, cols)`` after its factors."""
        if i in self.vocab:
            assert self.vocab_factor_dim is not None
            return min(self.vocab_buckets, rows), min(self.vocab_factor_dim, cols)
        return min(self.factor_dim, rows), min(self.factor_dim, cols)

    def factors(self, c: int) -> list[tuple[Factor, Factor]]:
        """Each parameter's ``(R, C)`` at checkpoint ``c`` (None: the identity), cached.

        ``R`` is a :class:`Sketch` for an embedding table of more than ``vocab_buckets``
        rows projected token by token, else a dense Gaussian factor or None.
        """
        if c not in self._factors:
            pairs: list[tuple[Factor, Factor]] = []
            for i, (rows, cols) in enumerate(self.shapes):
                state = np.random.SeedSequence([self.seed, _FACTOR_STREAM, c, i])
                words = state.generate_state(2, dtype=np.uint32)
                generator = torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))
                if i in self.vocab:
                    assert self.vocab_factor_dim is not None
                    pairs.append(
                        (
                            _sketch(generator, self.vocab_buckets, rows),
                            _factor(generator, self.vocab_factor_dim, cols),
                        )
                    )
                    continue
                pairs.append(
                    (
                        _factor(generator, self.factor_dim, rows),
                        _factor(generator, self.factor_dim, cols),
                    )
                )
            self._factors[c] = pairs
        return self._factors[c]

    def __call__(self, c: int, state: dict[str, Tensor], inputs: Tensor, targets: Tensor) -> Tensor:
        """``(len(inputs), dim)`` projected gradients under the parameters ``state``.

        ``state`` maps every parameter and buffer name to its tensor (a checkpoint's);
        the selected ones are differentiated through, the rest held fixed.
        """
        captured: list[tuple[int, Tensor, Tensor]] = []
        handles = []
        n = len(inputs)
        for m, (module, _) in enumerate(self._uses):

            def hook(_: nn.Module, args: tuple[Any, ...], output: Tensor, m: int = m) -> Tensor:
                inp = args[0].detach()
                if n > 1 and output.shape[0] == 1 and inp.shape[0] == 1:
                    # A layer run once for the whole batch and broadcast (GPT-2's position
                    # embeddings of positions (1, T)): expanded, its output's gradient is
                    # each example's, not their sum.
                    output = output.expand(n, *output.shape[1:])
                    inp = inp.expand(n, *inp.shape[1:])
                captured.append((m, inp, output))
                return output

            handles.append(module.register_forward_hook(hook))
        leaves = {n: state[n].detach().requires_grad_(True) for n in self.names}
        try:
            with torch.enable_grad():
                out = functional_call(self.model, {**state, **leaves}, (inputs,))
                # Summed one by one: the loss's contract is one example's.
                loss = sum(
                    (self._loss_fn(out[i : i + 1], targets[i : i + 1]) for i in range(len(out))),
                    torch.zeros(()),
                )
                outputs = [o for _, _, o in captured]
                grads = torch.autograd.grad(loss, outputs, allow_unused=True)
        finally:
            for handle in handles:
                handle.remove()
        pairs = self.factors(c)
        parts: list[Tensor | None] = [None] * len(self.names)
        for (m, inp, output), grad in zip(captured, grads, strict=True):
            if grad is None:
                grad = torch.zeros_like(output)
            for use in self._uses[m][1]:
                part = self._project(use, pairs[use.param], inp, grad.detach())
                before = parts[use.param]
                parts[use.param] = part if before is None else before + part
        return torch.cat(
            [
                torch.zeros(n, size) if part is None else part.reshape(n, -1)
                for part, size in zip(parts, self.sizes, strict=True)
            ],
            dim=1,
        )

    def _project(self, use: _Use, pair: tuple[Factor, Factor], inp: Tensor, grad: Tensor) -> Tensor:
        """``(n, r_rows, r_cols)``: one layer's part of each example's projected gradient."""
        rows_factor, cols_factor = pair
        n = inp.shape[0]
        if use.param in self.vocab:
            return self._project_vocab(use, pair, inp, grad)
        assert not isinstance(rows_factor, Sketch) and not isinstance(cols_factor, Sketch)
        if use.rows_are_ids:
            ids = use.rows(inp, grad)
            rows_size = self.shapes[use.param][0]
            table = torch.eye(rows_size) if rows_factor is None else rows_factor.T
            rows = table[ids]  # (n, T, r_rows): column i_t of R, or e_{i_t}
            if use.padding is not None:
                rows = rows * (ids != use.padding).unsqueeze(-1)
        else:
            rows = use.rows(inp, grad).float()
            if rows_factor is not None:
                rows = rows @ rows_factor.T
        if use.cols is None:
            return rows.sum(1).reshape(n, -1, 1)
        cols = use.cols(inp, grad).float()
        if cols_factor is not None:
            cols = cols @ cols_factor.T
        return torch.einsum("ntr,nts->nrs", rows, cols)

    def _project_vocab(
        self, use: _Use, pair: tuple[Factor, Factor], inp: Tensor, grad: Tensor
    ) -> Tensor:
        """As :meth:`_project` for a parameter projected token by token (rows kept apart)."""
        rows_factor, cols_factor = pair
        assert use.cols is not None and not isinstance(cols_factor, Sketch)
        assert not isinstance(rows_factor, Tensor)
        n = inp.shape[0]
        width = self.ranks[use.param][0]
        cols = use.cols(inp, grad).float()
        if cols_factor is not None:
            cols = cols @ cols_factor.T
        if use.rows_are_ids:
            ids = use.rows(inp, grad)
            # Each position adds its columns to its token's row (or bucket): the gradient's
            # own sparsity, without a (n, T, vocabulary) one-hot.
            keep = torch.ones_like(ids, dtype=torch.bool)
            if use.padding is not None:
                keep = ids != use.padding
            if rows_factor is None:
                buckets, signs = ids, keep.float()
            else:
                buckets, signs = rows_factor.buckets[ids], rows_factor.signs[ids] * keep
            flat = (torch.arange(n).unsqueeze(1) * width + buckets).reshape(-1)
            out = torch.zeros(n * width, cols.shape[-1])
            out.index_add_(0, flat, (cols * signs.unsqueeze(-1)).reshape(-1, cols.shape[-1]))
            return out.reshape(n, width, -1)
        rows = use.rows(inp, grad).float()
        if rows_factor is not None:
            sketched = torch.zeros(*rows.shape[:-1], width)
            rows = sketched.index_add_(-1, rows_factor.buckets, rows * rows_factor.signs)
        return torch.einsum("ntr,nts->nrs", rows, cols)


def _matrix_shape(param: Tensor) -> tuple[int, int]:
    """A parameter read as a matrix: ``(d,)`` as ``(d, 1)``, more axes flattened after the first."""
    if param.ndim == 1:
        return int(param.shape[0]), 1
    return int(param.shape[0]), int(param[0].numel())


def _dense(factor: Factor, size: int) -> Tensor:
    if factor is None:
        return torch.eye(size)
    return factor.dense() if isinstance(factor, Sketch) else factor


def kronecker(
    factors: Sequence[tuple[Factor, Factor]], shapes: Sequence[tuple[int, int]]
) -> Tensor:
    """The dense ``(dim, n_params)`` matrix of the factored projection (for tests and checks).

    Row blocks follow the parameters; each block is ``R ⊗ C`` (the identity for a
    None factor, the sketch's signed one-hot matrix for a :class:`Sketch`), so that it
    maps a parameter's flattened (row-major) gradient to its projected one.
    """
    blocks = []
    for (rows_factor, cols_factor), (rows, cols) in zip(factors, shapes, strict=True):
        r = _dense(rows_factor, rows)
        c = _dense(cols_factor, cols)
        blocks.append(torch.kron(r, c))
    out = torch.zeros(sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks))
    row = col = 0
    for block in blocks:
        out[row : row + block.shape[0], col : col + block.shape[1]] = block
        row, col = row + block.shape[0], col + block.shape[1]
    return out
