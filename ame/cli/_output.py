"""Output for people (aligned tables, progress on stderr) and for scripts (``--json``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import click

__all__ = [
    "JSON_META",
    "ClickProgress",
    "camel_keys",
    "echo_json",
    "hide_library_bars",
    "json_option",
    "json_wanted",
    "pairs",
    "table",
    "want_json",
]

#: Key of ``Context.meta`` (shared by the group and its subcommands) set by ``--json``.
JSON_META = "ame.json"


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
    """Print ``data`` as JSON (keys sorted; amounts are already decimal strings).

    Keys are camelCase (``chainId``, ``amountFormatted``), as the manifest, the
    deployment record and Ethereum's JSON-RPC write them; keys that are data
    (addresses, asset ids) are kept as they are.
    """
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def camel_keys(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping's own keys in camelCase (``chain_id`` -> ``chainId``), values untouched.

    For a record whose file format keeps its own keys (``ame.deployment/1``) but which a
    command prints among camelCase results.
    """
    return {_camel(key): value for key, value in fields.items()}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def want_json(ctx: click.Context, _param: click.Parameter | None, value: bool) -> bool:
    """``--json``'s callback: remember, for the whole command line, that JSON is wanted.

    Eager, so a later option's bad value is already reported as JSON. A subcommand's
    ``--json`` is true also when it was given before the command (``ame --json status``).
    """
    if value:
        ctx.meta[JSON_META] = True
    return json_wanted(ctx)


#: ``--json``: the result as JSON; also accepted before the command (``ame --json status``).
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    is_eager=True,
    callback=want_json,
    help="Print the result (or the error) as JSON.",
)


def json_wanted(ctx: click.Context | None = None) -> bool:
    """Whether ``--json`` was given, before the command or after it."""
    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    return ctx is not None and bool(ctx.meta.get(JSON_META))


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
