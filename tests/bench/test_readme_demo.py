"""``bench/readme_demo.py``: the README's demo output is the script's, not pasted.

Without running the demo: the README's block has the form the script writes (the
machine line, then every line the demo prints, in order, as :data:`LINE_FORMS` says),
and rendering its lines again gives the block byte for byte. With the demo (slow; the
suite's one run of the reference market's whole demo): a fresh run gives exactly the
README's lines on the CPU the README names (the run is bit-identical there), lines of
the same form on any other, and the story those lines tell holds on every machine.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from bench import readme_demo
from bench._machine import cpu_model
from bench.readme_demo import (
    BEGIN,
    END,
    LINE_FORMS,
    block,
    demo_lines,
    form_errors,
    parse_block,
)

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _readme_block() -> tuple[str, str, list[str]]:
    return parse_block(README.read_text())


def test_the_readme_demo_block_has_the_form_the_script_writes() -> None:
    cpu, machine, lines = _readme_block()
    assert cpu and machine.startswith(cpu)
    assert form_errors(lines) == []
    text = README.read_text()
    written = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block(lines, machine) == written


def test_the_readme_demo_block_shows_every_event_and_every_contributor() -> None:
    _, _, lines = _readme_block()
    events = [line for line in lines if line.startswith("event ")]
    assert [line.split(":")[0] for line in events] == [
        "event e1",
        "event e2",
        "event e3",
        "event e4",
    ]
    settled = next(line for line in lines if line.startswith("epoch 2 settled: "))
    leaves = int(settled.split()[3])
    table = lines[lines.index(next(x for x in lines if x.startswith("contributor "))) + 1 :]
    assert len([line for line in table if line.endswith(")")]) == leaves


@seed(17)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_block_with_a_line_dropped_or_two_lines_swapped_is_not_of_the_form(
    data: st.DataObject,
) -> None:
    _, _, lines = _readme_block()
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    dropped = lines[:i] + lines[i + 1 :]
    # Dropping one of several event or contributor lines keeps the form; any other line not.
    repeated = [pattern for pattern, count in LINE_FORMS if count == "+"]
    if not any(re.fullmatch(p, lines[i]) for p in repeated):
        assert form_errors(dropped) != []
    j = data.draw(st.integers(0, len(lines) - 1), label="other")
    swapped = list(lines)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    if form_errors(swapped) == []:
        # Only lines of one form (two events, two contributors, the two blank lines) swap.
        same = [p for p, _ in LINE_FORMS if re.fullmatch(p, lines[i])]
        assert any(re.fullmatch(p, lines[j]) for p in same)
    assert form_errors([*lines, "an extra line"]) != []


def test_form_errors_names_the_line_that_departs() -> None:
    _, _, lines = _readme_block()
    broken = [*lines]
    at = next(i for i, line in enumerate(lines) if line.startswith("independent audit"))
    broken[at] = "independent audit of epoch 2: FAIL (1 mismatches)"
    (error,) = form_errors(broken)
    assert error.startswith(f"line {at + 1}: expected ") and "FAIL" in error


def test_the_script_rewrites_the_readme_block_from_what_the_demo_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, lines = _readme_block()
    ran: list[Path] = []

    def printed(workdir: Path, timeout: float = 1800) -> list[str]:
        ran.append(workdir)
        return lines

    readme = tmp_path / "README.md"
    readme.write_text(f"# AME\n\nbefore\n{BEGIN}\nold\n{END}\nafter\n")
    monkeypatch.setattr(readme_demo, "demo_lines", printed)
    assert readme_demo.main(["--readme", str(readme)]) == 0
    cpu, _, written = parse_block(readme.read_text())
    assert written == lines and cpu == cpu_model() and [p.name for p in ran] == ["ame-demo"]
    assert readme.read_text().startswith("# AME\n\nbefore\n") and readme.read_text().endswith(
        f"{END}\nafter\n"
    )
    monkeypatch.setattr(readme_demo, "demo_lines", lambda workdir, timeout=0: lines[:-1])
    with pytest.raises(SystemExit, match="no longer has the form"):
        readme_demo.main(["--readme", str(readme)])


def _wei(ether: str) -> int:
    whole, _, part = ether.partition(".")
    return int(whole) * 10**18 + int(part.ljust(18, "0"))


@pytest.mark.slow
@pytest.mark.torch
def test_a_fresh_demo_run_gives_the_readme_block_and_tells_the_whole_story() -> None:
    """One run of `ame demo` (the script's own :func:`demo_lines`): the README's block on
    the CPU it names, and on any machine the story it tells: the cheat caught, every
    event's revenue split to the wei, the rights mapped, everyone paid and the audit clean."""
    # Where the script runs it: the manifest's file URI names the directory and is part of
    # the proposal's calldata, so a path of another length changes the propose gas shown.
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "ame-demo"
        lines = demo_lines(workdir)
        report = (workdir / "report.html").read_text()
    assert form_errors(lines) == []
    readme_cpu, _, readme_lines = _readme_block()
    if cpu_model() == readme_cpu:  # the same kernels: the same bits, every amount included
        assert lines == readme_lines

    revenue = 0
    for line in (x for x in lines if x.startswith("event ")):
        earned = re.search(r" earned (\d+) wei, by stage (.*)$", line)
        assert earned is not None, line
        stages = [int(part.split()[1]) for part in earned.group(2).split(", ")]
        assert sum(stages) == int(earned.group(1)), line
        revenue += int(earned.group(1))
    assert any("proved BROKEN_CHAIN" in x and "epoch 1 is Voided" in x for x in lines)
    assert "independent audit of epoch 2: PASS" in lines and "audit of epoch 2: PASS" in lines
    settled = next(x for x in lines if x.startswith("epoch 2 settled: "))
    leaves, pool = re.search(r"(\d+) leaves, pool (\d+) wei", settled).groups()  # type: ignore[union-attr]
    header = next(i for i, x in enumerate(lines) if x.startswith("contributor "))
    table = [x.split() for x in lines[header + 1 :] if x.endswith(")")]
    assert len(table) == int(leaves)
    # Every leaf claimed, by its owner or a relayer, and the amounts are the pool to the wei.
    assert {row[-1] for row in table} == {"(self)", "(relayer)"}
    assert all(row[-2] == "yes" for row in table)
    assert sum(_wei(row[-3]) for row in table) == int(pool)
    # Rights mapping: fauna's co-owners are both paid, the opted-out owner is not, and the
    # pool is the revenue less what mapping withheld (opt-out, non-commercial licence).
    names = {row[0] for row in table}
    assert {"bob", "heidi"} <= names and "erin" not in names
    assert 0 < int(pool) < revenue
    assert "<img" in report
