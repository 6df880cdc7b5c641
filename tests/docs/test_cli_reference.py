"""docs/cli.md documents every command and every long option of the `ame` command tree.

The tree is walked through click (``ame.cli.main`` and its groups), so a command or an
option added to the code without its documentation fails here. A command is documented
by a section whose heading names it (```ame status [EPOCH...]```, or ```ame roles show |
grant ...``` for a group's commands); each long option of a command appears, as a word,
in that command's section, or in "Options every command shares" when every command
given it by ``with_session`` shares it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from ame.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
SHARED = "Options every command shares"


def _sections(text: str) -> list[tuple[str, str]]:
    """``(heading, body)`` for each heading of the document, the body up to the next heading."""
    found: list[tuple[str, str]] = []
    fenced = False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("#"):
            found.append((line.lstrip("#").strip(), ""))
        elif found:
            heading, body = found[-1]
            found[-1] = (heading, body + line + "\n")
    return found


def _commands(
    group: click.Group, parents: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*parents, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*parents, name))


def _long_options(command: click.Command) -> list[str]:
    return sorted(
        {
            name
            for param in command.params
            if isinstance(param, click.Option)
            for name in (*param.opts, *param.secondary_opts)
            if name.startswith("--") and name != "--help"
        }
    )


def _mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def _section_of(path: tuple[str, ...], sections: list[tuple[str, str]]) -> str | None:
    """The text of the section whose heading names the command ``ame PATH``."""
    *parents, name = path
    prefix = " ".join(["ame", *parents])
    pattern = (
        rf"`{re.escape(prefix)}\b[^`]*(?<![\w-]){re.escape(name)}(?![\w-])"
        if parents
        else rf"`ame {re.escape(name)}(?![\w-])"
    )
    for heading, body in sections:
        if re.search(pattern, heading):
            return heading + "\n" + body
    return None


TEXT = DOC.read_text(encoding="utf-8")
SECTIONS = _sections(TEXT)
COMMANDS = list(_commands(main))


def test_the_tree_is_walked() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"status", "chain up", "roles grant", "deploy", "attribute"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_its_long_options_are_in_docs_cli_md(
    path: tuple[str, ...], command: click.Command
) -> None:
    section = _section_of(path, SECTIONS)
    assert section is not None, f"no section of docs/cli.md names `ame {' '.join(path)}`"
    shared = dict(SECTIONS)[SHARED]
    missing = [
        option
        for option in _long_options(command)
        if not _mentions(section, option) and not _mentions(shared, option)
    ]
    assert missing == [], f"`ame {' '.join(path)}`: options not in docs/cli.md"


def test_the_group_options_are_in_the_conventions() -> None:
    conventions = dict(SECTIONS)["Conventions"]
    assert [o for o in _long_options(main) if not _mentions(conventions, o)] == []
    assert _mentions(TEXT, "--help") and re.search(r"`-h`", TEXT)
