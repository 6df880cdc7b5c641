r"""Utilities of a generated output: what a counterfactual pipeline is worth for it.

Every pipeline scores an event's output :math:`y = (y_1, \dots, y_n)` the same way: the
pipeline of a coalition :math:`A` of assets gives each output token a log-probability
after its own context, :math:`\log p_A(y_t \mid x_A, y_{<t})`, and a reference (the
empty pipeline :math:`p_\varnothing`: a uniform distribution over the vocabulary, or a
commodity model) gives it :math:`\log p_\varnothing(y_t)`. Token :math:`t` gains

.. math::

    g_t(A) = \log p_A(y_t \mid x_A, y_{<t}) - \log p_\varnothing(y_t)

nats, and the utility :math:`u(A)` is one of

* ``"loglik"``: :math:`\sum_t g_t(A)`, the output's log-likelihood gain;
* ``"loglik-prefix"``: :math:`\max_{0 \le k \le n} \sum_{t \le k} g_t(A)`, the best
  running gain over the output's prefixes (the empty prefix is worth 0): free disposal
  of the output's tail;
* ``"loglik-floored"``: :math:`\sum_t \max(0, g_t(A))`, each token's gain floored at 0.

They are ordered, :math:`\max(0, \text{loglik}) \le \text{prefix} \le \text{floored}`,
and all three are equal when every token gains. Why each exists, and what it pays for,
is in :mod:`offchain.attribution.reference.pipeline` and ``docs/evaluation.md``.

These are pure functions of numpy arrays, shared by every pipeline: a pipeline computes
the per-token log-probabilities of its counterfactuals and calls :func:`utility`, or
:func:`utility_rows` for many counterfactuals of one output at once (the same bits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ame_core.exceptions import InputError

__all__ = [
    "UTILITIES",
    "UTILITY_FUNCTIONS",
    "Utility",
    "loglik",
    "loglik_floored",
    "loglik_prefix",
    "token_gains",
    "utility",
    "utility_rows",
]

#: How an event's output is scored by the pipeline of a set of assets: ``"loglik-prefix"``
#: (the default), the best running sum of the output tokens' log-likelihood gains over the
#: reference over the output's prefixes; ``"loglik"``, their sum; ``"loglik-floored"``,
#: the sum with each token's gain floored at 0.
Utility = Literal["loglik-prefix", "loglik", "loglik-floored"]
#: The utilities, default first.
UTILITIES: Final[tuple[Utility, ...]] = get_args(Utility)


def _log_probs(name: str, value: ArrayLike) -> NDArray[np.float64]:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name}: expected numbers, one per token ({err})") from None
    if array.ndim != 1:
        raise InputError(f"{name}: expected one log-probability per token, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise InputError(f"{name}: not finite at token {int(bad[0])} ({float(array[bad[0]])!r})")
    return array


def token_gains(log_probs: ArrayLike, reference: ArrayLike) -> NDArray[np.float64]:
    """Each output token's gain :math:`g_t` over the reference, in nats.

    Args:
        log_probs: :math:`\\log p_A(y_t \\mid x_A, y_{<t})` per output token.
        reference: :math:`\\log p_\\varnothing(y_t)` per output token.

    Returns:
        ``log_probs - reference``, float64.

    Raises:
        InputError: If an argument is not one finite number per token, or their
            lengths differ (the message names the argument).
    """
    logp = _log_probs("log_probs", log_probs)
    ref = _log_probs("reference", reference)
    if logp.shape != ref.shape:
        raise InputError(
            f"reference: {ref.size} tokens, but log_probs has {logp.size}: both score the "
            "same output"
        )
    return logp - ref


def loglik(log_probs: ArrayLike, reference: ArrayLike) -> float:
    """``"loglik"``: :math:`\\sum_t g_t`, the output's log-likelihood gain (nats).

    Raises:
        InputError: As :func:`token_gains`.
    """
    return float(token_gains(log_probs, reference).sum())


def loglik_prefix(log_probs: ArrayLike, reference: ArrayLike) -> float:
    """``"loglik-prefix"``: :math:`\\max_k \\sum_{t \\le k} g_t`, 0 for the empty prefix.

    Raises:
        InputError: As :func:`token_gains`.
    """
    return float(np.cumsum(token_gains(log_probs, reference)).max(initial=0.0))


def loglik_floored(log_probs: ArrayLike, reference: ArrayLike) -> float:
    """``"loglik-floored"``: :math:`\\sum_t \\max(0, g_t)` (nats).

    Raises:
        InputError: As :func:`token_gains`.
    """
    return float(np.maximum(token_gains(log_probs, reference), 0.0).sum())


#: Each utility's function, by name.
UTILITY_FUNCTIONS: Final[Mapping[Utility, Callable[[ArrayLike, ArrayLike], float]]] = (
    MappingProxyType(
        {"loglik-prefix": loglik_prefix, "loglik": loglik, "loglik-floored": loglik_floored}
    )
)


def utility(name: Utility, log_probs: ArrayLike, reference: ArrayLike) -> float:
    """The utility ``name`` of an output (see the module), in nats.

    Args:
        name: One of :data:`UTILITIES`.
        log_probs: Per-token log-probabilities under the coalition's pipeline.
        reference: Per-token log-probabilities under the reference.

    Raises:
        InputError: If ``name`` is unknown, or as :func:`token_gains`.

    Example:
        >>> utility("loglik-prefix", [-1.0, -5.0], [-2.0, -2.0])
        1.0
    """
    try:
        function = UTILITY_FUNCTIONS[name]
    except (KeyError, TypeError):
        raise InputError(f"utility: must be one of {list(UTILITIES)}, got {name!r}") from None
    return function(log_probs, reference)


def utility_rows(name: Utility, log_probs: ArrayLike, reference: ArrayLike) -> NDArray[np.float64]:
    """:func:`utility` of many counterfactuals of one output at once, with its bits.

    Row ``i`` of the result is ``utility(name, log_probs[i], reference)`` bit for bit:
    the gains are one elementwise subtraction, ``"loglik-prefix"``'s running sums are
    a cumulative sum along each row (each entry is the previous one plus the next gain,
    whatever the array's shape) and a maximum is exact. ``"loglik"`` and
    ``"loglik-floored"`` add each row up on its own, since numpy's pairwise summation
    order over a 2-D array is not specified to be the 1-D one.

    Args:
        name: One of :data:`UTILITIES`.
        log_probs: Per-token log-probabilities, one row per counterfactual pipeline.
        reference: Per-token log-probabilities under the reference (one row).

    Returns:
        One utility per row, float64.

    Raises:
        InputError: If ``name`` is unknown, ``log_probs`` is not a matrix of finite
            numbers with one column per token of ``reference`` (the message names the
            row and token), or as :func:`token_gains`.

    Example:
        >>> utility_rows("loglik-prefix", [[-1.0, -5.0], [-3.0, -1.0]], [-2.0, -2.0]).tolist()
        [1.0, 0.0]
    """
    if name not in UTILITY_FUNCTIONS:
        raise InputError(f"utility: must be one of {list(UTILITIES)}, got {name!r}")
    ref = _log_probs("reference", reference)
    try:
        rows = np.asarray(log_probs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"log_probs: expected rows of numbers, one per token ({err})") from None
    if rows.ndim != 2 or rows.shape[1] != ref.size:
        raise InputError(
            f"log_probs: expected one row of {ref.size} log-probabilities per pipeline, got "
            f"shape {rows.shape}"
        )
    bad = np.argwhere(~np.isfinite(rows))
    if bad.size:
        row, token = (int(i) for i in bad[0])
        raise InputError(
            f"log_probs[{row}]: not finite at token {token} ({float(rows[row, token])!r})"
        )
    gains = rows - ref
    if name == "loglik-prefix":
        out: NDArray[np.float64] = np.cumsum(gains, axis=1).max(axis=1, initial=0.0)
        return out
    if name == "loglik-floored":
        gains = np.maximum(gains, 0.0)
    return np.array([row.sum() for row in gains], dtype=np.float64)
