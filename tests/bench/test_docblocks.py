"""``bench/_docblocks.py``: generated markdown blocks and the bench scripts' output options."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench._docblocks import add_output_options, command, fill, replace_block

BLOCK = "<!-- suite:begin -->\n{}\n<!-- suite:end -->"


def test_replace_block_rewrites_only_the_first_block_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text(f"# Doc\n\nbefore\n\n{BLOCK.format('old')}\n\nafter\n\n{BLOCK.format('x')}\n")
    # A backslash in the block is written as is, not read as a regex escape.
    new = BLOCK.format(r"new \1 \n")
    replace_block(path, new)
    assert path.read_text() == f"# Doc\n\nbefore\n\n{new}\n\nafter\n\n{BLOCK.format('x')}\n"


def test_replace_block_appends_under_a_heading_or_as_is(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text("# Doc\n\ntext\n\n\n")
    replace_block(path, BLOCK.format("one"), append=True, heading="Suite")
    assert path.read_text() == f"# Doc\n\ntext\n\n## Suite\n\n{BLOCK.format('one')}\n"
    other = "<!-- other:begin -->\n## Other\n<!-- other:end -->"
    replace_block(path, other, append=True)
    assert path.read_text().endswith(f"{BLOCK.format('one')}\n\n{other}\n")


def test_replace_block_creates_a_missing_file_only_when_given_its_title(tmp_path: Path) -> None:
    path = tmp_path / "evaluation.md"
    with pytest.raises(FileNotFoundError):
        replace_block(path, BLOCK.format("one"), append=True)
    assert not path.exists()
    replace_block(path, BLOCK.format("one"), append=True, heading="Suite", new_file="Evaluation")
    assert path.read_text() == f"# Evaluation\n\n## Suite\n\n{BLOCK.format('one')}\n"


def test_replace_block_without_the_markers_and_without_append_refuses(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# Project\n")
    with pytest.raises(ValueError, match=r"no <!-- suite:begin --> \.\.\. <!-- suite:end -->"):
        replace_block(path, BLOCK.format("one"), new_file="Evaluation")
    assert path.read_text() == "# Project\n"


def test_fill_breaks_at_spaces_not_hyphens() -> None:
    text = "a well-known loglik-prefix utility " * 4
    lines = fill(text, 30).splitlines()
    assert all(len(line) <= 30 for line in lines)
    assert not any(line.endswith("-") for line in lines)
    long = "x" * 40
    assert fill(long, 30) == f"{'x' * 30}\n{'x' * 10}"
    assert fill(long, 30, break_long_words=False) == long


def test_add_output_options_parses_paths_and_names_the_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_output_options(parser, plot="docs/img/x.png", markdown="section")
    args = parser.parse_args(["--plot", "p.png", "--markdown", "m.md", "--render", "r.jsonl"])
    assert (args.plot, args.markdown, args.readme, args.render) == (
        Path("p.png"),
        Path("m.md"),
        None,
        Path("r.jsonl"),
    )
    helps = {action.dest: action.help for action in parser._actions}
    assert helps["plot"] == "PNG to write (default: docs/img/x.png)"
    assert helps["markdown"] == "markdown whose section is rewritten (default: docs/evaluation.md)"


def test_command_keeps_the_settings_and_drops_where_the_output_goes() -> None:
    argv = ["--n-train", "10", "--readme", "R.md", "--plot=p.png", "--events", "5"]
    assert command("bench/x.py", argv) == "python bench/x.py --n-train 10 --events 5"
    assert command("bench/x.py", []) == "python bench/x.py"
