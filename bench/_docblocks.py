"""Generated blocks in markdown files, shared by the bench scripts that write docs.

A bench script rewrites only its own part of ``docs/evaluation.md`` or the README: a
block whose first and last lines are markers such as ``<!-- judgments:begin -->`` /
``<!-- judgments:end -->``. Everything outside the markers is left byte for byte.

Imported as ``bench._docblocks`` (``bench`` is a namespace package): a script run directly
puts the repository root on ``sys.path`` first; under pytest the root is already there.
"""

from __future__ import annotations

import argparse
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

__all__ = ["add_output_options", "command", "fill", "replace_block"]


def replace_block(
    path: Path,
    block: str,
    *,
    append: bool = False,
    heading: str | None = None,
    new_file: str | None = None,
) -> None:
    """Replace the text between the block's markers in ``path`` with ``block``.

    The markers are the block's first and last lines; only their first occurrence in
    ``path`` is replaced.

    Args:
        path: The markdown file to rewrite.
        block: The new block, markers included.
        append: Without the markers in ``path``, append the block at the end instead of
            raising.
        heading: With ``append``, the ``## heading`` the appended block goes under; None
            when the block carries its own heading.
        new_file: Title of the ``# new_file`` document created when ``path`` does not
            exist; None to raise instead.

    Raises:
        FileNotFoundError: ``path`` does not exist and ``new_file`` is None.
        ValueError: ``path`` has no such block and ``append`` is false.
    """
    lines = block.splitlines()
    begin, end = lines[0], lines[-1]
    if path.exists():
        text = path.read_text()
    elif new_file is not None:
        text = f"# {new_file}\n"
    else:
        raise FileNotFoundError(path)
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        # A function, not a string, as replacement: the block's backslashes stay literal.
        text = pattern.sub(lambda _: block, text, count=1)
    elif append:
        under = f"## {heading}\n\n" if heading is not None else ""
        text = text.rstrip("\n") + "\n\n" + under + block + "\n"
    else:
        raise ValueError(f"{path}: no {begin} ... {end} block to replace")
    path.write_text(text)


def command(script: str, argv: Sequence[str]) -> str:
    """The command that reruns ``script`` with ``argv``, as a block states it.

    Options that only say where output goes (``--readme``, ``--markdown``, ``--plot``
    and their values) are left out: they do not change the numbers.
    """
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _OUTPUT_OPTIONS:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return " ".join([f"python {script}", *kept])


_OUTPUT_OPTIONS = ("--readme", "--markdown", "--plot")


def fill(text: str, width: int, *, break_long_words: bool = True) -> str:
    """Wrap a paragraph to ``width`` columns, never breaking at hyphens."""
    return textwrap.fill(
        text, width=width, break_on_hyphens=False, break_long_words=break_long_words
    )


def add_output_options(parser: argparse.ArgumentParser, *, plot: str, markdown: str) -> None:
    """Add ``--plot``, ``--markdown``, ``--readme`` and ``--render`` to ``parser``.

    Args:
        parser: The script's parser.
        plot: The default PNG path, as the help shows it.
        markdown: What of the markdown file is rewritten, as the help names it
            (``"block"``, ``"section"``).
    """
    parser.add_argument("--plot", type=Path, help=f"PNG to write (default: {plot})")
    parser.add_argument(
        "--markdown",
        type=Path,
        help=f"markdown whose {markdown} is rewritten (default: docs/evaluation.md)",
    )
    parser.add_argument(
        "--readme", type=Path, help="README whose block is rewritten (default: README.md)"
    )
    parser.add_argument(
        "--render",
        type=Path,
        help="rewrite table, plot and docs from a JSON line this script printed, without running",
    )
