"""The public API of bench.evaluation is pinned: changing it is a deliberate act."""

import bench.evaluation

EXPECTED = [
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


def test_all_is_pinned() -> None:
    assert bench.evaluation.__all__ == EXPECTED


def test_every_exported_name_exists_and_is_public() -> None:
    for name in bench.evaluation.__all__:
        assert getattr(bench.evaluation, name) is not None
        assert not name.startswith("_")
    assert sorted(dir(bench.evaluation)) == dir(bench.evaluation)


def test_the_method_ids_are_the_compared_methods_then_the_ablations() -> None:
    assert list(bench.evaluation.METHODS) == [
        "uniform",
        "data_size",
        "loo",
        "shapley",
        "data_only",
        "ame",
    ]
    assert list(bench.evaluation.ABLATIONS) == ["ame_unmapped", "shapley_mapped"]
