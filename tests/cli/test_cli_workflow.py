"""`ame` end to end on the in-process chain: settle, claim, audit, challenge, dispute, sweep."""

from __future__ import annotations

import json
from pathlib import Path

from ame.workflow import MappingInputs, StateStore, Workspace, keccak_hex
from ame_chain.chains import InProcessChain
from offchain.mapping import load_registry, load_values, map_epoch
from tests.cli.conftest import Ame
from tests.workflow._helpers import (
    ARBITER,
    CONFIG,
    ETHER,
    OPERATOR,
    WATCHDOG,
    propose_published,
    shift_one_unit,
    write_inputs,
)

ADMIN_FLAGS = ("--dev-account", 0)


def deploy(ame: Ame, chain: InProcessChain) -> str:
    accounts = chain.dev_accounts
    result = ame(
        "deploy",
        *ADMIN_FLAGS,
        "--operator",
        accounts[OPERATOR].address,
        "--arbiter",
        accounts[ARBITER].address,
        "--challenge-window",
        CONFIG.challenge_window,
        "--dispute-window",
        CONFIG.dispute_window,
        "--claim-period",
        CONFIG.claim_period,
        "--json",
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["roles"]["OPERATOR_ROLE"] == [accounts[OPERATOR].address]
    assert Path(record["recordPath"]).is_file()
    return str(record["address"])


def settle(ame: Ame, chain: InProcessChain, tmp_path: Path, epoch: int = 1) -> dict[str, object]:
    values, registry, _ = write_inputs(tmp_path / "in", chain, epoch)
    result = ame(
        "settle", "--dev-account", OPERATOR, "--values", values, "--registry", registry, "--json"
    )
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_operator_settles_and_contributors_claim(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    settled = settle(ame, chain, tmp_path)
    assert settled["epoch"] == 1 and settled["pool"] == str(ETHER) and settled["leafCount"] == 4
    assert settled["header"]["manifestHash"] == settled["manifestHash"]  # type: ignore[index]

    status = ame("status")
    assert status.exit_code == 0
    assert "Proposed  1000000000000000000       4" in status.stdout
    assert str(settled["proposeTx"]) in status.stdout

    audited = ame("audit")
    assert audited.exit_code == 0, audited.output
    assert audited.stdout.startswith("epoch 1 (Proposed): OK; checked header, manifest, inputs")

    challenged = ame("challenge", 1, "--dev-account", WATCHDOG)
    assert challenged.exit_code == 0
    assert "the audit found nothing wrong; nothing to challenge" in challenged.stdout

    assert ame("chain", "advance", CONFIG.challenge_window).exit_code == 0
    finalized = ame("finalize", 1, "--dev-account", WATCHDOG)
    assert finalized.exit_code == 0 and "Finalized" in finalized.stdout

    me = chain.dev_accounts[5]  # contributor 1, worth 2 of 10
    own = ame("claim", "--dev-account", 5)
    assert own.exit_code == 0, own.output
    assert me.address in own.stdout and "200000000000000000" in own.stdout
    assert "paid 200000000000000000 in 1 transaction(s)" in own.stdout

    rest = ame("claim", "--all", "--dev-account", WATCHDOG, "--json")
    claims = json.loads(rest.stdout)
    assert len(claims["claims"]) == 3 and len(claims["txs"]) == 1  # one claimMany
    assert claims["total"] == str(8 * ETHER // 10)

    again = ame("claim", "--all", "--dev-account", WATCHDOG)
    assert again.exit_code == 0 and again.stdout.strip() == "nothing to claim"
    (summary,) = json.loads(ame("status", "--json").stdout)["epochs"]
    assert (summary["claimed"], summary["remaining"]) == (str(ETHER), "0")
    assert ame("audit", 1).exit_code == 0


def test_settle_publishes_the_attribution_record_and_audit_recomputes_it(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    from tests.workflow.test_audit_attribution import write_attributed

    deploy(ame, chain)
    values, registry, record = write_attributed(tmp_path / "in", chain)
    flags = ("--dev-account", OPERATOR, "--values", values, "--registry", registry)
    settled = ame("settle", *flags, "--attribution", record, "--json")
    assert settled.exit_code == 0, settled.output
    audited = ame("audit", 1)
    assert audited.exit_code == 0, audited.output
    assert "inputs, recompute, attribution, tree" in audited.stdout
    published = Path(str(json.loads(settled.stdout)["manifestURI"]).removeprefix("file://"))
    (published.parent / "attribution.jsonl").write_bytes(record.read_bytes()[:-1])
    tampered = ame("audit", 1)
    assert tampered.exit_code == 3 and "attribution.sha256" in tampered.stdout
    usage = ame("settle", "--dev-account", OPERATOR, "--scenario", record, "--attribution", record)
    assert usage.exit_code == 2 and "--attribution goes with --values" in usage.output


def test_unclaimed_funds_are_swept_and_the_bond_withdrawn(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    settle(ame, chain, tmp_path)
    ame("chain", "advance", CONFIG.challenge_window)
    assert ame("finalize", 1, "--dev-account", OPERATOR).exit_code == 0
    assert ame("claim", "--dev-account", 5).exit_code == 0
    early = ame("sweep", 1, "--dev-account", 0)
    assert early.exit_code == 1
    assert early.stderr.startswith("SettlementNotExpired: SettlementNotExpired(epoch=1, expiry=")
    ame("chain", "advance", CONFIG.dispute_window + CONFIG.claim_period)
    swept = ame("sweep", 1, "--dev-account", 0, "--json")
    assert swept.exit_code == 0, swept.output
    assert json.loads(swept.stdout)["swept"] == str(8 * ETHER // 10)
    assert json.loads(swept.stdout)["status"] == "Swept"
    assert ame("audit", 1).exit_code == 0  # claimed + swept == pool
    withdrawn = ame("withdraw", "--dev-account", OPERATOR, "--json")
    assert json.loads(withdrawn.stdout)["withdrawn"] == str(CONFIG.operator_bond)


def test_audit_of_a_tampered_manifest_names_each_mismatch_and_exits_3(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    settled = settle(ame, chain, tmp_path)
    path = Path(str(settled["manifestURI"]).removeprefix("file://"))
    document = json.loads(path.read_bytes())
    document["leaves"][0]["amount"] = "5"
    path.write_bytes(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())
    audited = ame("audit", 1)
    assert audited.exit_code == 3
    lines = audited.stdout.splitlines()
    assert lines[0].startswith("epoch 1 (Proposed): ") and "mismatch(es)" in lines[0]
    assert lines[1].split() == ["epoch", "leaf", "field", "expected", "found"]
    hashes = next(line for line in lines if " manifestHash " in line)
    assert str(settled["manifestHash"]) in hashes and keccak_hex(path.read_bytes()) in hashes
    assert any(line.split()[:3] == ["1", "0", "amount"] for line in lines)
    report = json.loads(ame("audit", 1, "--json").stdout)
    assert report["ok"] is False
    assert {"epoch": 1, "leaf": 0, "field": "amount", "found": "5"}.items() <= next(
        m for m in report["epochs"][0]["mismatches"] if m["field"] == "amount"
    ).items()


def _dishonest(ame: Ame, chain: InProcessChain, tmp_path: Path, epoch: int) -> None:
    """The operator proposes a manifest whose amounts do not follow from its inputs."""
    from ame.workflow import DurableSender
    from ame_chain.client import SettlementClient

    with StateStore(ame.state_dir) as operator_state:
        record = operator_state.deployment(chain.chain_id)
    assert record is not None
    state = StateStore(tmp_path / "dishonest")
    client = SettlementClient(chain.w3, record.address)
    ws = Workspace(
        chain,
        client,
        state,
        tmp_path / "published",
        sender=DurableSender(chain.w3, chain.dev_accounts[OPERATOR], state),
    )
    inputs = MappingInputs.load(*write_inputs(tmp_path / "in", chain, epoch)[:2])
    propose_published(ws, epoch, inputs, shift_one_unit(inputs.manifest()))
    state.close()


def test_challenge_opens_a_dispute_the_arbiter_upholds_then_the_operator_refunds(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    _dishonest(ame, chain, tmp_path, 1)
    challenged = ame("challenge", 1, "--dev-account", WATCHDOG)
    assert challenged.exit_code == 0, challenged.output
    assert challenged.stdout.splitlines()[0].split() == ["dispute", "opened", "0"]
    assert "evidence" in challenged.stdout
    not_arbiter = ame("resolve", 1, 0, "--uphold", "--dev-account", WATCHDOG)
    assert not_arbiter.exit_code == 1
    assert not_arbiter.stderr.startswith(
        "AccessControlUnauthorizedAccount: AccessControlUnauthorizedAccount(account="
    )
    upheld = ame("resolve", 1, 0, "--uphold", "--dev-account", ARBITER, "--json")
    assert json.loads(upheld.stdout) | {"tx": None} == {
        "epoch": 1,
        "disputeId": 0,
        "dispute": "Upheld",
        "status": "Voided",
        "tx": None,
    }
    refunded = ame("refund", 1, "--dev-account", OPERATOR)
    assert refunded.exit_code == 0 and "Refunded" in refunded.stdout


def test_dispute_with_own_evidence_and_a_rejection(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    settle(ame, chain, tmp_path)
    evidence = tmp_path / "evidence.json"
    evidence.write_text('{"claim": "leaf 2 is too small"}\n')
    opened = ame("dispute", 1, evidence, "--dev-account", WATCHDOG, "--json")
    assert opened.exit_code == 0, opened.output
    data = json.loads(opened.stdout)
    assert data["disputeId"] == 0 and data["evidenceURI"].startswith("file://")
    early = ame("finalize", 1, "--dev-account", OPERATOR)
    ame("chain", "advance", CONFIG.challenge_window)
    blocked = ame("finalize", 1, "--dev-account", OPERATOR)
    assert early.stderr.startswith(
        "SettlementChallengeWindowOpen: SettlementChallengeWindowOpen(epoch=1, challengeEnd="
    )
    # The contract's error, then what to do about it.
    assert blocked.stderr.startswith(
        "SettlementOpenDisputes: SettlementOpenDisputes(epoch=1, openDisputes=1): "
    )
    assert "`ame resolve 1 ID --uphold|--reject`" in blocked.stderr
    rejected = ame("resolve", 1, 0, "--reject", "--dev-account", ARBITER)
    assert "Rejected" in rejected.stdout
    assert ame("finalize", 1, "--dev-account", OPERATOR).exit_code == 0


def test_map_writes_the_manifest_map_epoch_gives(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    values, registry, _ = write_inputs(tmp_path, chain, 3)
    out = tmp_path / "manifest.json"
    result = ame("map", values, registry, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    expected = map_epoch(load_values(values), load_registry(registry))
    assert out.read_bytes() == expected.to_json_bytes()
    summary = json.loads(result.stdout)
    assert summary["sha256"] == expected.sha256()
    assert summary["keccak256"] == keccak_hex(expected.to_json_bytes())
    assert (summary["epoch"], summary["pool"], summary["leaves"]) == (3, str(ETHER), 4)


def test_demo_still_tells_the_settlement_story(ame: Ame) -> None:
    result = ame("demo", "--settlement-only", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fraud"] == "BROKEN_CHAIN"
    assert data["payouts"] and all(p["claimed"] for p in data["payouts"])
