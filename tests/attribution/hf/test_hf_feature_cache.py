"""The data stage's on-disk index: :class:`FeatureCache`, memory-mapped and never trusted.

Round trips of every array layout the estimators store, any damage (a flipped byte
anywhere, a truncation, bytes appended) refused, the same bytes for the same arrays,
and memory: writing and reading an index costs its pages, not copies of its payload.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.attribution.hf._gradients import CACHE_FORMAT, FeatureCache

KEY = "k" * 64


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "features": np.asfortranarray(rng.standard_normal((37, 5)).astype(np.float32)),
        "subspace": rng.standard_normal((1, 5, 11)).astype(np.float32),
        "spectrum": rng.standard_normal(7),
        "empty": np.zeros((0, 3), np.float32),
    }


def _stored(tmp_path: Path, arrays: dict[str, np.ndarray] | None = None) -> FeatureCache:
    cache = FeatureCache(tmp_path / "cache")
    cache.store(KEY, _arrays() if arrays is None else arrays)
    return cache


def test_arrays_come_back_equal_in_their_layout_and_memory_mapped(tmp_path: Path) -> None:
    cache = _stored(tmp_path)
    loaded = cache.load(KEY)
    assert loaded is not None and loaded.keys() == _arrays().keys()
    for name, want in _arrays().items():
        got = loaded[name]
        assert (got.dtype, got.shape) == (want.dtype, want.shape)
        np.testing.assert_array_equal(got, want)
        assert got.flags.f_contiguous == want.flags.f_contiguous
        if want.size:
            assert isinstance(got, np.memmap)
            assert got.ctypes.data % 64 == 0
    # Copy-on-write: writing to a loaded array never reaches the file.
    loaded["features"][0, 0] = 1e9
    again = cache.load(KEY)
    assert again is not None and again["features"][0, 0] == _arrays()["features"][0, 0]
    assert cache.path(KEY).read_bytes().startswith(CACHE_FORMAT.encode() + b"\n")


def test_the_same_arrays_give_the_same_bytes(tmp_path: Path) -> None:
    first = _stored(tmp_path / "a").path(KEY).read_bytes()
    assert _stored(tmp_path / "b").path(KEY).read_bytes() == first
    assert _stored(tmp_path / "c", _arrays(seed=1)).path(KEY).read_bytes() != first


@settings(max_examples=60)
@given(data=st.data())
def test_any_flipped_byte_truncation_or_extension_is_refused(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    cache = _stored(tmp_path_factory.mktemp("damage"))
    path = cache.path(KEY)
    good = path.read_bytes()
    damage = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if damage == "flip":
        at = data.draw(st.integers(0, len(good) - 1))
        bit = data.draw(st.integers(0, 7))
        raw = bytearray(good)
        raw[at] ^= 1 << bit
        bad = bytes(raw)
    elif damage == "truncate":
        bad = good[: data.draw(st.integers(0, len(good) - 1))]
    else:
        bad = good + data.draw(st.binary(min_size=1, max_size=80))
    path.write_bytes(bad)
    assert cache.load(KEY) is None


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert FeatureCache(tmp_path).load(KEY) is None


def test_storing_and_loading_an_index_copies_none_of_its_payload(tmp_path: Path) -> None:
    features = np.ones((4096, 1024), np.float32)  # 16 MiB
    cache = FeatureCache(tmp_path)
    tracemalloc.start()
    try:
        cache.store(KEY, {"features": features})
        _, stored_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        loaded = cache.load(KEY)
        assert loaded is not None
        _, loaded_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Chunks of 1 MiB are written and hashed at a time; a copy would cost 16 MiB.
    assert stored_peak < 4 * 2**20 and loaded_peak < 4 * 2**20
    np.testing.assert_array_equal(loaded["features"], features)
