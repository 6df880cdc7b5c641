"""Batched coalition scoring: the same bits whatever rows, events or threads share a pass."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain, combinations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import PrefetchingPipeline
from offchain.attribution._threads import torch_threads
from offchain.attribution.game import Game
from offchain.attribution.multistage import MultiStageAttribution, MultiStageResult
from offchain.attribution.reference.lm import BOS, SCORE_ROWS, NeuralLM, TinyTransformerLM
from offchain.attribution.reference.pipeline import (
    Event,
    ModelSettings,
    PipelineSettings,
    ReferencePipeline,
    TrainSettings,
)
from offchain.attribution.tda import GroupedScores

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

_SHAPE = ModelSettings(d_model=16, n_heads=2, d_ff=32, max_len=16)
_FIXTURES = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def model() -> NeuralLM:
    torch.manual_seed(3)
    return NeuralLM(TinyTransformerLM(40, _SHAPE))


@pytest.fixture(scope="module", params=[1, 2], ids=["1-thread", "2-threads"])
def pipe(request: pytest.FixtureRequest) -> ReferencePipeline:
    """A small fitted pipeline that trains and scores on 1 or 2 torch threads."""
    tiny = TrainSettings(pretrain_steps=8, n_checkpoints=1, adapter_epochs=1)
    settings = PipelineSettings(model=_SHAPE, train=tiny, threads=request.param)
    return ReferencePipeline(settings).fit()


@pytest.fixture(scope="module")
def log(pipe: ReferencePipeline) -> list[Event]:
    return pipe.sample_events(10, seed=1)


@st.composite
def _rows(draw: st.DrawFn) -> list[tuple[list[int], list[int]]]:
    """Rows of every length the model takes, some repeated, some with no continuation."""
    out = []
    for _ in range(draw(st.integers(1, 3 * SCORE_ROWS))):
        context = [BOS, *draw(st.lists(st.integers(4, 39), max_size=8))]
        room = _SHAPE.max_len + 1 - len(context)
        continuation = draw(st.lists(st.integers(2, 39), max_size=min(room, 8)))
        out.append((context, continuation))
    if len(out) > 1 and draw(st.booleans()):
        out.append(out[draw(st.integers(0, len(out) - 1))])
    return out


@settings(max_examples=40)
@given(rows=_rows(), order=st.randoms(use_true_random=False), threads=st.sampled_from([1, 2]))
def test_a_rows_scores_have_the_same_bits_whatever_rows_and_threads_share_its_passes(
    model: NeuralLM,
    rows: list[tuple[list[int], list[int]]],
    order: random.Random,
    threads: int,
) -> None:
    alone = [model.token_log_likelihoods(c, y) for c, y in rows]
    shuffled = list(range(len(rows)))
    order.shuffle(shuffled)
    with torch_threads(threads):
        together = model.score([rows[i] for i in shuffled])
    for position, index in enumerate(shuffled):
        assert together[position].tobytes() == alone[index].tobytes()
        assert together[position].dtype == np.float64
        assert len(together[position]) == len(rows[index][1])


def test_batched_rows_have_the_bits_of_the_one_sequence_forward_pass(model: NeuralLM) -> None:
    """Values computed before batching existed (one sequence per pass) are unchanged.

    Only the rows' lengths shape a pass, never their number, on this build of torch: a
    pass of one sequence of n >= 3 tokens gives the bits of that sequence among 16 others.
    """
    rng = np.random.default_rng(0)
    for length in range(3, _SHAPE.max_len + 1):
        ids = torch.tensor(rng.integers(4, 40, size=length + 1))
        with torch.no_grad():
            logp = model.model(ids[:-1].unsqueeze(0))[0].log_softmax(dim=-1)
        start = int(rng.integers(0, length))
        single = logp[start:].gather(1, ids[start + 1 :].unsqueeze(1)).squeeze(1).double()
        row = (ids[: start + 1].tolist(), ids[start + 1 :].tolist())
        assert model.score([row])[0].tobytes() == single.numpy().tobytes()


def test_a_bad_row_is_refused_by_its_index(model: NeuralLM) -> None:
    with pytest.raises(InputError, match=r"^rows\[1\]: context"):
        model.score([([BOS], [5]), ([], [5])])
    with pytest.raises(InputError, match=r"^rows\[0\]: context\+continuation"):
        model.score([([BOS] * 10, [5] * 10)])


def _coalitions(pipe: ReferencePipeline, event: Event) -> Iterator[tuple[str, ...]]:
    assets = list(chain.from_iterable(pipe.assets(event).values()))
    return chain.from_iterable(combinations(assets, r) for r in range(len(assets) + 1))


@pytest.fixture(scope="module")
def lazy(pipe: ReferencePipeline, log: list[Event]) -> dict[tuple[str, tuple[str, ...]], bytes]:
    """Every coalition's token log-probabilities of every event, scored one by one."""
    return {
        (e.id, c): pipe.token_log_likelihoods(e, c).tobytes()
        for e in log
        for c in _coalitions(pipe, e)
    }


@settings(max_examples=8, suppress_health_check=_FIXTURES)
@given(data=st.data())
def test_prefetching_any_events_in_any_order_leaves_every_worth_bit_for_bit(
    pipe: ReferencePipeline,
    log: list[Event],
    lazy: Mapping[tuple[str, tuple[str, ...]], bytes],
    data: st.DataObject,
) -> None:
    # A pipeline sharing the trained models but none of the scores cached so far.
    fresh = pipe.with_options()
    batch = data.draw(st.permutations(log))[: data.draw(st.integers(1, len(log)))]
    fresh.prefetch(batch)  # on the pipeline's threads, 1 or 2 (the fixture's)
    for event in data.draw(st.permutations(log)):
        for coalition in _coalitions(fresh, event):
            got = fresh.token_log_likelihoods(event, coalition)
            assert got.tobytes() == lazy[event.id, coalition]
            assert not got.flags.writeable


def test_prefetch_refuses_an_event_it_cannot_answer(
    pipe: ReferencePipeline, log: list[Event]
) -> None:
    bad = Event("bad", log[0].request, "nope", None, 1, log[0].output, log[0].text)
    with pytest.raises(InputError, match=r"^event\.prompt: unknown id 'nope' in event 'bad'"):
        pipe.with_options().prefetch([log[0], bad])


class _Unbatched:
    """The pipeline without ``prefetch``: every worth scored when its game asks for it."""

    def __init__(self, pipe: ReferencePipeline) -> None:
        self._pipe = pipe
        self.seed = pipe.seed

    def assets(self, event: Event) -> dict[str, tuple[str, ...]]:
        return self._pipe.assets(event)

    def asset_game(self, event: Event, *, free_disposal: bool = True) -> Game[str]:
        return self._pipe.asset_game(event, free_disposal=free_disposal)

    def influence(
        self, events: Sequence[Event], *, projection_dim: int | None = None
    ) -> GroupedScores:
        return self._pipe.influence(events, projection_dim=projection_dim)


def _records(result: MultiStageResult) -> dict[str, bytes]:
    return {
        e.event.id: json.dumps(e.record.to_json(), sort_keys=True).encode() for e in result.events
    }


@settings(max_examples=5, suppress_health_check=_FIXTURES)
@given(data=st.data())
def test_attribution_records_are_the_same_bytes_prefetched_in_any_batch_or_order(
    pipe: ReferencePipeline, log: list[Event], data: st.DataObject
) -> None:
    assert isinstance(pipe, PrefetchingPipeline)
    assert not isinstance(_Unbatched(pipe), PrefetchingPipeline)
    unbatched = _records(MultiStageAttribution(_Unbatched(pipe.with_options())).fit(log).result)
    order = data.draw(st.permutations(log))
    cut = data.draw(st.integers(1, len(log)))
    fresh = pipe.with_options()
    got: dict[str, bytes] = {}
    for first in range(0, len(order), cut):
        got |= _records(MultiStageAttribution(fresh).fit(order[first : first + cut]).result)
    assert got == unbatched


def test_the_batched_utilities_give_every_coalition_the_bits_of_one_utility_call(
    pipe: ReferencePipeline, log: list[Event]
) -> None:
    """With scores cached (prefetched) or not, and coalitions with and without the base."""
    for prefetched in (False, True):
        fresh = pipe.with_options()
        if prefetched:
            fresh.prefetch(log)
        for event in log:
            coalitions = list(_coalitions(fresh, event))
            got = fresh.utilities(event, coalitions)
            want = np.array([pipe.utility(event, c) for c in coalitions], dtype=np.float64)
            assert got.tobytes() == want.tobytes()
    assert pipe.utilities(log[0], []).shape == (0,)
    with pytest.raises(InputError, match=r"^assets: \['nope'\] not used by event"):
        pipe.utilities(log[0], [("transformer", "nope")])
