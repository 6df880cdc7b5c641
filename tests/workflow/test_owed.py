"""`owed_epochs`: whatever the published files hold, the proof it shows leads to the on-chain root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import ame.workflow._proofs
from ame.workflow import (
    EpochProofs,
    LeafProof,
    MappingInputs,
    OwedEpoch,
    TokenUnits,
    Workspace,
    audit_epoch,
    format_duration,
    owed_epochs,
    settle_epoch,
)
from ame_chain.chains import InProcessChain
from ame_chain.leaves import LEAF_ENCODING, ZERO_ADDRESS
from ame_chain.merkle import StandardMerkleTree
from tests.workflow._helpers import ETHER, write_inputs

CONTRIBUTOR = 5


def settled(operator_ws: Workspace, chain: InProcessChain, tmp_path: Path) -> Path:
    values, registry, _ = write_inputs(tmp_path / "in", chain, 1)
    result = settle_epoch(operator_ws, MappingInputs.load(values, registry))
    return Path(result.manifest_uri.removeprefix("file://")).with_name("proofs.json")


def leads_to_root(ws: Workspace, entry: OwedEpoch) -> bool:
    assert entry.leaf is not None
    leaf = entry.leaf
    values = [
        ws.client.chain_id,
        ws.client.address,
        entry.epoch,
        leaf.index,
        leaf.account,
        leaf.amount,
        leaf.amount_before,
    ]
    return StandardMerkleTree.verify_proof(entry.header.root, LEAF_ENCODING, values, entry.proof)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_HOSTILE_BYTES = [b"", b"\xff\xfe", b"[" * 50_000, b"null", b"{}"]


@st.composite
def hostile_proofs(draw: st.DrawFn, honest: dict[str, Any], account: str) -> bytes:
    """The honest proofs file with one thing changed, or bytes that are no proofs file at all."""
    kind = draw(st.sampled_from(["bytes", "top", "entry", "node", "drop", "swap"]))
    document = json.loads(json.dumps(honest))
    entry = document["claims"][account]
    if kind == "bytes":
        return draw(st.sampled_from(_HOSTILE_BYTES))
    if kind == "top":
        document[draw(st.sampled_from(sorted(document)))] = draw(json_values)
    elif kind == "entry":
        entry[draw(st.sampled_from(sorted(entry)))] = draw(json_values)
    elif kind == "node" and entry["proof"]:
        at = draw(st.integers(min_value=0, max_value=len(entry["proof"]) - 1))
        entry["proof"][at] = "0x" + draw(st.binary(min_size=32, max_size=32)).hex()
    elif kind == "drop":
        del document["claims"][account]
    else:  # another account's leaf and proof under this account
        other = draw(st.sampled_from(sorted(set(document["claims"]) - {account})))
        document["claims"][account] = document["claims"][other]
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@seed(16)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_owed_shows_only_a_proof_that_leads_to_the_root_whatever_the_proofs_file_holds(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    tmp_path: Path,
    data: st.DataObject,
) -> None:
    # Function-scoped fixtures are shared by every example: settle once, then tamper.
    if watchdog_ws.client.header_of(1) is None:
        settled(operator_ws, chain, tmp_path)
    found = watchdog_ws.client.header_of(1)
    assert found is not None
    proofs = Path(found[1].removeprefix("file://")).with_name("proofs.json")
    me = chain.dev_accounts[CONTRIBUTOR].address
    honest = json.loads(proofs.read_bytes())
    original = proofs.read_bytes()
    try:
        proofs.write_bytes(data.draw(hostile_proofs(honest, me)))
        (entry,) = owed_epochs(watchdog_ws, me, [1])
    finally:
        proofs.write_bytes(original)
    assert entry.state == "in challenge window" and entry.amount == 2 * ETHER // 10
    assert leads_to_root(watchdog_ws, entry)
    if entry.proof_source == "manifest":
        assert len(entry.notes) == 1 and "was refused" in entry.notes[0]


def test_owed_reports_an_epoch_whose_manifest_does_not_match_as_unreadable(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    proofs = settled(operator_ws, chain, tmp_path)
    proofs.with_name("manifest.json").write_bytes(b"{}")
    me = chain.dev_accounts[CONTRIBUTOR].address
    (entry,) = owed_epochs(watchdog_ws, me)
    assert (entry.state, entry.leaf, entry.amount) == ("unreadable", None, 0)
    assert "hashes to" in entry.notes[0] and entry.message().startswith("epoch 1: cannot tell: ")


def test_units_and_durations_read_as_people_write_them() -> None:
    eth = TokenUnits(ZERO_ADDRESS, "ETH", 18)
    assert [eth.format(a) for a in (0, 1, ETHER, ETHER // 5, 10**17 + 1)] == [
        "0 ETH",
        "0.000000000000000001 ETH",
        "1 ETH",
        "0.2 ETH",
        "0.100000000000000001 ETH",
    ]
    assert TokenUnits(ZERO_ADDRESS, "units of 0x0", 0).format(42) == "42 units of 0x0"
    assert [format_duration(s) for s in (-5, 0, 59, 3599, 3600, 90_061)] == [
        "0s",
        "0s",
        "59s",
        "59m 59s",
        "1h",
        "1d 1h",
    ]


def test_a_proofs_file_the_manifest_binds_is_still_refused_when_a_proof_misses_the_root(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    me = chain.dev_accounts[CONTRIBUTOR].address
    honest = EpochProofs.of_tree

    def dishonest(tree: Any, token: str) -> EpochProofs:
        # The operator's own file, bound by its own manifest: one proof leads nowhere.
        made = honest(tree, token)
        claims = dict(made.claims)
        claims[me] = LeafProof(claims[me].leaf, ("0x" + "44" * 32, *claims[me].proof[1:]))
        return replace(made, claims=claims)

    def dishonest_file(tree: Any, token: str, **_: Any) -> Iterator[bytes]:
        yield dishonest(tree, token).to_json_bytes()

    with monkeypatch.context() as patched:
        patched.setattr(EpochProofs, "of_tree", dishonest)
        # settle streams the file it publishes rather than building the document
        patched.setattr(ame.workflow._proofs, "iter_proofs_json", dishonest_file)
        settled(operator_ws, chain, tmp_path)
    (entry,) = owed_epochs(watchdog_ws, me)
    assert entry.proof_source == "manifest" and leads_to_root(watchdog_ws, entry)
    assert "does not lead to the on-chain root" in entry.notes[0]
    report = audit_epoch(watchdog_ws, 1)
    assert [(m.field, m.leaf) for m in report.mismatches] == [
        ("proofs.claims.proof[0]", entry.leaf.index if entry.leaf else None)
    ]
