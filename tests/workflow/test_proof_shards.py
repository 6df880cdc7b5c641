"""A large epoch's proofs in shards of consecutive accounts, bound by an index the manifest records.

The threshold is lowered for these tests (an epoch of more than 8 leaves is sharded, 3
leaves a shard), so a few dozen contributors on the in-process chain take the
path a million take. Settle publishes the shards and the index and no ``proofs.json``;
the audit passes them and names a wrong shard, entry or index; ``ame owed`` reads the
account's shard only. The partition itself is searched by seeded hypothesis.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given, seed, settings
from hypothesis import strategies as st

import ame.workflow._proof_shards as shards_module
from ame.workflow import (
    EpochProofs,
    MappingInputs,
    Workspace,
    audit_epoch,
    owed_epochs,
    settle_epoch,
)
from ame.workflow._proof_shards import (
    INDEX_NAME,
    SHARD_LEAVES,
    SHARD_THRESHOLD,
    ProofsIndex,
    iter_shards,
    read_account_proofs,
    shard_name,
    sharded,
)
from ame.workflow._proofs import PROOFS_NAME
from ame.workflow._publish import FetchPolicy, epoch_folder
from ame_chain.chains import InProcessChain
from ame_chain.leaves import ZERO_ADDRESS, EpochTree, build_leaves
from ame_core.exceptions import InputError
from offchain.mapping import parse_registry, parse_values
from tests.mapping._builders import asset_doc, event_doc, registry_doc, values_doc
from tests.workflow._helpers import ETHER, contributors

PEOPLE = 40


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards_module, "SHARD_THRESHOLD", 8)
    monkeypatch.setattr(shards_module, "SHARD_LEAVES", 3)


def _people(chain: InProcessChain) -> list[str]:
    spread = [
        to_checksum_address("0x" + hashlib.sha256(str(i).encode()).hexdigest()[:40])
        for i in range(PEOPLE - 4)
    ]
    return [*contributors(chain), *spread]


def _inputs(chain: InProcessChain) -> MappingInputs:
    people = _people(chain)
    registry = registry_doc([asset_doc(f"a{i}", owners=[(a, "1")]) for i, a in enumerate(people)])
    values = values_doc([event_doc("e1", ETHER, {f"a{i}": i + 1 for i in range(PEOPLE)})])
    return MappingInputs(parse_values(values), parse_registry(registry))


def _folder(ws: Workspace, chain: InProcessChain) -> Path:
    folder = epoch_folder(chain.chain_id, ws.client.address, 1)
    return ws.publish_dir.joinpath(*folder.parts)


def test_a_large_epoch_publishes_shards_and_their_index_and_the_audit_passes_them(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    settled = settle_epoch(operator_ws, _inputs(chain))
    folder = _folder(operator_ws, chain)
    assert not (folder / PROOFS_NAME).exists()
    manifest = json.loads((folder / "manifest.json").read_bytes())
    index_bytes = (folder / INDEX_NAME).read_bytes()
    assert manifest["proofs"] == {
        "uri": INDEX_NAME,
        "sha256": hashlib.sha256(index_bytes).hexdigest(),
    }
    index = ProofsIndex.parse(index_bytes)
    assert (index.root, index.leaf_count, len(index.shards)) == (settled.root, PEOPLE, 14)
    seen: dict[str, int] = {}
    for number, entry in enumerate(index.shards):
        data = (folder / entry.uri).read_bytes()
        assert entry.uri == shard_name(number) == f"proofs-{number:05d}.json"
        assert hashlib.sha256(data).hexdigest() == entry.sha256
        shard = EpochProofs.parse(data)
        assert len(shard.claims) == entry.leaves == (3 if number < 13 else 1)
        assert shard.leaf_count == PEOPLE and shard.root == settled.root  # the epoch's header
        assert min(a.lower() for a in shard.claims) == entry.first
        for account, claim in shard.claims.items():
            assert index.shard_of(account) == entry
            seen[account] = claim.leaf.index
    assert sorted(seen.values()) == list(range(PEOPLE))  # every leaf, once
    report = audit_epoch(watchdog_ws, 1)
    assert report.ok, report.mismatches
    assert "proofs file" in report.checks


def _shard_of(folder: Path, account: str) -> Path:
    index = ProofsIndex.parse((folder / INDEX_NAME).read_bytes())
    entry = index.shard_of(account)
    assert entry is not None
    return folder / entry.uri


def test_a_wrong_proof_in_a_shard_is_a_mismatch_naming_the_shard_and_the_leaf(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    settle_epoch(operator_ws, _inputs(chain))
    me = contributors(chain)[1]
    path = _shard_of(_folder(operator_ws, chain), me)
    document = json.loads(path.read_bytes())
    document["claims"][me]["proof"][0] = "0x" + "ab" * 32
    path.write_text(json.dumps(document))
    report = audit_epoch(watchdog_ws, 1)
    number = int(path.name.removeprefix("proofs-").removesuffix(".json"))
    fields = [m.field for m in report.mismatches]
    assert fields == [f"proofs.shards[{number}].sha256", "proofs.claims.proof[0]"]
    assert report.mismatches[1].leaf == document["claims"][me]["index"]


def test_a_missing_shard_or_a_changed_index_is_a_mismatch(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    settle_epoch(operator_ws, _inputs(chain))
    folder = _folder(operator_ws, chain)
    me = contributors(chain)[0]
    mine = _shard_of(folder, me)
    mine.unlink()
    index = json.loads((folder / INDEX_NAME).read_bytes())
    dropped = next(i for i, e in enumerate(index["shards"]) if e["uri"] != mine.name)
    index["shards"][dropped]["leaves"] += 1
    (folder / INDEX_NAME).write_text(json.dumps(index))
    report = audit_epoch(watchdog_ws, 1)
    fields = [m.field for m in report.mismatches]
    assert fields[:2] == ["proofs.sha256", f"proofs.shards[{dropped}]"]
    number = int(mine.name.removeprefix("proofs-").removesuffix(".json"))
    assert f"proofs.shards[{number}]" in fields  # unreadable: audit failed
    assert not report.ok


def test_a_small_epoch_keeps_its_one_proofs_file_and_a_large_one_must_shard(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    assert not sharded(8) and sharded(9)
    settle_epoch(operator_ws, _inputs(chain))
    folder = _folder(operator_ws, chain)
    # An operator who published one file for a large epoch: the page would not find it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shards_module, "SHARD_THRESHOLD", 10**6)
        report = audit_epoch(watchdog_ws, 1)
    assert [(m.field, m.expected, m.found) for m in report.mismatches] == [
        ("proofs.uri", PROOFS_NAME, INDEX_NAME)
    ]
    assert (folder / INDEX_NAME).exists()


def test_owed_reads_the_accounts_shard_through_the_index(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    settle_epoch(operator_ws, _inputs(chain))
    me = contributors(chain)[2]
    (owed,) = owed_epochs(watchdog_ws, me)
    assert owed.proof_source == "proofs file" and not owed.notes
    folder = _folder(operator_ws, chain)
    # Every other shard gone: the account's own is all it reads.
    mine = _shard_of(folder, me)
    for path in folder.glob("proofs-*.json"):
        if path not in (mine, folder / INDEX_NAME):
            path.unlink()
    (again,) = owed_epochs(watchdog_ws, me)
    assert again.proof == owed.proof and again.proof_source == "proofs file"
    mine.write_bytes(mine.read_bytes().replace(b'"proof":[', b'"proof":[ '))
    (refused,) = owed_epochs(watchdog_ws, me)
    assert refused.proof_source == "manifest" and refused.proof == owed.proof
    assert "not the index's" in refused.notes[0]


def test_read_account_proofs_refuses_an_index_the_manifest_does_not_record(
    operator_ws: Workspace, chain: InProcessChain
) -> None:
    settle_epoch(operator_ws, _inputs(chain))
    index = _folder(operator_ws, chain) / INDEX_NAME
    local = FetchPolicy(allow_local=True)
    with pytest.raises(InputError, match="not the manifest's"):
        read_account_proofs(str(index), "0" * 64, contributors(chain)[0], policy=local)
    digest = hashlib.sha256(index.read_bytes()).hexdigest()
    nobody = to_checksum_address("0x" + "00" * 19 + "01")  # before every account
    assert read_account_proofs(str(index), digest, nobody, policy=local) is None
    last = to_checksum_address("0x" + "ff" * 20)  # after every account: the last shard, without it
    found = read_account_proofs(str(index), digest, last, policy=local)
    assert found is not None and last not in found.claims


def test_the_production_threshold_and_shard_size_keep_a_million_leaves_small(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.undo()  # this module's lowered threshold
    # The claim page reads files of at most 64 MiB: one file up to the threshold, shards past it.
    assert (SHARD_THRESHOLD, SHARD_LEAVES) == (16_384, 1_024)


@seed(14)
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    accounts=st.sets(st.integers(min_value=1, max_value=2**160 - 1), min_size=1, max_size=70),
    epoch=st.integers(min_value=0, max_value=2**32),
)
def test_the_shards_cut_the_accounts_into_consecutive_runs_each_the_files_restriction(
    accounts: set[int], epoch: int
) -> None:
    payouts: dict[str, int] = {
        to_checksum_address(a.to_bytes(20, "big")): a % 997 + 1 for a in accounts
    }
    leaves = build_leaves(payouts)
    tree = EpochTree(31337, to_checksum_address("0x" + "11" * 20), epoch, leaves)
    whole = EpochProofs.of_tree(tree, ZERO_ADDRESS)
    found: dict[str, object] = {}
    firsts = []
    for first, chunks in iter_shards(tree, ZERO_ADDRESS):
        shard = EpochProofs.parse(b"".join(chunks))
        mine = {a: e for a, e in whole.claims.items() if a in shard.claims}
        assert shard == EpochProofs.of_tree(tree, ZERO_ADDRESS, claims=mine)
        assert 1 <= len(shard.claims) <= 3 and not set(shard.claims) & set(found)
        assert first == min(a.lower() for a in shard.claims)
        assert not found or max(a.lower() for a in found) < first  # runs of consecutive accounts
        firsts.append(first)
        found.update(shard.claims)
    assert found == dict(whole.claims)
    assert len(firsts) == -(-len(leaves) // 3)


def test_owed_in_a_large_epoch_needs_no_manifest_for_a_leaf_and_the_manifest_for_none(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    settle_epoch(operator_ws, _inputs(chain))
    folder = _folder(operator_ws, chain)
    me = contributors(chain)[3]
    (read,) = owed_epochs(watchdog_ws, me)
    (folder / "manifest.json").unlink()  # 330 MB at a million leaves: not read for a leaf
    (owed,) = owed_epochs(watchdog_ws, me)
    assert (owed.state, owed.amount, owed.leaf, owed.proof) == (
        "in challenge window",
        read.amount,
        read.leaf,
        read.proof,
    )
    assert owed.proof_source == "proofs file" and not owed.notes
    # Absent from its shard: only the manifest, which binds the index, can say so.
    (nobody,) = owed_epochs(watchdog_ws, to_checksum_address("0x" + "00" * 19 + "01"))
    assert nobody.state == "unreadable" and "manifest.json" in nobody.notes[-1]


def test_owed_refuses_an_index_of_another_root_and_reads_the_manifest(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    settle_epoch(operator_ws, _inputs(chain))
    index = _folder(operator_ws, chain) / INDEX_NAME
    document = json.loads(index.read_bytes())
    document["merkleRoot"] = "0x" + "ab" * 32
    index.write_text(json.dumps(document))
    me = contributors(chain)[0]
    (owed,) = owed_epochs(watchdog_ws, me)
    assert owed.proof_source == "manifest" and owed.amount > 0
    assert "root is 0x" + "ab" * 32 in owed.notes[0] and "not the chain's" in owed.notes[0]
