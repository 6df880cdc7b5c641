"""The README's demo output, from a run of ``ame demo``: never pasted by hand.

Runs ``ame demo`` (the reference market on the embedded chain) in a fresh directory,
takes what it prints on stdout, and rewrites the README's block between
``<!-- demo:begin -->`` and ``<!-- demo:end -->``: a line naming the machine (the
amounts depend on the CPU's floating-point kernels: docs/attribution.md, "Determinism
across machines"), then the output, whole, as ``$ make demo`` shows it.

:func:`block` renders the block from the output's lines; :data:`LINE_FORMS` are the
lines the demo prints, in order, as patterns: what a test checks the README's block
against without running the demo (a run that differs in a number still has the form).

Usage::

    .venv/bin/python bench/readme_demo.py                   # rewrite README.md's block
    .venv/bin/python bench/readme_demo.py --readme other.md
    .venv/bin/python bench/readme_demo.py --print           # print the block only
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench._docblocks import replace_block  # noqa: E402
from bench._machine import describe  # noqa: E402

__all__ = [
    "BEGIN",
    "END",
    "LINE_FORMS",
    "block",
    "demo_lines",
    "form_errors",
    "main",
    "parse_block",
]

BEGIN = "<!-- demo:begin -->"
END = "<!-- demo:end -->"
_FENCE = "```"
_PROMPT = "$ make demo"
_MACHINE = re.compile(
    r"^Printed by `python bench/readme_demo.py` on (?P<machine>(?P<cpu>.+?), \d+ CPUs, .+?); "
)

_WEI = r"\d+"
_HEX = r"0x[0-9a-fA-F]+"
_ETH = r"\d+(\.\d+)?"
#: The demo's stdout, line by line: ``(pattern, how many times)``; ``+`` is one or more.
LINE_FORMS: tuple[tuple[str, str], ...] = (
    (rf"event \S+: '.*' earned {_WEI} wei, by stage( \S+ {_WEI},?)+", "+"),
    (rf"deployed AmeSettlement at {_HEX} on the in-process chain \(id \d+\)", "1"),
    (rf"epoch 1 proposed with a doubled leaf \(root {_HEX}\.\.\.\)", "1"),
    (
        r"the watchdog proved [A-Z_]+ at leaves \[\d+, \d+\]: epoch 1 is Voided; half the "
        r"operator's bond went to the watchdog, half was burned",
        "1",
    ),
    (rf"epoch 2 settled: \d+ leaves, pool {_WEI} wei, root {_HEX}\.\.\.", "1"),
    (r"independent audit of epoch 2: PASS", "1"),
    (r"epoch 2 finalised after its challenge window: Finalized", "1"),
    (r"\d+ contributors claimed themselves; a relayer paid the other \d+ in \d+ transaction\(s\)", "1"),
    (r"", "1"),
    (r"contributor +role +share +amount \(ETH\) +claimed", "1"),
    (rf"\S+ +.+ +\d+\.\d\d% +{_ETH} +yes \((self|relayer)\)", "+"),
    (r"", "1"),
    (r"audit of epoch 2: PASS", "1"),
    (r"gas: .+", "1"),
    (r"report: \S+report\.html", "1"),
)  # fmt: skip


def demo_lines(workdir: Path, timeout: float = 1800) -> list[str]:
    """Run ``ame demo`` in ``workdir`` (fresh) and return what it printed on stdout.

    The progress messages go to stderr and are not part of the output shown.

    Raises:
        RuntimeError: If the demo fails (its stderr's tail in the message).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-m", "ame.cli", "demo", "--workdir", str(workdir)],
        cwd=workdir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ame demo failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = done.stdout.splitlines()
    # The report's path as a user who ran `make demo` in the checkout sees it.
    return [
        f"report: ame-demo/{Path(line.split(': ', 1)[1]).name}" if line.startswith("report: ")
        else line.rstrip()
        for line in lines
    ]  # fmt: skip


def block(lines: Sequence[str], machine: str) -> str:
    """The README block (markers included) showing ``lines`` as printed on ``machine``."""
    head = (
        f"Printed by `python bench/readme_demo.py` on {machine}; the amounts depend on the "
        "CPU's floating-point kernels "
        "([determinism across machines](docs/attribution.md#determinism-across-machines))."
    )
    return "\n".join([BEGIN, head, "", _FENCE, _PROMPT, *lines, _FENCE, END])


def parse_block(text: str) -> tuple[str, str, list[str]]:
    """The CPU, the machine as :func:`block` was given it, and the output lines of the
    demo block in ``text`` (a README).

    Raises:
        ValueError: If ``text`` has no well-formed demo block.
    """
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    if match is None:
        raise ValueError(f"no {BEGIN} ... {END} block")
    lines = match.group(1).split("\n")
    machine = _MACHINE.match(lines[0])
    if machine is None or lines[1:4] != ["", _FENCE, _PROMPT] or lines[-1] != _FENCE:
        raise ValueError("the demo block does not have the form bench/readme_demo.py writes")
    return machine.group("cpu"), machine.group("machine"), lines[4:-1]


def form_errors(lines: Sequence[str]) -> list[str]:
    """Where ``lines`` depart from :data:`LINE_FORMS` (empty: they have the demo's form)."""
    errors: list[str] = []
    i = 0
    for pattern, count in LINE_FORMS:
        regex = re.compile(pattern + r"\Z")
        matched = 0
        while i < len(lines) and regex.match(lines[i]) and (count == "+" or matched < 1):
            i += 1
            matched += 1
        if matched == 0:
            got = lines[i] if i < len(lines) else "the end of the output"
            errors.append(f"line {i + 1}: expected /{pattern}/, got {got!r}")
            return errors
    if i < len(lines):
        errors.append(f"line {i + 1}: unexpected {lines[i]!r} after the demo's last line")
    return errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--print", dest="only_print", action="store_true", help="print only")
    args = parser.parse_args(argv)
    machine = describe()
    with tempfile.TemporaryDirectory() as tmp:
        lines = demo_lines(Path(tmp) / "ame-demo")
    errors = form_errors(lines)
    if errors:  # the demo changed what it prints: LINE_FORMS must follow
        raise SystemExit("the demo's output no longer has the form LINE_FORMS says: " + errors[0])
    text = block(lines, machine)
    if args.only_print:
        print(text)
    else:
        replace_block(args.readme, text)
        print(f"rewrote the demo block of {args.readme} ({len(lines)} lines, on {machine})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
