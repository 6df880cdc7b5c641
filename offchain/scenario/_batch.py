"""A scenario as batch work: the :class:`~offchain.attribution.batch.BatchSpec` of its market.

A worker that receives a :class:`ScenarioBatchSpec` builds and fits the scenario's
reference pipeline once (:func:`~offchain.scenario.reference_pipeline`), then answers and
attributes each batch of the scenario's events exactly as
:func:`~offchain.scenario.attribute_scenario` does in one process: same pipeline, same
seed, same estimator, so the same bits. Reading the spec does not import torch; loading
it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ame_core.canonical import canonical_json, sha256_hex
from ame_core.exceptions import InputError
from ame_core.progress import Progress, quiet_progress
from ame_core.validation import show_value
from offchain.attribution.multistage import METHODS, Method, MultiStageResult, NegativePolicy
from offchain.scenario._document import EventSpec, Scenario

if TYPE_CHECKING:
    from offchain.attribution.reference.pipeline import Event, ReferencePipeline

__all__ = ["ScenarioBatchSpec"]

_EVENT_FIELDS = ("id", "request", "prompt", "adapter", "revenue", "output", "text")


@dataclass(frozen=True)
class ScenarioBatchSpec:
    """The reference pipeline of a scenario and how its events are split.

    Its inputs are the scenario's :class:`~offchain.scenario.EventSpec` (``scenario.events``
    or some of them); each batch answers them with the pipeline and splits their revenue.

    Attributes:
        scenario: The market.
        method: Within-stage method, one of
            :data:`~offchain.attribution.multistage.METHODS`.
        negative: Negative-contribution policy (``"clip"`` or ``"error"``).

    Raises:
        InputError: If an attribute is invalid.
    """

    scenario: Scenario
    method: Method = "shapley"
    negative: NegativePolicy = "clip"

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, Scenario):
            raise InputError(f"scenario: expected a Scenario, got {type(self.scenario).__name__}")
        if self.method not in METHODS:
            raise InputError(f"method: must be one of {list(METHODS)}, got {self.method!r}")
        if self.negative not in ("clip", "error"):
            raise InputError(f"negative: must be 'clip' or 'error', got {self.negative!r}")

    @cached_property
    def _digest(self) -> str:
        return sha256_hex(
            canonical_json(
                {
                    "kind": "ame.scenario/1",
                    "scenario": self.scenario.digest(),
                    "method": self.method,
                    "negative": self.negative,
                }
            )
        )

    def digest(self) -> str:
        """Hex SHA-256 of the scenario's digest, the method and the policy."""
        return self._digest

    def load(self) -> _ScenarioAttributor:
        """Build and fit the scenario's pipeline (imports torch)."""
        from offchain.scenario._attribution import reference_pipeline

        return _ScenarioAttributor(self, reference_pipeline(self.scenario).fit())

    def input_json(self, item: EventSpec) -> Any:
        """The event's specification as JSON data."""
        return item.model_dump(mode="json")

    def event_json(self, event: Any) -> Any:
        """An answered :class:`~offchain.attribution.reference.Event` as JSON data."""
        return {
            f: list(event.output) if f == "output" else getattr(event, f) for f in _EVENT_FIELDS
        }

    def event_from_json(self, data: Any) -> Event:
        """The event :meth:`event_json` wrote.

        Raises:
            InputError: If ``data`` is not such an event.
        """
        from offchain.attribution.reference.pipeline import Event

        if not isinstance(data, dict) or sorted(data) != sorted(_EVENT_FIELDS):
            raise InputError(
                f"event: expected the fields {list(_EVENT_FIELDS)}, got {show_value(data)}"
            )
        output = data["output"]
        if not isinstance(output, list) or not all(type(t) is int for t in output):
            raise InputError(
                f"event.output: expected a list of token ids, got {show_value(output)}"
            )
        return Event(**{**data, "output": tuple(output)})


class _ScenarioAttributor:
    """A fitted scenario pipeline in a worker: answers and attributes batches."""

    def __init__(self, spec: ScenarioBatchSpec, pipeline: ReferencePipeline) -> None:
        self._spec = spec
        self._pipeline = pipeline

    def attribute(
        self, inputs: Sequence[EventSpec], progress: Progress = quiet_progress
    ) -> MultiStageResult:
        from offchain.scenario._attribution import _answer, scenario_estimator

        spec = self._spec
        events = _answer(spec.scenario, self._pipeline, inputs)
        estimator = scenario_estimator(
            spec.scenario, self._pipeline, method=spec.method, negative=spec.negative
        )
        return estimator.fit(events).result
