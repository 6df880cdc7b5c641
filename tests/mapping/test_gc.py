"""The cyclic collector is paused only inside bulk builds and always restored."""

from __future__ import annotations

import gc

import pytest

from offchain.mapping._gc import paused_gc


def test_paused_gc_restores_an_enabled_collector_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_paused_gc_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
