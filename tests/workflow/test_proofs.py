"""The proofs file (``ame.proofs/1``): every proof verifies, the file round-trips, the audit checks it."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ame.workflow import (
    EpochProofs,
    MappingInputs,
    Workspace,
    audit_epoch,
    iter_proofs_json,
    settle_epoch,
)
from ame.workflow._audit import AuditReport, _check_proofs_file, _compare_proofs_file, _Reader
from ame.workflow._proofs import bind_proofs, spool_proofs
from ame.workflow._publish import FetchPolicy
from ame_chain.chains import InProcessChain
from ame_chain.leaves import ZERO_ADDRESS, EpochHeader, EpochTree, build_leaves
from ame_core.canonical import canonical_json, sha256_hex
from ame_core.exceptions import InputError
from offchain.mapping import map_epoch, parse_registry, parse_values
from tests.mapping._builders import address, asset_doc, event_doc, registry_doc, values_doc
from tests.workflow._helpers import write_inputs

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

addresses = st.integers(min_value=1, max_value=2**160 - 1).map(
    lambda n: to_checksum_address(n.to_bytes(20, "big"))
)
payouts = st.dictionaries(
    addresses, st.integers(min_value=1, max_value=2**128), min_size=1, max_size=40
)


def header_of(tree: EpochTree) -> EpochHeader:
    return EpochHeader(
        epoch=tree.epoch,
        root=tree.root,
        token=ZERO_ADDRESS,
        pool=tree.pool,
        leaf_count=len(tree.leaves),
        challenge_end=0,
        operator=ZERO_ADDRESS,
        bond=0,
        manifest_hash="0x" + "00" * 32,
    )


@seed(14)
@SETTINGS
@given(
    paid=payouts,
    chain_id=st.integers(min_value=1, max_value=2**64),
    settlement=addresses,
    epoch=st.integers(min_value=0, max_value=2**64),
)
def test_every_published_proof_verifies_against_the_root_and_the_file_round_trips(
    paid: dict[str, int], chain_id: int, settlement: str, epoch: int
) -> None:
    tree = EpochTree(chain_id, settlement, epoch, build_leaves(paid))
    proofs = EpochProofs.of_tree(tree, ZERO_ADDRESS)
    data = proofs.to_json_bytes()
    back = EpochProofs.parse(data, source="proofs.json")
    assert back == proofs and back.to_json_bytes() == data
    assert set(back.claims) == set(paid)
    header = header_of(tree)
    for account, entry in back.claims.items():
        assert entry.leaf.amount == paid[account]
        assert back.verify(account, header, settlement, chain_id) == ""
        # The same proof for another contract, chain or epoch leads elsewhere.
        assert back.verify(account, header, ZERO_ADDRESS, chain_id) != ""
        assert back.verify(account, header, settlement, chain_id + 1) != ""


@seed(15)
@SETTINGS
@given(paid=payouts, data=st.data())
def test_a_changed_leaf_or_proof_node_no_longer_verifies(
    paid: dict[str, int], data: st.DataObject
) -> None:
    settlement = to_checksum_address("0x" + "11" * 20)
    tree = EpochTree(1, settlement, 7, build_leaves(paid))
    document = EpochProofs.of_tree(tree, ZERO_ADDRESS).to_document()
    account = data.draw(st.sampled_from(sorted(document["claims"])))
    entry = document["claims"][account]
    field = data.draw(st.sampled_from(["amount", "amountBefore", "index", "proof"]))
    if field == "proof" and entry["proof"]:
        at = data.draw(st.integers(min_value=0, max_value=len(entry["proof"]) - 1))
        entry["proof"][at] = "0x" + ("22" if entry["proof"][at] != "0x" + "22" * 32 else "33") * 32
    elif field == "proof":
        entry["proof"] = ["0x" + "22" * 32]
    elif field == "index":
        entry["index"] += 1
    else:
        entry[field] = str(int(entry[field]) + 1)
    tampered = EpochProofs.parse(json.dumps(document).encode())
    assert tampered.verify(account, header_of(tree), settlement, 1) != ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "ame.proofs/2"}, "format: 'ame.proofs/2' is not ame.proofs/1"),
        ({"merkleRoot": "0x12"}, "merkleRoot: '0x12' is not a 0x-prefixed 32-byte hex hash"),
        ({"tokenTotal": 5}, "tokenTotal: 5 is not a decimal string"),  # a number, not '5'
        ({"tokenTotal": str(2**256)}, f"tokenTotal: {str(2**256)[:47]}... is not a uint256"),
        ({"epoch": True}, "epoch: true is not a whole number"),
        ({"claims": []}, "claims: not an object of account -> leaf"),
        ({"claims": {"0x12": {}}}, "claims[0x12]: '0x12' is not a 0x address"),
        ({"extra": 1}, "fields [] missing, ['extra'] unknown"),
    ],
)
def test_a_malformed_proofs_file_is_refused_naming_the_field(
    change: dict[str, Any], message: str
) -> None:
    tree = EpochTree(1, "0x" + "11" * 20, 1, build_leaves({"0x" + "22" * 20: 5}))
    document = EpochProofs.of_tree(tree, ZERO_ADDRESS).to_document()
    document.update(change)
    with pytest.raises(InputError) as raised:
        EpochProofs.parse(json.dumps(document).encode(), source="p.json")
    assert str(raised.value) == f"p.json: {message}"


def test_an_entry_without_its_fields_or_with_a_bad_proof_is_refused() -> None:
    account: str = to_checksum_address("0x" + "22" * 20)
    tree = EpochTree(1, "0x" + "11" * 20, 1, build_leaves({account: 5}))
    document = EpochProofs.of_tree(tree, ZERO_ADDRESS).to_document()
    document["claims"][account]["proof"] = ["nope"]
    with pytest.raises(InputError, match=r"claims\[0x2222.*\]: proof\[0\]: 'nope' is not"):
        EpochProofs.parse(json.dumps(document).encode(), source="p.json")
    del document["claims"][account]["proof"]
    with pytest.raises(InputError, match="not an object with exactly"):
        EpochProofs.parse(json.dumps(document).encode(), source="p.json")


def settled_proofs(operator_ws: Workspace, chain: InProcessChain, tmp_path: Path) -> Path:
    values, registry, _ = write_inputs(tmp_path / "in", chain, 1)
    settled = settle_epoch(operator_ws, MappingInputs.load(values, registry))
    return Path(settled.manifest_uri.removeprefix("file://")).with_name("proofs.json")


def rewrite(path: Path, edit: Any) -> None:
    document = json.loads(path.read_bytes())
    edit(document)
    path.write_bytes(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())


def test_settle_publishes_the_proofs_file_the_manifest_records_and_the_audit_passes(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    path = settled_proofs(operator_ws, chain, tmp_path)
    manifest = json.loads(path.with_name("manifest.json").read_bytes())
    assert manifest["proofs"] == {
        "uri": "proofs.json",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    proofs = EpochProofs.parse(path.read_bytes())
    assert (proofs.chain_id, proofs.settlement, proofs.epoch) == (
        chain.chain_id,
        operator_ws.client.address,
        1,
    )
    assert len(proofs.claims) == 4
    report = audit_epoch(watchdog_ws, 1)
    assert report.ok, report.mismatches
    assert "proofs file" in report.checks


def _drop_first(document: dict[str, Any]) -> None:
    del document["claims"][sorted(document["claims"])[0]]


def _add_extra(document: dict[str, Any]) -> None:
    document["claims"]["0x" + "0A" * 20] = {
        "index": 9,
        "amount": "1",
        "amountBefore": "0",
        "proof": [],
    }


def _more_for_one(document: dict[str, Any]) -> None:
    entry = document["claims"][sorted(document["claims"])[0]]
    entry["amount"] = str(int(entry["amount"]) + 1)


@pytest.mark.parametrize(
    ("edit", "field", "found"),
    [
        (_drop_first, "proofs.claims", "missing"),
        (_add_extra, "proofs.claims", to_checksum_address("0x" + "0a" * 20)),
        (_more_for_one, "proofs.claims.amount", ""),
    ],
    ids=["missing", "extra", "wrong"],
)
def test_a_missing_extra_or_wrong_entry_of_the_proofs_file_is_a_mismatch(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    tmp_path: Path,
    edit: Any,
    field: str,
    found: str,
) -> None:
    path = settled_proofs(operator_ws, chain, tmp_path)
    rewrite(path, edit)
    report = audit_epoch(watchdog_ws, 1)
    assert report.complete
    fields = [(m.field, m.found) for m in report.mismatches]
    assert fields[0][0] == "proofs.sha256"
    assert [f for f, _ in fields[1:]] == [field]
    assert found in fields[1][1]
    assert report.mismatches[1].leaf is not None


@pytest.mark.parametrize(
    "data", [b"", b"not json", b"[]", b"[" * 100_000, b'{"format":"ame.proofs/1"}']
)
def test_hostile_proofs_file_bytes_end_in_a_verdict(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    tmp_path: Path,
    data: bytes,
) -> None:
    path = settled_proofs(operator_ws, chain, tmp_path)
    path.write_bytes(data)
    report = audit_epoch(watchdog_ws, 1)
    assert not report.ok and not report.complete
    assert [m.field for m in report.mismatches] == ["proofs.sha256", "proofs"]
    assert report.checks[-1] == "money"


def test_a_missing_proofs_file_is_an_audit_failure_not_a_crash(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    path = settled_proofs(operator_ws, chain, tmp_path)
    path.unlink()
    report = audit_epoch(watchdog_ws, 1)
    assert [m.field for m in report.mismatches] == ["proofs"]
    assert report.failures and "proofs.json" in report.failures[0]


@seed(16)
@SETTINGS
@given(
    paid=payouts,
    chain_id=st.integers(min_value=1, max_value=2**64),
    settlement=addresses,
    epoch=st.integers(min_value=0, max_value=2**64),
    token=st.one_of(st.just(ZERO_ADDRESS), addresses),
    chunk=st.integers(min_value=1, max_value=50),
)
def test_streamed_proofs_file_is_the_canonical_serialisation_byte_for_byte(
    paid: dict[str, int], chain_id: int, settlement: str, epoch: int, token: str, chunk: int
) -> None:
    tree = EpochTree(chain_id, settlement, epoch, build_leaves(paid))
    chunks = list(iter_proofs_json(tree, token, chunk_leaves=chunk))
    expected = EpochProofs.of_tree(tree, token).to_json_bytes()
    assert b"".join(chunks) == expected
    assert expected == canonical_json(json.loads(expected))
    # Bounded: no chunk holds more than the header or `chunk` claims.
    assert len(chunks) == 2 + -(-len(paid) // chunk)


@seed(17)
@settings(SETTINGS, max_examples=15)
@given(paid=payouts, token=st.one_of(st.just(ZERO_ADDRESS), addresses))
def test_spooled_proofs_bind_the_manifest_as_bind_proofs_does(
    paid: dict[str, int], token: str
) -> None:
    # Any mapped manifest: binding records the file's digest, whatever the leaves.
    registry = parse_registry(registry_doc([asset_doc("x", owners=[(address(5), "1")])]))
    manifest = map_epoch(parse_values(values_doc([event_doc("e", 100, {"x": 1})])), registry)
    tree = EpochTree(31337, ZERO_ADDRESS[:-1] + "1", 3, build_leaves(paid))
    bound, data = bind_proofs(manifest, tree, token)
    with spool_proofs(manifest, tree, token) as (spooled, read):
        assert spooled == bound and spooled.to_json_bytes() == bound.to_json_bytes()
        assert b"".join(read()) == data == b"".join(read())  # each read starts over


def _tamper(document: dict[str, Any], data: st.DataObject) -> bytes:
    """The file with one thing changed, or as published (``honest``), or re-serialised."""
    kind = data.draw(
        st.sampled_from(["honest", "spaced", "field", "entry", "node", "drop", "extra", "junk"]),
        label="kind",
    )
    claims = document["claims"]
    account = data.draw(st.sampled_from(sorted(claims)), label="account")
    if kind == "field":
        name = data.draw(st.sampled_from(["chainId", "epoch", "leafCount"]), label="name")
        document[name] += 1
    elif kind == "entry":
        name = data.draw(st.sampled_from(["amount", "amountBefore"]), label="name")
        claims[account][name] = str(int(claims[account][name]) + 1)
    elif kind == "node" and claims[account]["proof"]:
        claims[account]["proof"][0] = "0x" + "22" * 32
    elif kind == "drop":
        del claims[account]
    elif kind == "extra":
        claims[to_checksum_address("0x" + "77" * 20)] = dict(claims[account])
    elif kind == "junk":
        return b"{not json"
    if kind == "spaced":  # the same document, other bytes
        return json.dumps(document, sort_keys=True, indent=1).encode()
    return canonical_json(document)


@seed(18)
@SETTINGS
@given(paid=payouts, data=st.data())
def test_the_audits_byte_check_of_the_proofs_file_gives_the_full_comparisons_verdicts(
    paid: dict[str, int], data: st.DataObject
) -> None:
    tree = EpochTree(31337, to_checksum_address("0x" + "11" * 20), 4, build_leaves(paid))
    header = header_of(tree)
    published = _tamper(EpochProofs.of_tree(tree, ZERO_ADDRESS).to_document(), data)
    registry = parse_registry(registry_doc([asset_doc("x", owners=[(address(5), "1")])]))
    mapped = map_epoch(parse_values(values_doc([event_doc("e", 100, {"x": 1})])), registry)
    manifest, _ = bind_proofs(mapped, tree, ZERO_ADDRESS)

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "proofs.json").write_bytes(published)
        fast = AuditReport(4, "Proposed", Path(folder, "manifest.json").as_uri(), header)
        reader = _Reader(FetchPolicy(allow_local=True), time.monotonic() + 60, own=False)
        _check_proofs_file(fast, tree, manifest, fast.manifest_uri, reader)
    full = AuditReport(4, "Proposed", "file:///m/manifest.json", header)
    if sha256_hex(published) != manifest.proofs.sha256:  # type: ignore[union-attr]
        full.add("proofs.sha256", manifest.proofs.sha256, sha256_hex(published))  # type: ignore[union-attr]
    _compare_proofs_file(full, tree, published, fast.manifest_uri[:-13] + "proofs.json")
    assert [m.to_json() for m in fast.mismatches] == [m.to_json() for m in full.mismatches]
    assert fast.ok == (published == EpochProofs.of_tree(tree, ZERO_ADDRESS).to_json_bytes())
