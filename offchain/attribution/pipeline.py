r"""What multi-stage attribution needs from a generative pipeline: a protocol.

:class:`~offchain.attribution.multistage.MultiStageAttribution` splits an event's
revenue over the stages the event went through, then over each stage's assets
(:mod:`~offchain.attribution.multistage`). It asks the pipeline four things, and
nothing else:

* :meth:`AttributionPipeline.assets`: the assets the event used, grouped by stage and
  in pipeline order (the stage order breaks ties when money is split);
* :meth:`AttributionPipeline.asset_game`: the event's asset game, the utility
  :math:`v(S)` of every coalition :math:`S` of those assets, with :math:`v(\varnothing)
  = 0` (a pipeline usually scores the event's output under the counterfactual
  pipeline of :math:`S` with :mod:`~offchain.attribution.utilities`);
* :meth:`AttributionPipeline.influence`: for the ``"tracin"`` methods only, each data
  stage asset's summed per-example score for the event
  (:class:`~offchain.attribution.tda.GroupedScores`, columns named by asset id);
* :attr:`AttributionPipeline.seed`: the default seed of sampled valuations.

A pipeline that can score many coalitions faster together than one by one also has
:meth:`PrefetchingPipeline.prefetch`; attribution then hands it each run of events
before valuing them (optional: the four members above are the protocol).

The stage named :data:`DATA_STAGE` is the one TracIn scores apply to; the other stage
ids are the pipeline's own. Events only need an id, a revenue and what the reports show
(:class:`PipelineEvent`).

The protocol is structural and ``runtime_checkable``: a pipeline implements it by
having these members, whatever it derives from. The reference pipeline
(:class:`~offchain.attribution.reference.pipeline.ReferencePipeline`) is one
implementation; the engine never imports it.

Example:
    A pipeline whose asset game is additive::

        from dataclasses import dataclass

        from offchain.attribution import MultiStageAttribution, PipelineGame
        from offchain.exceptions import AttributionError


        @dataclass(frozen=True)
        class Sale:
            id: str
            revenue: int
            prompt: str | None = None
            adapter: str | None = None
            text: str = ""


        class Additive:
            seed = 0
            weights = {"web": 2.0, "books": 1.0, "lm": 3.0}

            def assets(self, event: Sale) -> dict[str, tuple[str, ...]]:
                return {"data": ("web", "books"), "base_model": ("lm",)}

            def asset_game(self, event: Sale, *, free_disposal: bool = True) -> PipelineGame:
                return PipelineGame(
                    self.weights, lambda s: sum(self.weights[a] for a in s),
                    free_disposal=free_disposal,
                )

            def influence(self, events, *, projection_dim=None):
                raise AttributionError("no per-example scores: use method='shapley'")


        result = MultiStageAttribution(Additive()).fit([Sale("e1", 600)]).result
        result.events[0].amounts  # {'web': 200, 'books': 100, 'lm': 300}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from offchain.attribution.game import Game
    from offchain.attribution.tda import GroupedScores

__all__ = ["DATA_STAGE", "AttributionPipeline", "PipelineEvent", "PrefetchingPipeline"]

#: Id of the stage whose assets are training datasets: the ``"tracin"`` methods value
#: its assets by :meth:`AttributionPipeline.influence`.
DATA_STAGE: Final = "data"


@runtime_checkable
class PipelineEvent(Protocol):
    """One paid use of a pipeline, as attribution and its reports see it.

    Any object with these read-only attributes is an event (a frozen dataclass, a named
    tuple, a pydantic model); a pipeline may carry more (the request, the output's
    tokens) for its own use.

    Attributes:
        id: Event id, unique within a batch.
        revenue: What the event paid, in the token's smallest unit (an int >= 0).
        prompt: Id of the prompt template used, or None.
        adapter: Id of the adapter used, or None.
        text: The output the event paid for, as shown to people.
    """

    @property
    def id(self) -> str:
        """Event id."""
        ...

    @property
    def revenue(self) -> int:
        """What the event paid, in base units."""
        ...

    @property
    def prompt(self) -> str | None:
        """Prompt template id, or None."""
        ...

    @property
    def adapter(self) -> str | None:
        """Adapter id, or None."""
        ...

    @property
    def text(self) -> str:
        """The output's text."""
        ...


E_contra = TypeVar("E_contra", bound=PipelineEvent, contravariant=True)


@runtime_checkable
class AttributionPipeline(Protocol[E_contra]):
    """A fitted generative pipeline that multi-stage attribution can value.

    Generic in the pipeline's event type: a pipeline answers its own events (the
    reference pipeline's :class:`~offchain.attribution.reference.pipeline.Event`, with
    the output's token ids) and attribution hands them back unchanged.
    """

    @property
    def seed(self) -> int:
        """Default seed of sampled valuations (an int >= 0)."""
        ...

    def assets(self, event: E_contra) -> Mapping[str, tuple[str, ...]]:
        """The assets ``event`` used, by stage, in pipeline order.

        Stages the event did not use are left out; an asset id appears once. This is
        the structure of the asset game's players (stages are Owen's a priori unions).

        Raises:
            InputError: If ``event`` is not one this pipeline can answer.
        """
        ...

    def asset_game(self, event: E_contra, *, free_disposal: bool = True) -> Game[str]:
        """The game over every asset :meth:`assets` lists for ``event``.

        Args:
            event: The event.
            free_disposal: If True, the worth of a coalition is the best worth of its
                subsets (a monotone game, every Shapley value non-negative); otherwise
                the utility of the coalition with all its assets in use.

        Returns:
            A callable on ``frozenset`` coalitions of asset ids, 0 on the empty one
            (e.g. a :class:`~offchain.attribution.game.PipelineGame`).
        """
        ...

    def influence(
        self, events: Sequence[E_contra], *, projection_dim: int | None = None
    ) -> GroupedScores:
        """Per-example training-data scores of the events, summed per data asset.

        Only the ``"tracin"`` methods call it, for the :data:`DATA_STAGE` split; a
        pipeline with no per-example features may raise
        :class:`~offchain.exceptions.AttributionError`.

        Args:
            events: Events to explain.
            projection_dim: None for exact scores, else the dimension of the projected
                estimate.

        Returns:
            One row per event, one column per data asset (higher: the asset's examples
            raised the output's likelihood more).
        """
        ...


@runtime_checkable
class PrefetchingPipeline(Protocol[E_contra]):
    """A pipeline whose games' worths are cheaper computed for many events at once.

    :class:`~offchain.attribution.multistage.MultiStageAttribution` calls
    :meth:`prefetch` with each run of events it is about to value. A pipeline must
    return the same worths with or without it, whatever events it is given together:
    prefetching changes how fast games are, never a bit of their values.
    """

    def prefetch(self, events: Sequence[E_contra]) -> None:
        """Compute ahead, in batches, what the asset games of ``events`` will ask for.

        Raises:
            InputError: If an event is not one this pipeline can answer.
        """
        ...
