"""The public APIs of the core and the scenario package are pinned: changing them is a
deliberate act."""

import ame_core
import offchain
import offchain.attribution.reference
import offchain.scenario


def test_core_exports() -> None:
    assert ame_core.__all__ == ["AmeError", "InputError", "apportion"]
    assert issubclass(ame_core.InputError, ame_core.AmeError)
    assert issubclass(ame_core.InputError, ValueError)


def test_offchain_exports_only_its_own_errors() -> None:
    assert offchain.__all__ == ["AttributionError", "MappingError", "RegistryError"]
    for name in offchain.__all__:
        assert issubclass(getattr(offchain, name), ame_core.AmeError)


def test_scenario_exports() -> None:
    assert offchain.scenario.__all__ == [
        "REFERENCE_SCENARIO",
        "SCENARIO_FORMAT",
        "UTILITIES",
        "AdapterSpec",
        "BaseModelSpec",
        "CopyGenerator",
        "DatasetSpec",
        "Demonstration",
        "EventSpec",
        "FactRef",
        "FactsGenerator",
        "NoisyCopyGenerator",
        "PayeeReference",
        "PipelineRerun",
        "PipelineSpec",
        "Problem",
        "PromptSpec",
        "RandomWalkGenerator",
        "Reference",
        "Rights",
        "Scenario",
        "ScenarioBatchSpec",
        "StyleGenerator",
        "ValuationSpec",
        "asset_hashes",
        "attribute_scenario",
        "build_corpora",
        "load_scenario",
        "parse_scenario",
        "record_lines",
        "reference_pipeline",
        "reference_scenario",
        "reference_specs",
        "scenario_estimator",
        "scenario_events",
        "values_document",
    ]
    for name in offchain.scenario.__all__:
        assert getattr(offchain.scenario, name) is not None


def test_reference_pipeline_exports() -> None:
    assert offchain.attribution.reference.__all__ == [
        "BASE_MODEL",
        "MODEL_DEVELOPER",
        "NEUTRAL_TEMPLATE",
        "REFERENCE_KINDS",
        "SLOT",
        "STAGES",
        "UTILITIES",
        "CorpusSettings",
        "Event",
        "ModelSettings",
        "PipelineGame",
        "PipelineSettings",
        "ReferenceKind",
        "ReferenceModelSettings",
        "ReferencePipeline",
        "TrainSettings",
        "Utility",
    ]
    for name in offchain.attribution.reference.__all__:
        assert getattr(offchain.attribution.reference, name) is not None


def test_document_and_validation_helpers_exports() -> None:
    import ame_core.documents
    import ame_core.validation

    assert ame_core.documents.__all__ == [
        "MAX_DEPTH",
        "iter_json_members",
        "key_path",
        "parse_json",
        "parse_toml",
        "parse_yaml",
        "read_document",
    ]
    assert ame_core.validation.__all__ == [
        "error_reason",
        "field_path",
        "format_problems",
        "plain_reason",
        "show_value",
    ]
