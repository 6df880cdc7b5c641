"""The CLI's progress bars show the rate and the time left."""

from __future__ import annotations

import io

import pytest

from ame.cli._output import ClickProgress, _rate_text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal_shows_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with ClickProgress().bar("checking", 10) as advance:
        advance(5)
        advance(5)
    assert "checking" in stream.getvalue() and "/s" in stream.getvalue()


def test_rates_are_written_short() -> None:
    assert [_rate_text(r) for r in (None, 5.0, 12_345.0, 2.5e6, 3e9)] == [
        None,
        "5/s",
        "12.3k/s",
        "2.5M/s",
        "3.0G/s",
    ]
