"""``bench/readme_demo.py``: the README's demo output is the script's, not pasted.

Without running the demo: the README's block has the form the script writes (the
machine line, then every line the demo prints, in order, as :data:`LINE_FORMS` says),
and rendering its lines again gives the block byte for byte. With the demo (slow): a
fresh run gives exactly the README's lines on the CPU the README names (the run is
bit-identical there), and lines of the same form on any other.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from bench._machine import cpu_model
from bench.readme_demo import BEGIN, END, LINE_FORMS, block, form_errors, parse_block

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


@pytest.mark.slow
@pytest.mark.torch
def test_a_fresh_demo_run_gives_the_readme_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# AME\n\n{BEGIN}\nold\n{END}\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "readme_demo.py"), "--readme", str(readme)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cpu, _, lines = parse_block(readme.read_text())
    readme_cpu, _, readme_lines = _readme_block()
    assert cpu == cpu_model()
    assert form_errors(lines) == []
    if cpu == readme_cpu:  # the same kernels: the same bits, every amount included
        assert lines == readme_lines
