"""Output for people (aligned tables, progress on stderr) and for scripts (``--json``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

__all__ = ["ClickProgress", "echo_json", "hide_library_bars", "pairs", "table"]


def hide_library_bars() -> None:
    """Keep the Hugging Face libraries' own progress bars off the terminal.

    Ours say what each phase is; theirs (``Loading weights``, ``Writing model shards``)
    would interleave with them. Read by ``huggingface_hub`` on import, so this is called
    before any of those libraries loads; a user's own setting wins.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows under headers, columns aligned; integers right-aligned."""
    cells = [[str(h) for h in headers]] + [
        ["" if value is None else str(value) for value in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))
    ]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def pairs(rows: Sequence[tuple[str, object]]) -> str:
    """``name  value`` lines, names aligned."""
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def echo_json(data: Any) -> None:
    """Print ``data`` as JSON (keys sorted; amounts are already decimal strings)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True))


class ClickProgress:
    """Step messages and progress bars on stderr (bars only on a terminal)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet

    def step(self, message: str) -> None:
        """Say what starts."""
        if not self.quiet:
            click.echo(message, err=True)

    @contextlib.contextmanager
    def bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar over ``total`` items."""
        stream = sys.stderr
        if self.quiet or total < 2 or not stream.isatty():
            yield lambda _n: None
            return
        started = time.monotonic()
        # click shows the ETA; the rate goes where it shows the current item.
        with click.progressbar(
            length=total, label=label, file=stream, show_eta=True, item_show_func=_rate_text
        ) as bar:

            def advance(n: int) -> None:
                elapsed = time.monotonic() - started
                rate = (bar.pos + n) / elapsed if elapsed > 0 else 0.0
                bar.update(n, rate)

            yield advance


def _rate_text(rate: float | None) -> str | None:
    """Items a second, as a progress bar shows it (``12.3k/s``)."""
    if rate is None:
        return None
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rate >= size:
            return f"{rate / size:.1f}{unit}/s"
    return f"{rate:.0f}/s"
