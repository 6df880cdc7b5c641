"""`ame` as separate processes on a managed Anvil: chain up/down, and settle killed at every step.

Each settle run is a subprocess; a run through ``tests/cli/_crashing.py`` exits at once
(``os._exit``) at one durable point of one step, and the rerun must complete the same epoch
with exactly one proposal and one funding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ame.workflow import DevChain, StateStore
from ame_chain.contracts import load_artifact
from ame_chain.tx import Transactor
from tests.cli._crashing import CRASH_EXIT_CODE
from tests.cli.conftest import CLEAN_ENV
from tests.workflow._helpers import ARBITER, CONFIG, CRASH_POINTS, ETHER, OPERATOR, write_inputs

pytestmark = pytest.mark.anvil


def run(
    state: Path, *args: object, env: dict[str, str] | None = None, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``ame ARGS --state-dir STATE`` in a new process; with ``crash_at`` (``STEP:POINT``) it
    dies there (``tests/cli/_crashing.py``)."""
    clean = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    entry = ["ame.cli"] if crash_at is None else ["tests.cli._crashing", crash_at]
    return subprocess.run(
        [sys.executable, "-m", *entry, *map(str, args), "--state-dir", str(state)],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )


def node(state: Path) -> DevChain:
    return DevChain(json.loads((state / "chain.json").read_text())["url"])


@pytest.fixture(scope="module")
def managed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A managed Anvil with a deployed contract; stopped at the end of the module."""
    state = tmp_path_factory.mktemp("managed") / "state"
    up = run(state, "chain", "up")
    assert up.returncode == 0, up.stderr
    try:
        chain = node(state)
        deployed = run(
            state,
            "deploy",
            "--dev-account",
            0,
            "--operator",
            chain.dev_accounts[OPERATOR].address,
            "--arbiter",
            chain.dev_accounts[ARBITER].address,
        )
        assert deployed.returncode == 0, deployed.stderr
        yield state
    finally:
        run(state, "chain", "down")


def operator_env(state: Path) -> dict[str, str]:
    # CI signs with a key from the environment.
    return {
        "AME_PRIVATE_KEY": "0x" + node(state).dev_accounts[OPERATOR].key.hex().removeprefix("0x")
    }


def settle_args(state: Path, tmp_path: Path, epoch: int) -> list[object]:
    values, registry, _ = write_inputs(tmp_path / "in", node(state), epoch)
    return ["settle", "--values", values, "--registry", registry]


def proposals(state: Path, epoch: int) -> int:
    with StateStore(state) as store:
        chain = node(state)
        record = store.deployment(chain.chain_id)
    assert record is not None
    contract = chain.w3.eth.contract(address=record.address, abi=load_artifact("AmeSettlement").abi)
    return len(
        contract.events.EpochProposed().get_logs(argument_filters={"epoch": epoch}, from_block=0)
    )


def held(state: Path) -> int:
    with StateStore(state) as store:
        chain = node(state)
        record = store.deployment(chain.chain_id)
    assert record is not None
    return int(chain.w3.eth.get_balance(record.address))


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_settle_killed_at_each_step_completes_on_rerun(
    managed: Path, tmp_path: Path, point: str
) -> None:
    epoch = 10 + CRASH_POINTS.index(point)
    args = settle_args(managed, tmp_path, epoch)
    before = held(managed)
    killed = run(managed, *args, env=operator_env(managed), crash_at=f"propose:{point}")
    assert killed.returncode == CRASH_EXIT_CODE, killed.stderr
    assert proposals(managed, epoch) == (0 if point == "before-send" else 1)
    rerun = run(managed, *args, "--json", env=operator_env(managed))
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["epoch"] == epoch
    assert result["resumed"] == [f"propose {result['proposeTx']} mined"]
    assert proposals(managed, epoch) == 1
    assert held(managed) - before == ETHER + CONFIG.operator_bond
    again = run(managed, *args, "--json", env=operator_env(managed))
    assert json.loads(again.stdout)["proposeTx"] == result["proposeTx"]
    assert proposals(managed, epoch) == 1


def test_commands_find_the_managed_chain_and_status_shows_the_epochs(
    managed: Path, tmp_path: Path
) -> None:
    again = run(managed, "chain", "up")
    assert again.returncode == 0 and again.stdout.startswith(
        "chain already running: http://127.0.0.1:"
    )
    settled = run(managed, *settle_args(managed, tmp_path, 20), env=operator_env(managed))
    assert settled.returncode == 0, settled.stderr
    status = run(managed, "status", 20, "--json")
    (epoch,) = json.loads(status.stdout)["epochs"]
    assert (epoch["epoch"], epoch["status"], epoch["pool"]) == (20, "Proposed", str(ETHER))
    audited = run(managed, "audit", 20)
    assert audited.returncode == 0, audited.stdout + audited.stderr


def test_chain_down_stops_the_node_and_later_commands_say_so(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = run(state, "chain", "up", "--json")
    info = json.loads(up.stdout)
    assert info["started"] is True and info["url"].startswith("http://127.0.0.1:")
    advanced = run(state, "chain", "advance", 60)
    assert advanced.returncode == 0 and advanced.stdout.startswith("chain time is now ")
    down = run(state, "chain", "down")
    assert down.stdout == f"stopped {info['url']} (pid {info['pid']})\n"
    assert not (state / "chain.json").exists()
    assert (
        not Path(f"/proc/{info['pid']}").exists()
        or b"anvil" not in Path(f"/proc/{info['pid']}/cmdline").read_bytes()
    )
    assert run(state, "chain", "down").stdout == f"no managed chain in {state}\n"
    gone = run(state, "status")
    assert gone.returncode == 1 and gone.stderr.startswith("ChainError: no chain: start one")
    # The record's own (file) keys, from the camelCase of `--json`.
    record = {"chain_id": "chainId", "state_file": "stateFile"}
    (state / "chain.json").write_text(
        json.dumps(
            {
                k: info[record.get(k, k)]
                for k in ("url", "port", "pid", "chain_id", "log", "state_file")
            }
        )
    )
    stale = run(state, "status")
    assert stale.returncode == 1
    assert stale.stderr.startswith(
        f"ManagedChainError: the chain recorded in {state / 'chain.json'}"
    )
    (state / "chain.json").unlink()


@pytest.mark.slow
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_settle_in_an_erc20_killed_at_the_approval_completes_on_rerun(
    managed: Path, tmp_path: Path, point: str
) -> None:
    chain = node(managed)
    operator = chain.dev_accounts[OPERATOR]
    artifact = load_artifact("MockERC20")
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    made = Transactor(chain.w3, chain.dev_accounts[0]).send(factory.constructor("Pool", "POOL"))
    token = str(made.receipt["contractAddress"])
    mock = chain.w3.eth.contract(address=token, abi=artifact.abi)  # type: ignore[call-overload]
    Transactor(chain.w3, operator).send(mock.functions.mint(operator.address, 3 * ETHER))
    epoch = 30 + CRASH_POINTS.index(point)
    args = [*settle_args(managed, tmp_path, epoch), "--token", token]
    killed = run(managed, *args, env=operator_env(managed), crash_at=f"approve:{point}")
    assert killed.returncode == CRASH_EXIT_CODE, killed.stderr
    rerun = run(managed, *args, "--json", env=operator_env(managed))
    assert rerun.returncode == 0, rerun.stderr
    assert proposals(managed, epoch) == 1
    with StateStore(managed) as store:
        record = store.deployment(chain.chain_id)
    assert record is not None
    assert int(mock.functions.balanceOf(record.address).call()) == ETHER
    assert int(mock.functions.balanceOf(operator.address).call()) == 2 * ETHER


@pytest.mark.slow
def test_settle_killed_after_sending_to_a_node_that_has_not_mined_yet(
    managed: Path, tmp_path: Path
) -> None:
    chain = node(managed)
    epoch = 40
    args = settle_args(managed, tmp_path, epoch)
    chain.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        killed = run(managed, *args, env=operator_env(managed), crash_at="propose:after-send")
        assert killed.returncode == CRASH_EXIT_CODE, killed.stderr
        assert proposals(managed, epoch) == 0  # in the node's pool, not mined
        chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        chain.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    rerun = run(managed, *args, env=operator_env(managed))
    assert rerun.returncode == 0, rerun.stderr
    assert proposals(managed, epoch) == 1


@pytest.mark.slow
def test_a_persisted_chain_keeps_its_contracts_across_restarts(tmp_path: Path) -> None:
    state, saved = tmp_path / "state", tmp_path / "anvil-state.json"
    assert run(state, "chain", "up", "--persist", saved).returncode == 0
    try:
        deployed = json.loads(run(state, "deploy", "--dev-account", 0, "--json").stdout)
    finally:
        run(state, "chain", "down")
    assert saved.is_file()
    assert run(state, "chain", "up", "--persist", saved).returncode == 0
    try:
        status = run(state, "status", "--settlement", deployed["address"])
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("no epochs on ")
    finally:
        run(state, "chain", "down")


@pytest.mark.slow
@pytest.mark.torch
def test_demo_runs_the_whole_market_on_a_fresh_anvil(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    workdir = tmp_path / "demo"
    argv = ["demo", "--chain", "anvil", "--json", "--workdir", str(workdir)]
    done = subprocess.run(
        [sys.executable, "-m", "ame.cli", *argv],
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["chain"] == "anvil"
    assert data["fraud"]["kind"] == "BROKEN_CHAIN" and data["audit"] == "pass"
    assert all(line["claimed"] for line in data["contributors"])
    assert sum(int(line["amount"]) for line in data["contributors"]) == int(data["pool"])
    assert (workdir / "report.html").is_file()


def test_a_contributor_in_an_empty_directory_reads_what_it_is_owed_from_the_node(
    managed: Path, tmp_path: Path
) -> None:
    epoch = 60
    settled = run(
        managed, *settle_args(managed, tmp_path, epoch), "--json", env=operator_env(managed)
    )
    assert settled.returncode == 0, settled.stderr
    chain = node(managed)
    assert json.loads(settled.stdout)["epoch"] == epoch
    with StateStore(managed) as store:
        record = store.deployment(chain.chain_id)
    assert record is not None
    empty = tmp_path / "contributor"
    empty.mkdir()
    me = chain.dev_accounts[5].address  # contributor 1 of write_inputs: 2 of 10
    clean = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    # The operator publishes into a local folder: a reader on this machine may read it.
    env = {**clean, "AME_FETCH_ALLOW_LOCAL": "true"}
    where = ["--rpc", chain.url, "--settlement", record.address]
    for args in (("owed", me, "--epoch", epoch, "--json"), ("proof", me, "--epoch", epoch)):
        done = subprocess.run(
            [sys.executable, "-m", "ame.cli", *map(str, args), *where],
            cwd=empty,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        assert "owed 0.2 ETH in epoch 60, claimable after" in done.stdout
    assert list(empty.iterdir()) == []  # no state directory, nothing written
