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

    Raises:
        InputError: If ``factor_dim`` is not positive, or a selected parameter is not
            the weight or bias of a layer the projection knows (naming it).
    """

    def __init__(
        self,
        model: nn.Module,
        names: Sequence[str],
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        *,
        factor_dim: int,
        seed: int,
    ) -> None:
        if isinstance(factor_dim, bool) or not isinstance(factor_dim, int) or factor_dim < 1:
            raise InputError(f"factor_dim: must be a positive int, got {factor_dim!r}")
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
        self._loss_fn = loss_fn
        self._factors: dict[int, list[tuple[Tensor | None, Tensor | None]]] = {}
        self.sizes = [min(factor_dim, rows) * min(factor_dim, cols) for rows, cols in self.shapes]
        self.dim = sum(self.sizes)

    def factors(self, c: int) -> list[tuple[Tensor | None, Tensor | None]]:
        """Each parameter's ``(R, C)`` at checkpoint ``c`` (None: the identity), cached."""
        if c not in self._factors:
            pairs = []
            for i, (rows, cols) in enumerate(self.shapes):
                state = np.random.SeedSequence([self.seed, _FACTOR_STREAM, c, i])
                words = state.generate_state(2, dtype=np.uint32)
                generator = torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))
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

    def _project(
        self, use: _Use, pair: tuple[Tensor | None, Tensor | None], inp: Tensor, grad: Tensor
    ) -> Tensor:
        """``(n, r_rows, r_cols)``: one layer's part of each example's projected gradient."""
        rows_factor, cols_factor = pair
        n = inp.shape[0]
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


def _matrix_shape(param: Tensor) -> tuple[int, int]:
    """A parameter read as a matrix: ``(d,)`` as ``(d, 1)``, more axes flattened after the first."""
    if param.ndim == 1:
        return int(param.shape[0]), 1
    return int(param.shape[0]), int(param[0].numel())


def kronecker(
    factors: Sequence[tuple[Tensor | None, Tensor | None]], shapes: Sequence[tuple[int, int]]
) -> Tensor:
    """The dense ``(dim, n_params)`` matrix of the factored projection (for tests and checks).

    Row blocks follow the parameters; each block is ``R ⊗ C`` (the identity for a
    None factor), so that it maps a parameter's flattened (row-major) gradient to its
    projected one.
    """
    blocks = []
    for (rows_factor, cols_factor), (rows, cols) in zip(factors, shapes, strict=True):
        r = torch.eye(rows) if rows_factor is None else rows_factor
        c = torch.eye(cols) if cols_factor is None else cols_factor
        blocks.append(torch.kron(r, c))
    out = torch.zeros(sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks))
    row = col = 0
    for block in blocks:
        out[row : row + block.shape[0], col : col + block.shape[1]] = block
        row, col = row + block.shape[0], col + block.shape[1]
    return out
