"""Samplers of the Monte Carlo methods and the rules that stop them.

:mod:`~offchain.attribution.samplers.permutation` draws blocks of player orders (plain,
antithetic, stratified, and union-contiguous for Owen values);
:mod:`~offchain.attribution.samplers.stopping` runs any block estimator under the
stopping rules (target standard error, rank stability, evaluation budget).
"""

from offchain.attribution.samplers.permutation import Orders, PermutationEstimator
from offchain.attribution.samplers.stopping import (
    MIN_BLOCKS,
    MIN_SAMPLES,
    BlockEstimator,
    RunningMean,
    StoppingRules,
    min_blocks,
    run,
)

__all__ = [
    "MIN_BLOCKS",
    "MIN_SAMPLES",
    "BlockEstimator",
    "Orders",
    "PermutationEstimator",
    "RunningMean",
    "StoppingRules",
    "min_blocks",
    "run",
]
