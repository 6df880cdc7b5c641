"""The shared utilities of an output: closed forms, their order, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import (
    UTILITIES,
    UTILITY_FUNCTIONS,
    loglik,
    loglik_floored,
    loglik_prefix,
    token_gains,
    utility,
)

_LOGP = st.floats(min_value=-60.0, max_value=0.0, allow_nan=False)


@st.composite
def _outputs(draw: st.DrawFn, min_size: int = 0) -> tuple[list[float], list[float]]:
    """Per-token log-probabilities of one output under a coalition and the reference."""
    n = draw(st.integers(min_size, 40))
    return draw(st.lists(_LOGP, min_size=n, max_size=n)), draw(
        st.lists(_LOGP, min_size=n, max_size=n)
    )


def _slack(logp: list[float], ref: list[float]) -> float:
    # Two summation orders (running for the prefix, pairwise for the sums) round apart
    # by a few ulps of the sum of magnitudes.
    return 1e-12 * (1.0 + sum(abs(a) + abs(b) for a, b in zip(logp, ref, strict=True)))


def test_utilities_match_their_closed_forms() -> None:
    logp, ref = [-1.0, -6.0, -0.5, -1.0], [-2.0, -2.0, -2.0, -2.0]
    # Gains 1, -4, 1.5, 1: sum -0.5, best prefix 1 (after the first token), floored 3.5.
    assert list(token_gains(logp, ref)) == [1.0, -4.0, 1.5, 1.0]
    assert loglik(logp, ref) == -0.5
    assert loglik_prefix(logp, ref) == 1.0
    assert loglik_floored(logp, ref) == 3.5
    assert [utility(u, logp, ref) for u in UTILITIES] == [1.0, -0.5, 3.5]
    assert UTILITIES == ("loglik-prefix", "loglik", "loglik-floored")
    assert dict(UTILITY_FUNCTIONS) == {
        "loglik-prefix": loglik_prefix,
        "loglik": loglik,
        "loglik-floored": loglik_floored,
    }
    # An output no token of which beats the reference: the empty prefix is worth 0.
    assert loglik_prefix([-3.0, -3.0], [-2.0, -2.0]) == 0.0
    assert loglik_floored([-3.0, -3.0], [-2.0, -2.0]) == 0.0
    assert loglik([-3.0, -3.0], [-2.0, -2.0]) == -2.0


def test_an_empty_output_is_worth_nothing() -> None:
    assert [utility(u, [], []) for u in UTILITIES] == [0.0, 0.0, 0.0]
    assert isinstance(loglik(np.zeros(0), np.zeros(0)), float)


@settings(max_examples=200)
@given(_outputs())
def test_utilities_are_ordered_loglik_prefix_floored(
    output: tuple[list[float], list[float]],
) -> None:
    logp, ref = output
    plain, prefix, floored = loglik(logp, ref), loglik_prefix(logp, ref), loglik_floored(logp, ref)
    gains = [a - b for a, b in zip(logp, ref, strict=True)]
    slack = _slack(logp, ref)
    assert plain == pytest.approx(math.fsum(gains), abs=slack)
    assert floored == pytest.approx(math.fsum(max(g, 0.0) for g in gains), abs=slack)
    # Same summation order, each term at least as large: exact.
    assert floored >= plain
    assert prefix >= 0.0 and floored >= 0.0
    assert prefix >= max(0.0, plain) - slack
    assert prefix <= floored + slack
    best = max([0.0, *(math.fsum(gains[: k + 1]) for k in range(len(gains)))])
    assert prefix == pytest.approx(best, abs=slack)


@settings(max_examples=100)
@given(_outputs(min_size=1), st.data())
def test_utilities_agree_when_every_token_gains(
    output: tuple[list[float], list[float]], data: st.DataObject
) -> None:
    logp, _ = output
    margins = data.draw(
        st.lists(st.floats(0.0, 30.0), min_size=len(logp), max_size=len(logp)), label="margins"
    )
    ref = [a - m for a, m in zip(logp, margins, strict=True)]
    values = [utility(u, logp, ref) for u in UTILITIES]
    slack = _slack(logp, ref)
    assert values[1] == values[2]  # the floor never applies: the same array is summed
    assert values[0] == pytest.approx(values[1], abs=slack)


@settings(max_examples=50)
@given(_outputs())
def test_utilities_accept_lists_and_arrays_alike(output: tuple[list[float], list[float]]) -> None:
    logp, ref = output
    for name in UTILITIES:
        assert utility(name, logp, ref) == utility(name, np.array(logp), np.array(ref))


def test_bad_input_raises_input_error_naming_the_argument() -> None:
    with pytest.raises(InputError, match=r"^reference: 1 tokens, but log_probs has 2"):
        loglik([-1.0, -2.0], [-1.0])
    with pytest.raises(InputError, match=r"^log_probs: not finite at token 1 \(nan\)"):
        loglik_prefix([-1.0, float("nan")], [-1.0, -1.0])
    with pytest.raises(InputError, match=r"^reference: not finite at token 0 \(-inf\)"):
        loglik_floored([-1.0], [float("-inf")])
    with pytest.raises(InputError, match=r"^log_probs: expected one log-probability per token"):
        loglik([[-1.0]], [[-1.0]])
    with pytest.raises(InputError, match=r"^utility: must be one of \['loglik-prefix'"):
        utility("perplexity", [-1.0], [-1.0])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^log_probs: "):
        token_gains(["a"], [-1.0])
