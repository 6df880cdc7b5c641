"""``offchain.attribution.tolerance``: the tolerance of the audit's utility recomputation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

import offchain.attribution.tolerance as tolerance_module
from ame_core.exceptions import InputError
from offchain.attribution.tolerance import (
    MEASURED_RETRAINING_DRIFT,
    MEASURED_SCORING_DRIFT,
    RETRAINED_UTILITY_TOLERANCE,
    UTILITY_TOLERANCE,
    Tolerance,
    within_tolerance,
)

FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
BOUNDS = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def test_the_module_exports_its_tolerance_and_what_it_was_measured_from() -> None:
    assert tolerance_module.__all__ == [
        "MEASURED_RETRAINING_DRIFT",
        "MEASURED_SCORING_DRIFT",
        "RETRAINED_UTILITY_TOLERANCE",
        "UTILITY_TOLERANCE",
        "Tolerance",
        "within_tolerance",
    ]


@pytest.mark.parametrize(
    ("tolerance", "measured", "margin"),
    [
        (UTILITY_TOLERANCE, MEASURED_SCORING_DRIFT, 10),
        (RETRAINED_UTILITY_TOLERANCE, MEASURED_RETRAINING_DRIFT, 3),
    ],
)
def test_each_audit_tolerance_keeps_its_margin_over_the_drift_measured(
    tolerance: Tolerance, measured: Tolerance, margin: int
) -> None:
    assert tolerance.absolute >= margin * measured.absolute
    assert tolerance.relative >= margin * measured.relative


def test_the_scoring_tolerance_catches_a_worth_moved_by_one_percent() -> None:
    for worth in (0.5, 5.0, 20.0):
        assert within_tolerance(worth * (1 + 1e-5), worth)
        assert not within_tolerance(worth * (1 + 1e-2), worth)
    assert not within_tolerance(3e-3, 0.0)


@seed(17)
@settings(max_examples=300, deadline=None)
@given(value=FINITE, reference=FINITE, absolute=BOUNDS, relative=BOUNDS)
def test_allows_is_the_isclose_inequality_and_symmetric_in_sign(
    value: float, reference: float, absolute: float, relative: float
) -> None:
    tol = Tolerance(absolute, relative)
    expected = abs(value - reference) <= absolute + relative * abs(reference)
    assert tol.allows(value, reference) is expected
    assert tol.allows(-value, -reference) is expected
    assert within_tolerance(value, reference, tol) is expected


@seed(17)
@settings(max_examples=200, deadline=None)
@given(reference=FINITE, absolute=BOUNDS, relative=BOUNDS)
def test_the_reference_itself_and_the_edge_of_the_bound_pass_and_beyond_it_fails(
    reference: float, absolute: float, relative: float
) -> None:
    tol = Tolerance(absolute, relative)
    assert tol.allows(reference, reference)
    bound = tol.bound(reference)
    assert bound == absolute + relative * abs(reference)
    beyond = reference + 2 * bound + 1e-3 * max(1.0, abs(reference))
    assert not tol.allows(beyond, reference)


@pytest.mark.parametrize(
    ("absolute", "relative", "field", "reason"),
    [
        (-1e-9, 0.0, "absolute", "must be >= 0"),
        (0.0, -0.1, "relative", "must be >= 0"),
        (math.nan, 0.0, "absolute", "must be finite"),
        (0.0, math.inf, "relative", "must be finite"),
        ("0.1", 0.0, "absolute", "expected a number"),
        (0.0, True, "relative", "expected a number"),
    ],
)
def test_a_bad_tolerance_is_refused_naming_the_field(
    absolute: object, relative: object, field: str, reason: str
) -> None:
    with pytest.raises(InputError, match=f"{field}: {reason}"):
        Tolerance(absolute, relative)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "reference", "field"),
    [(math.nan, 1.0, "value"), (1.0, math.inf, "reference"), ("1", 1.0, "value")],
)
def test_a_worth_that_is_not_a_finite_number_is_refused(
    value: object, reference: object, field: str
) -> None:
    with pytest.raises(InputError, match=f"{field}: "):
        within_tolerance(value, reference)  # type: ignore[arg-type]


def test_within_tolerance_refuses_a_tolerance_of_another_type() -> None:
    with pytest.raises(InputError, match="tolerance: expected a Tolerance, got tuple"):
        within_tolerance(1.0, 1.0, (0.1, 0.1))  # type: ignore[arg-type]
