"""The README's walkthroughs, run as written: tested documentation that cannot drift.

The ``sh`` blocks of the walkthrough (steps 2 and 3), of "The operator workflow" and of
the read-only section are taken from README.md by heading and run in order, each command
with ``bash -e`` in a fresh directory that holds the checkout's tracked files (symlinked)
as a newcomer's clone does, with this checkout's ``ame`` first on the ``PATH`` (run by a
fork server, :mod:`tests._ame_zygote`, that imports ``ame`` once: each command keeps its
own arguments, directory, environment, streams and exit status, and the thirty-odd
commands skip Python's start-up):

- step 2 and the operator workflow as written: ``ame chain up`` picks a free port and
  every later command finds the chain in ``.ame``;
- step 3 against an Anvil that looks like Sepolia (chain id 11155111, blocks on a clock),
  signed only by the keystore the README's own command makes, with ``.ame/published``
  served by ``python -m http.server`` on 127.0.0.1;
- the read-only section from an empty directory, against step 3's contract while its
  epoch is in the challenge window, the moment the README's ``ame owed`` sample shows.

A section's settings (its leading ``export NAME=...`` or ``NAME=...`` lines: a node, a
password, an address) are the reader's to fill in; the test checks their names and gives
them its own values. A testnet has no dev account and no ``ame chain advance``: what a
newcomer does outside the shell there (a faucet funds the keystore's address; an hour
passes) the test does between two blocks through the two hooks marked TEST-ONLY below
(``*_hook_test_only``), never by editing a command of the README.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from ame_chain.chains import AnvilProcess
from tests._ame_zygote import ame_fork_server
from tests.cli.conftest import CLEAN_ENV

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WALKTHROUGH = "## Walkthrough: embedded chain, local Anvil, a testnet"
OPERATOR_WORKFLOW = "## The operator workflow"
READ_ONLY = "## For contributors and auditors: read-only, no key"
READ_ONLY_SETTINGS = {"AME_RPC_URL", "AME_SETTLEMENT", "ADDRESS"}
ALICE = "0xBcd4042DE499D14e55001CcbB24a551F3b954096"  # paid for geo in reference.registry.yaml
TESTNET_CHAIN_ID = 11155111  # Sepolia's
TESTNET_SETTINGS = {"AME_RPC_URL", "AME_KEYSTORE", "AME_KEYSTORE_PASSWORD", "AME_PUBLISH_BASE_URI"}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=\S*")


def section(heading: str) -> str:
    """The README's text under ``heading`` (a ``##`` line), up to the next ``##`` heading."""
    text = README.read_text()
    assert f"\n{heading}\n" in text, f"README.md has no section {heading!r}"
    body = text.split(f"\n{heading}\n", 1)[1]
    return re.split(r"\n## ", body, maxsplit=1)[0]


def step(text: str, number: int) -> str:
    """The part of the walkthrough from its bold ``**N.`` paragraph to the next one."""
    parts = re.split(r"\n\*\*(\d+)\. ", "\n" + text)
    steps = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert str(number) in steps, f"the walkthrough has no step {number}"
    return steps[str(number)]


def sh_blocks(text: str) -> list[list[str]]:
    """Each ``sh`` block of ``text`` as its commands (a backslash continues a line)."""
    blocks = re.findall(r"```sh\n(.*?)\n```", text, flags=re.DOTALL)
    return [commands(block) for block in blocks]


def commands(block: str) -> list[str]:
    """The commands of one block: continued lines joined, blank and comment lines dropped."""
    joined = re.sub(r"\\\n", " ", block)
    return [
        line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def settings(block: list[str]) -> dict[str, str]:
    """The variables a block of ``[export] NAME=VALUE ...`` lines sets (it must hold nothing else)."""
    found: dict[str, str] = {}
    for line in block:
        words = shlex.split(line, comments=True)
        assigned = words[1:] if words[0] == "export" else words
        assert assigned and all(_ASSIGNMENT.fullmatch(w) for w in assigned), (
            f"not a settings line: {line!r}"
        )
        for word in assigned:
            name, value = word.split("=", 1)
            found[name] = value
    return found


def split_settings(block: list[str]) -> tuple[dict[str, str], list[str]]:
    """A block's leading settings lines (see :func:`settings`) and the commands after them."""
    count = 0
    while count < len(block) and _ASSIGNMENT.match(shlex.split(block[count], comments=True)[-1]):
        count += 1
    return settings(block[:count]), block[count:]


@dataclass
class Shell:
    """Runs README commands one by one with ``bash -e`` in ``cwd``, as a newcomer's shell.

    Attributes:
        cwd: The directory every command runs in.
        env: The environment: the caller's without any ``AME_*`` setting, this checkout
            first on ``PATH`` and ``PYTHONPATH``, plus what the section's settings set.
    """

    cwd: Path
    env: dict[str, str]
    times: list[tuple[str, float]] = field(default_factory=list)

    def run(self, command: str, *, expect: int = 0) -> str:
        """Run ``command`` and return its stdout (its stderr when it fails as expected).

        Args:
            command: One command line of the README.
            expect: The exit status the README states for it.
        """
        start = time.monotonic()
        done = subprocess.run(
            ["bash", "-e", "-c", command],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=1200,  # a hang guard: a shared CI machine under load is slow, not hung
        )
        self.times.append((command, time.monotonic() - start))
        assert done.returncode == expect, (
            f"README command exited {done.returncode}: {command}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
        return done.stdout if expect == 0 else done.stderr

    def run_block(self, block: list[str]) -> list[str]:
        """Run each command of ``block`` in order; their stdouts."""
        return [self.run(command) for command in block]


def newcomer_env(
    extra: dict[str, str] | None = None, *, ame_bin: Path | None = None
) -> dict[str, str]:
    """The environment of a shell in this checkout's venv, with no ``AME_*`` settings.

    Args:
        extra: Settings added on top.
        ame_bin: A directory whose ``ame`` goes first on the ``PATH`` (the fork server's).
    """
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if ame_bin is not None:
        env["PATH"] = f"{ame_bin}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)  # this checkout's code, not an installed copy's
    return {**env, **(extra or {})}


def checkout_entries() -> set[str]:
    """The top-level names a fresh clone has: git's tracked files, and ``node_modules``.

    Not whatever else lies in this checkout (a ``values.json``, ``.ame`` or ``ame.toml``
    left by a developer's own walkthrough), which a newcomer's clone does not have and
    which the commands would otherwise read, or write through a link.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {path.split("/", 1)[0] for path in listed.split("\0") if path} | {"node_modules"}


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh directory holding the checkout's tracked top-level files, as a newcomer's clone."""
    work = tmp_path / "clone"
    work.mkdir()
    for name in sorted(checkout_entries()):
        if (ROOT / name).exists():
            (work / name).symlink_to(ROOT / name)
    return work


@pytest.fixture
def ame_bin(tmp_path: Path) -> Iterator[Path]:
    """A directory whose ``ame`` runs each command in a fork of one process that imported
    ``ame`` once (:mod:`tests._ame_zygote`): the command's arguments, directory,
    environment, streams and exit status are its own; some thirty commands skip Python's
    start-up."""
    server_dir = tmp_path / "ame-fork-server"
    server_dir.mkdir()
    with ame_fork_server(server_dir, env=newcomer_env()) as bin_dir:
        yield bin_dir


@pytest.fixture
def testnet(tmp_path: Path) -> Iterator[AnvilProcess]:
    """An Anvil that stands in for Sepolia: its chain id, and blocks mined on a clock (one a
    second, to keep the test short) rather than one per transaction."""
    node = AnvilProcess.start(log_dir=tmp_path / "anvil", chain_id=TESTNET_CHAIN_ID, block_time=1)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def file_host(clone: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1 serving the clone's ``.ame/published``: its URI.

    The operator's file host: whatever ``settle`` publishes there is served at once.
    """
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
         "--directory", str(clone / ".ame" / "published")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        port = re.search(r"port (\d+)", line)
        assert port is not None, line
        yield f"http://127.0.0.1:{port.group(1)}/"
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def faucet_hook_test_only(node: AnvilProcess, address: str) -> None:
    """TEST-ONLY hook, standing for a testnet faucet: give ``address`` 100 ETH."""
    Web3(Web3.HTTPProvider(node.url)).provider.make_request(
        "anvil_setBalance",  # type: ignore[arg-type]
        [address, hex(100 * 10**18)],
    )


def wait_out_hook_test_only(node: AnvilProcess, until: int) -> None:
    """TEST-ONLY hook, standing for the wait on a testnet: the chain's clock passes ``until``."""
    w3 = Web3(Web3.HTTPProvider(node.url))
    now = int(w3.eth.get_block("latest")["timestamp"])
    w3.provider.make_request("evm_increaseTime", [max(until - now + 1, 0)])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@dataclass(frozen=True)
class Walkthroughs:
    """The README's blocks, by role: what the run executes, in order.

    Attributes:
        local: Step 2, on the managed Anvil.
        testnet_settings: Step 3's ``export`` lines: the variables it names, with the
            README's placeholder values.
        make_keystore: Step 3's keystore command (prints the new address).
        deploy_and_settle: Step 3 from the deployment to the settled, audited epoch.
        pay: Step 3 after the challenge window: finalise, claim, withdraw.
        operator_workflow: "The operator workflow", on a new managed Anvil.
        read_only_settings: The read-only section's settings: node, contract, address.
        read_only: Its commands, run from an empty directory.
        owed_sample: The ``ame owed`` output the README prints after them.
    """

    local: list[str]
    testnet_settings: dict[str, str]
    make_keystore: list[str]
    deploy_and_settle: list[str]
    pay: list[str]
    operator_workflow: list[str]
    read_only_settings: dict[str, str]
    read_only: list[str]
    owed_sample: list[str]


def walkthroughs() -> Walkthroughs:
    """The README's walkthrough blocks, checked to have the shape the run relies on."""
    walkthrough = section(WALKTHROUGH)
    (local,) = sh_blocks(step(walkthrough, 2))
    setup, make_keystore, deploy_and_settle, pay = sh_blocks(step(walkthrough, 3))
    (operator_workflow,) = sh_blocks(section(OPERATOR_WORKFLOW))
    read_only = section(READ_ONLY)
    (contributor,) = sh_blocks(read_only)
    read_only_settings, read_only_commands = split_settings(contributor)
    sample = re.findall(r"\n```\n(owed to .*?)\n```", read_only, flags=re.DOTALL)
    assert len(sample) == 1, "the read-only section prints one `ame owed` sample"
    return Walkthroughs(
        local,
        settings(setup),
        make_keystore,
        deploy_and_settle,
        pay,
        operator_workflow,
        read_only_settings,
        read_only_commands,
        sample[0].splitlines(),
    )


def table_form(line: str) -> str:
    """``line`` of ``ame owed`` output with what differs between runs as placeholders:
    addresses (with the names the registry gives them), UTC dates, times left, amounts
    and the leaf index; spacing collapsed (a table's columns widen with their values)."""
    line = _ADDRESS.sub("<address>", line)
    line = re.sub(r"<address> \([^)]*\)", "<address>", line)  # the registry's names, if any
    line = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "<date>", line)
    line = re.sub(r"\bin(?: \d+[dhms])+", "in <time>", line)
    line = re.sub(r"\b\d+(?:\.\d+)? ETH\b", "<amount> ETH", line)
    line = re.sub(r"(?<=\s)\d+$", "<leaf>", line)
    return " ".join(line.split())


def test_the_readme_walkthroughs_have_the_blocks_the_run_takes() -> None:
    blocks = walkthroughs()
    assert set(blocks.testnet_settings) == TESTNET_SETTINGS
    # The README shows a real testnet's settings, not this test's loopback ones.
    assert "127.0.0.1" not in " ".join(blocks.testnet_settings.values())
    assert len(blocks.make_keystore) == 1
    for command in blocks.make_keystore + blocks.deploy_and_settle + blocks.pay:
        # A testnet has no public keys to sign with and no clock to move.
        assert "--dev-account" not in command and "chain advance" not in command, command
        assert "AME_PRIVATE_KEY" not in command, command
    assert [c.split()[:2] for c in blocks.pay] == [
        ["ame", "finalize"], ["ame", "claim"], ["ame", "withdraw"]
    ]  # fmt: skip
    assert blocks.local[0].startswith("ame chain up") and blocks.local[-1] == "ame chain down"
    assert blocks.operator_workflow[0].startswith("ame chain up")
    assert blocks.operator_workflow[-1] == "ame chain down"
    assert set(blocks.read_only_settings) == READ_ONLY_SETTINGS
    assert all(c.split()[0] == "ame" for c in blocks.read_only), blocks.read_only
    assert [table_form(line) for line in blocks.owed_sample] == [
        "owed to <address> by <address>:",
        "epoch amount state status claimable from time left claimed leaf",
        "1 <amount> ETH in challenge window Proposed <date> in <time> no <leaf>",
        "owed <amount> ETH in epoch 1, claimable after <date> (in <time>), once finalised",
    ]


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-.=/0123456789", min_size=1, max_size=8)


@given(
    st.lists(
        st.tuples(st.lists(st.lists(_WORD, min_size=1, max_size=3), min_size=1, max_size=3),
                  st.sampled_from(["", "\n", "\n# a comment\n", "\n   \n"])),
        min_size=1,
        max_size=6,
    )
)  # fmt: skip
def test_commands_joins_continued_lines_and_drops_blank_and_comment_lines(
    written: list[tuple[list[list[str]], str]],
) -> None:
    lines = []
    expected = []
    for pieces, after in written:
        # One command written over several lines, each but the last ending in a backslash.
        parts = [" ".join(words) for words in pieces]
        lines.append(" \\\n  ".join(parts) + after)
        expected.append(" ".join(parts))
    block = "\n".join(lines)
    assert [" ".join(c.split()) for c in commands(block)] == expected


@pytest.mark.anvil
@pytest.mark.slow
def test_the_readme_walkthroughs_run_as_written_on_anvil_and_a_keystore_only_testnet(
    clone: Path, testnet: AnvilProcess, file_host: str, ame_bin: Path
) -> None:
    blocks = walkthroughs()

    # Step 2: the managed Anvil, dev accounts, as written.
    anvil = Shell(clone, newcomer_env(ame_bin=ame_bin))
    anvil.run_block(blocks.local)
    assert (clone / "values.json").is_file() and (clone / "report.html").is_file()

    # Step 3: the settings given this node's values; keystore, deploy and settle; the
    # window waited out; pay.
    given, pay = blocks.testnet_settings, blocks.pay
    password = "correct horse battery staple"
    shell = Shell(
        clone,
        newcomer_env(
            {
                **given,
                "AME_RPC_URL": testnet.url,
                "AME_KEYSTORE_PASSWORD": password,
                "AME_PUBLISH_BASE_URI": file_host,
            },
            ame_bin=ame_bin,
        ),
    )
    (made,) = shell.run_block(blocks.make_keystore)
    address = made.strip().splitlines()[-1]
    assert _ADDRESS.fullmatch(address), made
    keystore = (clone / given["AME_KEYSTORE"]).read_text()
    assert '"crypto"' in keystore and password not in keystore
    faucet_hook_test_only(testnet, address)

    outputs = dict(
        zip(blocks.deploy_and_settle, shell.run_block(blocks.deploy_and_settle), strict=True)
    )
    deployed = next(out for command, out in outputs.items() if "deploy" in command)
    assert re.fullmatch(r"AME_SETTLEMENT=0x[0-9a-fA-F]{40}", deployed.strip().splitlines()[-1])
    roles = next(out for command, out in outputs.items() if "roles show" in command)
    assert roles.count(address) == 4, roles  # every role, admin included, to the keystore's
    settled = next(out for command, out in outputs.items() if "ame settle" in command)
    assert re.search(rf"served\s+all \d+ files at {re.escape(file_host)}", settled), settled
    # The window's end, as a UTC date, as the README says.
    end = re.search(r"challenge ends\s+(\d+) \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", settled)
    assert end is not None, settled
    # A contributor, from an empty directory, while epoch 1 is in its challenge window.
    settlement = deployed.strip().splitlines()[-1].removeprefix("AME_SETTLEMENT=")
    empty = clone.parent / "contributor"
    empty.mkdir()
    contributor = Shell(
        empty,
        newcomer_env(
            {
                **blocks.read_only_settings,
                "AME_RPC_URL": testnet.url,
                "AME_SETTLEMENT": settlement,
                "ADDRESS": ALICE,
            },
            ame_bin=ame_bin,
        ),
    )
    owed, *_ = contributor.run_block(blocks.read_only)
    assert [table_form(line) for line in owed.splitlines()] == [
        table_form(line) for line in blocks.owed_sample
    ]
    assert owed.startswith(f"owed to {ALICE} (alice) by {settlement}:"), owed
    assert sorted(p.name for p in empty.iterdir()) == ["report.html"]  # and no state

    # As the README says: finalising before the window's end fails, saying how long is left.
    early = shell.run(pay[0], expect=1)
    assert "SettlementChallengeWindowOpen" in early and "by the chain's clock" in early, early
    wait_out_hook_test_only(testnet, int(end.group(1)))

    finalized, claimed, withdrawn = shell.run_block(pay)
    assert "Finalized" in finalized
    assert "in 1 transaction(s)" in claimed
    assert re.search(r"withdrawn\s+100000000000000000\n", withdrawn), withdrawn

    # The operator workflow: a new shell in the same directory, on a new managed Anvil.
    operator = Shell(clone, newcomer_env(ame_bin=ame_bin))
    operator.run_block(blocks.operator_workflow)
    for command, seconds in anvil.times + shell.times + contributor.times + operator.times:
        print(f"{seconds:6.1f} s  {command}")  # with -s: where the time goes
