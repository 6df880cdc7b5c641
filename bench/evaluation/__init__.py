"""Evaluation: how closely revenue-sharing methods agree with reference judgments.

A suite of ``ame.scenario/1`` markets, grouped in families, each carrying what careful
people expect of the split (:func:`load_suite`; AME's is ``bench/judgments/``). Every
method (:data:`METHODS`: uniform, split by data size, leave-one-out, flat Shapley,
data-only Shapley, AME; and :data:`ABLATIONS`) splits each scenario's events on the
same trained pipeline (:class:`ScenarioRun`, :func:`run_method`); its payouts are
scored against the reference by Kendall tau, Spearman rho, top-1 agreement, L1
distance and axiom checks (:func:`evaluate_scenario`, :func:`summarise`);
:func:`check_premise` answers the events and checks their outputs without any method.
``bench/judgments.py`` runs the whole suite and writes the tables.

Loaded on first use, so that the metrics and the suite loader do not import torch:
:class:`ScenarioRun`, :func:`run_method` and everything in
:mod:`bench.evaluation.methods` and :mod:`bench.evaluation.judgments`.

Example:
    >>> from bench.evaluation import kendall_tau
    >>> kendall_tau(["geo", "fauna", "walk"], {"geo": 0.5, "fauna": 0.1, "walk": 0.0})
    1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ame_core.lazy import lazy_exports
from bench.evaluation.metrics import (
    TIE,
    kendall_tau,
    l1_distance,
    spearman_rho,
    top1_agreement,
)
from bench.evaluation.suite import JudgmentScenario, load_suite

if TYPE_CHECKING:
    from bench.evaluation.judgments import (
        NULL_TOLERANCE,
        MethodSummary,
        ScenarioEvaluation,
        ScenarioScore,
        Violations,
        check_premise,
        duplicate_groups,
        evaluate_scenario,
        grounded,
        grounded_in,
        null_assets,
        score,
        summarise,
        violations,
        with_pipeline,
    )
    from bench.evaluation.methods import (
        ABLATIONS,
        METHODS,
        EventSplit,
        Method,
        MethodResult,
        Payouts,
        ScenarioRun,
        pay,
        run_method,
        split_revenue,
    )

_LAZY = {
    "NULL_TOLERANCE": "judgments",
    "MethodSummary": "judgments",
    "ScenarioEvaluation": "judgments",
    "ScenarioScore": "judgments",
    "Violations": "judgments",
    "check_premise": "judgments",
    "duplicate_groups": "judgments",
    "evaluate_scenario": "judgments",
    "grounded": "judgments",
    "grounded_in": "judgments",
    "null_assets": "judgments",
    "score": "judgments",
    "summarise": "judgments",
    "violations": "judgments",
    "with_pipeline": "judgments",
    "ABLATIONS": "methods",
    "METHODS": "methods",
    "EventSplit": "methods",
    "Method": "methods",
    "MethodResult": "methods",
    "Payouts": "methods",
    "ScenarioRun": "methods",
    "pay": "methods",
    "run_method": "methods",
    "split_revenue": "methods",
}

__all__ = [
    "ABLATIONS",
    "METHODS",
    "NULL_TOLERANCE",
    "TIE",
    "EventSplit",
    "JudgmentScenario",
    "Method",
    "MethodResult",
    "MethodSummary",
    "Payouts",
    "ScenarioEvaluation",
    "ScenarioRun",
    "ScenarioScore",
    "Violations",
    "check_premise",
    "duplicate_groups",
    "evaluate_scenario",
    "grounded",
    "grounded_in",
    "kendall_tau",
    "l1_distance",
    "load_suite",
    "null_assets",
    "pay",
    "run_method",
    "score",
    "spearman_rho",
    "split_revenue",
    "summarise",
    "top1_agreement",
    "violations",
    "with_pipeline",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
