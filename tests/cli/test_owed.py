"""`ame owed` and `ame proof`: what an address is owed, from an empty directory, with no key."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from ame_chain.chains import InProcessChain
from ame_chain.contracts import load_artifact
from ame_chain.leaves import LEAF_ENCODING
from ame_chain.merkle import StandardMerkleTree
from ame_chain.tx import Transactor
from tests.chain.conftest import deploy_test_contract
from tests.cli.conftest import Ame
from tests.cli.test_cli_workflow import deploy, settle
from tests.workflow._helpers import CONFIG, ETHER, OPERATOR, WATCHDOG, write_inputs

CONTRIBUTOR = 5  # contributor 1 of write_inputs: asset a1, worth 2 of 10
NOBODY = to_checksum_address("0x" + "00" * 19 + "ab")


def reader(chain: InProcessChain, tmp_path: Path) -> Ame:
    """A contributor in an empty directory: the chain and the contract address, nothing else."""
    return Ame(chain, tmp_path / "contributor" / "state")


def owed_json(ame: Ame, settlement: str, account: str, *args: object) -> dict[str, Any]:
    result = ame("owed", account, "--settlement", settlement, "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def proofs_path(settled: dict[str, object]) -> Path:
    return Path(str(settled["manifestURI"]).removeprefix("file://")).with_name("proofs.json")


def test_owed_follows_an_epoch_from_its_window_to_the_claim_without_a_key_or_a_state(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    settlement = deploy(ame, chain)
    settled = settle(ame, chain, tmp_path)
    me = chain.dev_accounts[CONTRIBUTOR].address
    contributor = reader(chain, tmp_path)

    inside = contributor("owed", me, "--settlement", settlement)
    assert inside.exit_code == 0, inside.output
    assert "owed 0.2 ETH in epoch 1, claimable after " in inside.stdout
    assert "(in 1h" in inside.stdout and "once finalised" in inside.stdout
    assert "nothing to claim" not in inside.stdout
    assert not contributor.state_dir.exists() and not contributor.state_dir.parent.exists()

    (entry,) = owed_json(contributor, settlement, me)["epochs"]
    assert (entry["state"], entry["amount"], entry["claimed"]) == (
        "in challenge window",
        str(2 * ETHER // 10),
        False,
    )
    assert entry["units"] == {"token": entry["header"]["token"], "symbol": "ETH", "decimals": 18}
    assert entry["proofSource"] == "proofs file" and entry["notes"] == []
    assert 0 < entry["secondsLeft"] <= CONFIG.challenge_window
    assert entry["header"]["root"] == settled["root"]
    leaf = entry["leaf"]
    values = [
        chain.chain_id,
        settlement,
        1,
        leaf["index"],
        me,
        int(leaf["amount"]),
        int(leaf["amountBefore"]),
    ]
    assert StandardMerkleTree.verify_proof(
        str(settled["root"]), LEAF_ENCODING, values, entry["proof"]
    )

    assert ame("chain", "advance", CONFIG.challenge_window).exit_code == 0
    after = contributor("owed", me, "--settlement", settlement)
    assert "claimable once finalised: its challenge window ended" in after.stdout
    assert "`ame finalize 1`" in after.stdout
    assert ame("finalize", 1, "--dev-account", WATCHDOG).exit_code == 0
    now = owed_json(contributor, settlement, me)["epochs"][0]
    assert now["state"] == "claimable" and "claimable now; claim before " in now["message"]

    assert ame("claim", "--dev-account", CONTRIBUTOR).exit_code == 0
    done = contributor("owed", me, "--settlement", settlement)
    assert "owed 0.2 ETH in epoch 1: claimed" in done.stdout
    assert not contributor.state_dir.parent.exists()


def test_owed_lists_each_epoch_of_an_address_and_proof_prints_one(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    settlement = deploy(ame, chain)
    settle(ame, chain, tmp_path, epoch=1)
    settle(ame, chain, tmp_path, epoch=2)
    me = chain.dev_accounts[CONTRIBUTOR].address
    contributor = reader(chain, tmp_path)
    both = owed_json(contributor, settlement, me)["epochs"]
    assert [(e["epoch"], e["amount"]) for e in both] == [(1, str(ETHER // 5)), (2, str(ETHER // 5))]
    table = contributor("owed", me, "--settlement", settlement).stdout
    assert "owed 0.2 ETH in epoch 1" in table and "owed 0.2 ETH in epoch 2" in table
    only = owed_json(contributor, settlement, me, "--epoch", 2)["epochs"]
    assert [e["epoch"] for e in only] == [2]

    proof = contributor("proof", me, "--epoch", 2, "--settlement", settlement, "--json")
    assert proof.exit_code == 0, proof.output
    data = json.loads(proof.stdout)
    assert data["leaf"] == only[0]["leaf"] and data["proof"] == only[0]["proof"]
    assert (data["settlement"], data["chainId"]) == (settlement, chain.chain_id)
    assert data["header"]["epoch"] == 2
    people = contributor("proof", me, "--epoch", 2, "--settlement", settlement)
    assert people.exit_code == 0 and "proof[0]" in people.stdout
    assert not contributor.state_dir.parent.exists()


def test_owed_says_nothing_is_owed_to_an_address_without_a_leaf(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    settlement = deploy(ame, chain)
    settle(ame, chain, tmp_path)
    contributor = reader(chain, tmp_path)
    nothing = contributor("owed", NOBODY, "--settlement", settlement)
    assert nothing.exit_code == 0
    assert nothing.stdout.startswith(f"nothing owed to {NOBODY} in any proposed epoch")
    named = owed_json(contributor, settlement, NOBODY, "--epoch", 1)["epochs"]
    assert [(e["state"], e["amount"], e["leaf"]) for e in named] == [("not owed", "0", None)]
    proof = contributor("proof", NOBODY, "--epoch", 1, "--settlement", settlement)
    assert proof.exit_code == 1 and "no proof: nothing owed in epoch 1" in proof.stderr
    bad = contributor("owed", "0x123", "--settlement", settlement)
    # An invalid address is bad usage (exit 2), as docs/cli.md says.
    assert bad.exit_code == 2 and "ADDRESS" in bad.stderr and "0x123" in bad.stderr
    never = contributor("owed", NOBODY, "--epoch", 9, "--settlement", settlement)
    assert never.exit_code == 1 and "epoch 9 was never proposed" in never.stderr


def test_a_tampered_proofs_file_is_an_audit_mismatch_and_owed_refuses_its_proof(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    settlement = deploy(ame, chain)
    settled = settle(ame, chain, tmp_path)
    me = chain.dev_accounts[CONTRIBUTOR].address
    honest = owed_json(reader(chain, tmp_path), settlement, me)["epochs"][0]
    path = proofs_path(settled)
    document = json.loads(path.read_bytes())
    document["claims"][me]["proof"][0] = "0x" + "11" * 32
    path.write_bytes(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())

    audited = ame("audit", 1, "--json")
    assert audited.exit_code == 3, audited.output
    (report,) = json.loads(audited.stdout)["epochs"]
    found = [(m["field"], m["leaf"]) for m in report["mismatches"]]
    assert found == [("proofs.sha256", None), ("proofs.claims.proof[0]", honest["leaf"]["index"])]
    assert report["complete"]

    contributor = reader(chain, tmp_path)
    result = contributor("owed", me, "--settlement", settlement)
    assert result.exit_code == 0
    assert "owed 0.2 ETH in epoch 1" in result.stdout
    assert (
        "proofs.json was refused" in result.stderr and "rebuilt from the manifest" in result.stderr
    )
    rebuilt = owed_json(contributor, settlement, me)["epochs"][0]
    assert rebuilt["proofSource"] == "manifest" and rebuilt["proof"] == honest["proof"]


def test_read_only_commands_give_a_reader_advice_and_create_no_state(
    chain: InProcessChain, tmp_path: Path
) -> None:
    nowhere = Ame(None, tmp_path / "a" / "state")
    reads: list[tuple[object, ...]] = [("owed", NOBODY), ("status",), ("audit",)]
    for command in reads:
        result = nowhere(*command)
        assert result.exit_code == 1, result.output
        assert "no chain to read: pass --rpc URL" in result.stderr
        assert "ame chain up" not in result.stderr and "ame deploy" not in result.stderr
    no_contract = Ame(chain, tmp_path / "b" / "state")
    for command in [*reads, ("proof", NOBODY, "--epoch", 1)]:
        result = no_contract(*command)
        assert result.exit_code == 1, result.output
        assert "no settlement contract to read" in result.stderr and "--settlement" in result.stderr
        assert "ame deploy" not in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_owed_shows_the_tokens_units_and_the_names_the_registry_gives_the_address(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    settlement = deploy(ame, chain)
    operator = chain.dev_accounts[OPERATOR]
    token = deploy_test_contract(chain, chain.dev_accounts[0], "MockERC20", "Pool", "POOL")
    mock = chain.w3.eth.contract(address=token, abi=load_artifact("MockERC20").abi)  # type: ignore[call-overload]
    Transactor(chain.w3, operator).send(mock.functions.mint(operator.address, 5 * ETHER))
    values, registry, _ = write_inputs(tmp_path / "in", chain, 1)
    document = json.loads(registry.read_text())
    document["assets"][1]["owners"][0]["name"] = "bob"  # a1, owned by contributor 1
    registry.write_text(json.dumps(document))
    settled = ame(
        "settle", "--dev-account", OPERATOR, "--values", values, "--registry", registry,
        "--token", token,
    )  # fmt: skip
    assert settled.exit_code == 0, settled.output
    me = chain.dev_accounts[CONTRIBUTOR].address
    contributor = reader(chain, tmp_path)
    shown = contributor("owed", me, "--settlement", settlement)
    assert shown.stdout.startswith(f"owed to {me} (bob) by {settlement}:")
    assert "owed 0.2 POOL in epoch 1, claimable after" in shown.stdout
    (entry,) = owed_json(contributor, settlement, me)["epochs"]
    assert entry["units"] == {"token": token, "symbol": "POOL", "decimals": 18}
    assert (entry["names"], entry["amountFormatted"]) == (["bob"], "0.2 POOL")


def readme_block(heading: str) -> list[str]:
    """The lines of the first ``sh`` block under ``heading`` in the README."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines()]


def test_the_readme_read_only_commands_run_as_written_from_an_empty_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = readme_block("## For contributors and auditors: read-only, no key")
    export, address, written = lines[0], lines[1], lines[2:]
    name, value = address.split("=", 1)
    commands = [command.replace(f"${name}", value) for command in written]  # as the shell does
    pairs = [pair.split("=", 1) for pair in shlex.split(export)[1:]]
    env: dict[str, str | None] = {name: value for name, value in pairs}
    assert set(env) == {"AME_RPC_URL", "AME_SETTLEMENT"}
    fresh = InProcessChain()  # the README's addresses: the first contract, dev account 5
    try:
        operator = Ame(fresh, tmp_path / "operator")
        assert deploy(operator, fresh) == env["AME_SETTLEMENT"]
        settle(operator, fresh, tmp_path)
        empty = tmp_path / "empty"
        empty.mkdir()
        monkeypatch.chdir(empty)
        reader = Ame(fresh, empty / ".ame")
        outputs = []
        for command in commands:
            argv = shlex.split(command)
            assert argv[0] == "ame", command
            result = reader(*argv[1:], env=env)
            assert result.exit_code == 0, (command, result.output)
            outputs.append(result.stdout)
    finally:
        fresh.close()
    shown = outputs[0].splitlines()
    text = (Path(__file__).parents[2] / "README.md").read_text()
    sample = text.split("ame report -o report.html\n```\n\n```\n", 1)[1].split("\n```")[0]
    # The README's sample, but for the dates and time left of this run.
    assert shown[0] == sample.splitlines()[0]
    assert shown[2].split()[:6] == sample.splitlines()[2].split()[:6]
    assert shown[3].startswith("owed 0.2 ETH in epoch 1, claimable after ")
    assert json.loads(outputs[1])["leaf"]["index"] == 2
    assert sorted(p.name for p in empty.iterdir()) == ["report.html"]  # and no state
    # Every line of the sample is a line the command prints, dates and times left aside.
    assert [undated(line) for line in shown] == [undated(line) for line in sample.splitlines()]


def undated(line: str) -> str:
    """``line`` with its UTC dates and times left as placeholders and its spacing collapsed
    (a table's columns widen with the time left)."""
    line = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "<date>", line)
    line = re.sub(r"\bin(?: \d+[dhms])+", "in <time>", line)
    return " ".join(line.split())


def test_claim_with_nothing_claimable_yet_says_what_is_owed_and_when(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    settle(ame, chain, tmp_path)
    early = ame("claim", "--dev-account", CONTRIBUTOR)
    assert early.exit_code == 0, early.output
    lines = early.stdout.splitlines()
    assert lines[0] == "nothing to claim now"
    assert lines[1].startswith("owed 0.2 ETH in epoch 1, claimable after ")
    stranger = ame("claim", "--account", NOBODY, "--dev-account", CONTRIBUTOR)
    assert stranger.stdout.strip() == "nothing to claim"
