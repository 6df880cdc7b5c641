"""Rerun the pipeline an attribution record names, from assets the auditor loads.

Audit layer 2 (``ame audit --recompute-utilities``, :mod:`ame.workflow._recompute`)
compares published coalition worths with recomputed ones; this module is its torch half,
kept out of the workflow (which never loads torch): :class:`PipelineRerun` loads the
pipeline of a record's header, checks that what the auditor loaded is what the record
names, and reruns events through
:class:`~offchain.attribution.multistage.MultiStageAttribution` with the header's
settings, the code path that evaluated the operator's worths.

* ``"reference"`` records: an ``ame.scenario/1`` market (the embedded reference market
  when the header names it). Its digest and every asset's content hash
  (:func:`~offchain.scenario.asset_hashes`) must be the header's; its events are
  answered again by the fitted pipeline.
* ``"hf"`` records: an ``ame.pipeline/1`` configuration pointing at the auditor's copies
  of the model, adapters and datasets (their content hashes must be the header's; the
  settings that change worths must be the header's, paths aside) and the auditor's copy
  of the event log.

Every output is hashed and compared with the record's before it is scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ame_core.exceptions import InputError
from offchain.attribution._threads import torch_threads
from offchain.attribution.record import EventRecord, RecordHeader, output_digest, quantize

__all__ = ["PipelineRerun", "Problem"]

# Settings of an ame.pipeline/1 configuration that change worths and are not paths (the
# auditor's copies live elsewhere: their content is checked by hash).
_HF_SETTINGS: Final = (
    "base_model",
    "prompts",
    "neutral_template",
    "max_length",
    "attribution",
    "retrain",
)


@dataclass(frozen=True)
class Problem:
    """What keeps an event, or the whole record, from being rerun: ``field`` was ``found``.

    ``found`` starts with ``could not recompute:`` when nothing was compared (an event
    missing from the auditor's inputs), and is a value otherwise (another hash).
    """

    field: str
    expected: str
    found: str


class PipelineRerun:
    """The auditor's rerun of a record's pipeline (see the module).

    Args:
        scenario: The ``ame.scenario/1`` file of a ``"reference"`` record; None: the
            embedded reference market, if the record names it.
        pipeline: The ``ame.pipeline/1`` file of an ``"hf"`` record.
        events: The JSONL event log of an ``"hf"`` record.
        threads: Torch threads of the rerun; None: the pipeline's own setting.

    Raises:
        InputError: ``threads`` is not an int in 1..256.
    """

    def __init__(
        self,
        *,
        scenario: Path | None = None,
        pipeline: Path | None = None,
        events: Path | None = None,
        threads: int | None = None,
    ) -> None:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 256
        ):
            raise InputError(f"threads: must be an int in 1..256, got {threads!r}")
        self.scenario, self.pipeline_file, self.events_file = scenario, pipeline, events
        self.threads = threads
        self._pipe: Any = None
        self._events: dict[str, Any] = {}
        self._estimator: Any = None

    def load(self, header: RecordHeader, records: Sequence[EventRecord]) -> list[Problem]:
        """Load the pipeline and the events of ``records``, checking them against ``header``.

        Returns:
            Every difference between what the auditor loaded and what the record names
            (a different asset, setting or output, a missing event). When an asset or
            setting differs nothing is loaded and :meth:`rerun` refuses every event.

        Raises:
            InputError: The header names no pipeline this can rerun, its inputs cannot
                be read, or its settings are invalid (the message says which).
        """
        from offchain.attribution.multistage import MultiStageAttribution

        kind = header.pipeline.get("kind")
        if kind == "reference":
            problems = self._reference(header, records)
        elif kind == "hf":
            problems = self._hf(header, records)
        else:
            raise InputError(f"the record's pipeline kind {kind!r} is not one ame can rerun")
        if self._pipe is None:
            return problems
        settings = header.settings
        self._estimator = MultiStageAttribution(
            self._pipe,
            method=settings.get("method"),  # type: ignore[arg-type]
            seed=settings.get("seed"),
            negative=settings.get("negative"),  # type: ignore[arg-type]
            free_disposal=settings.get("free_disposal", True) is not False,
            max_exact=settings.get("max_exact"),  # type: ignore[arg-type]
            max_evaluations=settings.get("max_evaluations"),
            target_stderr=settings.get("target_stderr"),
            rank_patience=settings.get("rank_patience"),
            projection_dim=settings.get("projection_dim"),  # type: ignore[arg-type]
            precision=header.precision,
        )
        return problems

    def loaded(self, event_id: str) -> bool:
        """Whether the event was loaded and its output matches the record's."""
        return self._estimator is not None and event_id in self._events

    def rerun(self, record: EventRecord, *, max_extra: int) -> EventRecord:
        """The event's record recomputed here: every coalition of ``record``'s table evaluated.

        The estimator evaluates what the operator's did; a published coalition it did not
        evaluate is evaluated through the same asset game (at most ``max_extra``).

        Raises:
            InputError: The event was not loaded, or the table holds more than
                ``max_extra`` coalitions the attribution does not evaluate.
            AmeError: The pipeline cannot value the event.
        """
        if not self.loaded(record.id):
            raise InputError(f"event {record.id!r}: not loaded")
        event = self._events[record.id]
        with torch_threads(self.threads):
            again: EventRecord = self._estimator.fit([event]).result.events[0].record
            extra = [m for m in record.worths if m not in again.worths]
            if len(extra) > max_extra:
                raise InputError(
                    f"event {record.id!r}: {len(extra)} published coalitions the attribution "
                    f"does not evaluate, above the limit of {max_extra}"
                )
            if not extra or again.stages != record.stages:
                return again
            worths = dict(again.worths)
            # The game the estimator evaluates, with its free-disposal setting.
            game = self._pipe.asset_game(event, free_disposal=self._estimator.free_disposal)
            players = record.players
            for mask in extra:
                coalition = frozenset(a for i, a in enumerate(players) if mask >> i & 1)
                worths[mask] = quantize(game(coalition), self._estimator.precision)
        return EventRecord(
            again.id,
            again.revenue,
            again.output,
            again.stages,
            worths,
            again.labels,
            again.given,
            again.notes,
        )

    # -- loading -----------------------------------------------------------------------

    def _reference(self, header: RecordHeader, records: Sequence[EventRecord]) -> list[Problem]:
        from offchain.scenario import load_scenario, reference_scenario
        from offchain.scenario._attribution import (
            asset_hashes,
            reference_pipeline,
            scenario_events,
        )

        inputs = header.pipeline.get("inputs")
        named = inputs if isinstance(inputs, Mapping) else {}
        if self.scenario is not None:
            scenario, source = load_scenario(self.scenario), str(self.scenario)
        else:
            scenario, source = reference_scenario(), "the embedded reference market"
            if named.get("id") != scenario.id:
                raise InputError(
                    f"the record's pipeline is scenario {named.get('id')!r}, not the embedded "
                    "reference market: pass its scenario file (--scenario)"
                )
        problems = []
        if named.get("sha256") != scenario.digest():
            problems.append(
                Problem(
                    "recompute.pipeline.inputs.sha256", str(named.get("sha256")), scenario.digest()
                )
            )
        problems += _assets(header, asset_hashes(scenario))
        if problems:
            return problems
        specs = {e.id: e for e in scenario.events}
        problems += _missing(records, specs, source)
        chosen = [specs[r.id] for r in records if r.id in specs]
        if not chosen:
            return problems
        update: dict[str, Any] = {"events": chosen}
        if self.threads is not None:
            update["pipeline"] = scenario.pipeline.model_copy(update={"threads": self.threads})
        run = scenario.model_copy(update=update)
        with torch_threads(self.threads):
            self._pipe = reference_pipeline(run).fit()
            answered = {e.id: e for e in scenario_events(run, self._pipe)}
        return problems + self._outputs(records, answered)

    def _hf(self, header: RecordHeader, records: Sequence[EventRecord]) -> list[Problem]:
        if self.pipeline_file is None or self.events_file is None:
            raise InputError(
                "the record's pipeline is a Hugging Face pipeline: pass its ame.pipeline/1 "
                "file with your copies of the assets (--pipeline) and the event log (--events)"
            )
        from offchain.attribution.hf import load_events
        from offchain.attribution.hf.config import (
            asset_hashes,
            build_pipeline,
            load_pipeline_config,
            reference_model_hash,
        )

        config = load_pipeline_config(self.pipeline_file)
        published = header.pipeline.get("config")
        theirs: Mapping[str, Any] = published if isinstance(published, Mapping) else {}
        mine = config.model_dump(mode="json")
        problems = [
            Problem(f"recompute.pipeline.config.{name}", str(theirs.get(name)), str(mine.get(name)))
            for name in _HF_SETTINGS
            if theirs.get(name) != mine.get(name)
        ]
        datasets = theirs.get("datasets")
        for dataset, spec in mine["datasets"].items():
            other = datasets.get(dataset) if isinstance(datasets, Mapping) else None
            reading = {k: v for k, v in spec.items() if k != "path"}
            if (
                not isinstance(other, Mapping)
                or {k: v for k, v in other.items() if k != "path"} != reading
            ):
                problems.append(
                    Problem(
                        f"recompute.pipeline.config.datasets.{dataset}", str(other), str(reading)
                    )
                )
        problems += _assets(header, asset_hashes(config))
        reference = reference_model_hash(config)
        if header.pipeline.get("reference_model") != reference:
            problems.append(
                Problem(
                    "recompute.pipeline.reference_model",
                    str(header.pipeline.get("reference_model")),
                    reference or "no reference model in the auditor's pipeline",
                )
            )
        if problems:
            return problems
        log = {e.id: e for e in load_events(self.events_file)}
        problems += _missing(records, log, str(self.events_file))
        with torch_threads(self.threads):
            self._pipe = build_pipeline(config)
        return problems + self._outputs(records, log)

    def _outputs(self, records: Sequence[EventRecord], events: Mapping[str, Any]) -> list[Problem]:
        problems = []
        for record in records:
            event = events.get(record.id)
            if event is None:
                continue
            found = output_digest(event.text)
            if found != record.output:
                problems.append(
                    Problem(f"recompute.events[{record.id}].output", record.output, found)
                )
                continue
            self._events[record.id] = event
        return problems


def _missing(
    records: Sequence[EventRecord], events: Mapping[str, Any], source: str
) -> list[Problem]:
    return [
        Problem(
            f"recompute.events[{r.id}]",
            f"an event of {source}",
            "could not recompute: no such event",
        )
        for r in records
        if r.id not in events
    ]


def _assets(header: RecordHeader, hashes: Mapping[str, str]) -> list[Problem]:
    """Each asset of the header whose content hash is not the auditor's copy's."""
    return [
        Problem(
            f"recompute.assets.{asset}",
            digest,
            hashes.get(asset) or "no such asset in the auditor's pipeline",
        )
        for asset, digest in sorted(header.assets.items())
        if hashes.get(asset) != digest
    ]
