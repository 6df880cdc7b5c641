"""Unit tests of :mod:`ame_chain.merkle` and its encoders: proofs, forgeries, dumps, errors.

The reference comparison lives in ``test_merkle_interop.py``; here the encoders are
checked against ``eth_abi`` and the trees against the definitions in the module docstring.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import eth_abi.exceptions
import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_chain import _keccak
from ame_chain._abi_fast import LeafCodec
from ame_chain.exceptions import MerkleError, MerkleInputError
from ame_chain.merkle import FORMAT, StandardMerkleTree
from ame_core.exceptions import AmeError, InputError

SETTLEMENT = ["uint256", "address", "uint256", "uint256", "address", "uint256", "uint256"]
PAIR = ["address", "uint256"]


def address(seed: int) -> str:
    return to_checksum_address(random.Random(seed).randbytes(20))


def pairs(count: int) -> list[list[Any]]:
    return [[address(i), 1000 + i] for i in range(count)]


def leaf(encoding: list[str], value: Any) -> bytes:
    return keccak(keccak(abi_encode(encoding, value)))


def node(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def unhex(text: str) -> bytes:
    return bytes.fromhex(text[2:])


@pytest.fixture(scope="module")
def tree() -> StandardMerkleTree:
    return StandardMerkleTree.of(pairs(13), PAIR)


# -- definitions ----------------------------------------------------------------------


def test_root_follows_the_definition_for_three_leaves() -> None:
    values = pairs(3)
    hashes = sorted(leaf(PAIR, v) for v in values)
    # Leaves fill the last slots in reverse sorted order: tree = [r, n1, h2, h1, h0].
    n1 = node(hashes[1], hashes[0])
    expected = node(n1, hashes[2])

    assert StandardMerkleTree.of(values, PAIR).root == "0x" + expected.hex()


def test_single_leaf_tree_has_the_leaf_as_root_and_empty_proof() -> None:
    tree = StandardMerkleTree.of([[address(1), 5]], PAIR)

    assert tree.root == "0x" + leaf(PAIR, [address(1), 5]).hex()
    assert tree.get_proof(0) == []
    assert tree.get_all_proofs() == [[]]
    assert tree.verify(0, [])
    assert tree.render() == f"0) {tree.root}"


def test_sorted_root_does_not_depend_on_value_order() -> None:
    values = pairs(20)
    shuffled = values[:]
    random.Random(3).shuffle(shuffled)

    assert StandardMerkleTree.of(values, PAIR).root == StandardMerkleTree.of(shuffled, PAIR).root
    assert (
        StandardMerkleTree.of(values, PAIR, sort_leaves=False).root
        != StandardMerkleTree.of(shuffled, PAIR, sort_leaves=False).root
    )


def test_building_twice_gives_identical_trees() -> None:
    values = pairs(50)

    first = StandardMerkleTree.of(values, PAIR)
    second = StandardMerkleTree.of(copy.deepcopy(values), PAIR)

    assert first.dump() == second.dump()
    assert first.get_all_proofs() == second.get_all_proofs()


@pytest.mark.parametrize("count", range(1, 41))
def test_all_proofs_equal_single_proofs_and_verify(count: int) -> None:
    values = pairs(count)
    tree = StandardMerkleTree.of(values, PAIR, sort_leaves=count % 2 == 0)

    proofs = tree.get_all_proofs()

    assert proofs == [tree.get_proof(i) for i in range(count)]
    assert all(tree.verify(i, p) for i, p in enumerate(proofs))
    assert all(
        StandardMerkleTree.verify_proof(tree.root, PAIR, v, p)
        for v, p in zip(values, proofs, strict=True)
    )


def test_reading_api(tree: StandardMerkleTree) -> None:
    values = pairs(13)

    assert len(tree) == 13
    assert list(tree) == [(i, tuple(v)) for i, v in enumerate(values)]
    assert tree.at(2) == tuple(values[2])
    assert tree.at(-1) == tuple(values[-1])
    assert tree.at(13) is None
    assert tree.leaf_encoding == PAIR
    assert tree.leaf_lookup(values[5]) == 5
    assert tree.get_proof(values[5]) == tree.get_proof(5)
    assert tree.leaf_hash(values[5]) == "0x" + leaf(PAIR, values[5]).hex()
    assert repr(tree).startswith(f"StandardMerkleTree(root={tree.root}")


def test_duplicate_values_each_get_a_leaf_and_lookup_finds_the_last() -> None:
    values = [*pairs(3), pairs(3)[1]]
    tree = StandardMerkleTree.of(values, PAIR)

    assert len(tree) == 4
    assert tree.leaf_lookup(values[1]) == 3
    assert tree.verify(1, tree.get_proof(1))


def test_js_style_inputs_hash_like_native_ones() -> None:
    native = StandardMerkleTree.of(
        [[address(1), 255, True, b"\x01\x02"]], ["address", "uint8", "bool", "bytes2"]
    )
    js_style = StandardMerkleTree.of(
        [[address(1).lower(), "0xff", "true", "0x0102"]], ["address", "uint8", "bool", "bytes2"]
    )
    decimal = StandardMerkleTree.of(
        [[address(1), "255", True, bytearray(b"\x01\x02")]], ["address", "uint", "bool", "bytes2"]
    )

    assert native.root == js_style.root == decimal.root
    assert js_style.at(0) == (address(1).lower(), 255, True, b"\x01\x02")


# -- verification ---------------------------------------------------------------------


def test_corrupted_proofs_do_not_verify(tree: StandardMerkleTree) -> None:
    value = tree.at(4)
    assert value is not None
    proof = tree.get_proof(4)
    flipped = [proof[0][:-1] + ("0" if proof[0][-1] != "0" else "1"), *proof[1:]]
    other_root = StandardMerkleTree.of(pairs(12), PAIR).root

    assert tree.verify(4, proof)
    assert StandardMerkleTree.verify_proof(tree.root, PAIR, value, proof)
    assert not StandardMerkleTree.verify_proof(other_root, PAIR, value, proof)
    assert not tree.verify(4, flipped)
    assert not tree.verify(5, proof)
    assert not tree.verify([address(99), 1004], proof)
    assert not tree.verify([value[0], value[1] + 1], proof)
    assert not tree.verify(4, proof[:-1])
    assert not tree.verify(4, [*proof, proof[-1]])
    assert not tree.verify(4, proof[::-1])


def test_proof_nodes_may_be_bytes(tree: StandardMerkleTree) -> None:
    proof = [unhex(p) for p in tree.get_proof(3)]
    value = tree.at(3)
    assert value is not None

    assert tree.verify(3, proof)
    assert StandardMerkleTree.verify_proof(unhex(tree.root), PAIR, value, proof)


@pytest.mark.parametrize(
    "bad_node",
    ["0x" + "ab" * 31, "ab" * 32, "0x" + "zz" * 32, b"\x00" * 31, 12, None],
    ids=["short-hex", "no-prefix", "not-hex", "31-bytes", "int", "none"],
)
def test_malformed_proof_nodes_are_refused(tree: StandardMerkleTree, bad_node: Any) -> None:
    proof: list[Any] = tree.get_proof(0)
    proof[0] = bad_node

    with pytest.raises(MerkleInputError, match=r"proof\[0\]"):
        tree.verify(0, proof)
    with pytest.raises(MerkleInputError, match="root"):
        StandardMerkleTree.verify_proof(bad_node, PAIR, pairs(1)[0], [])


def test_proof_must_be_a_list(tree: StandardMerkleTree) -> None:
    with pytest.raises(MerkleInputError, match="proof: expected a list"):
        tree.verify(0, tree.root)


def test_internal_node_preimage_is_not_a_leaf() -> None:
    # The second-preimage attack: present an internal node's 64-byte preimage as a value.
    encoding = ["bytes32", "bytes32"]
    values = [[bytes([i]) * 32, bytes([i + 100]) * 32] for i in range(8)]
    tree = StandardMerkleTree.of(values, encoding)
    dump = tree.dump()
    internal = unhex(dump["tree"][1])
    left, right = unhex(dump["tree"][3]), unhex(dump["tree"][4])
    forged = [min(left, right), max(left, right)]
    proof_of_internal = [dump["tree"][2]]

    # With a single hash the forgery would go through: abi.encode(a, b) is a ‖ b.
    assert keccak(abi_encode(encoding, forged)) == internal
    assert not tree.verify(forged, proof_of_internal)
    assert not StandardMerkleTree.verify_proof(tree.root, encoding, forged, proof_of_internal)
    # Nor is the internal node itself a value of a one-word encoding.
    assert not StandardMerkleTree.verify_proof(
        tree.root, ["bytes32"], [internal], proof_of_internal
    )


def test_multiproofs_verify_and_match_the_queue_definition(tree: StandardMerkleTree) -> None:
    for indices in ([], [0], [3, 7], [12, 0, 5], list(range(13))):
        multiproof = tree.get_multi_proof(indices)
        assert tree.verify_multi_proof(multiproof)
        assert tree.verify_multi_proof(
            {**multiproof, "leaves": [tree.leaf_lookup(v) for v in multiproof["leaves"]]}
        )
        assert StandardMerkleTree.verify_multi_proof_against(tree.root, PAIR, multiproof)
        assert (
            len(multiproof["leaves"]) + len(multiproof["proof"])
            == len(multiproof["proofFlags"]) + 1
        )
    assert dict(tree.get_multi_proof([])) == {"leaves": [], "proof": [tree.root], "proofFlags": []}


def test_multiproof_forgeries_fail(tree: StandardMerkleTree) -> None:
    good = tree.get_multi_proof([1, 6, 8])
    wrong_leaf = {**good, "leaves": [[address(77), 1], *good["leaves"][1:]]}
    flipped_flag = {**good, "proofFlags": [not good["proofFlags"][0], *good["proofFlags"][1:]]}
    swapped_leaves = {**good, "leaves": good["leaves"][::-1]}
    wrong_node = {**good, "proof": [tree.root, *good["proof"][1:]]}
    other_root = StandardMerkleTree.of(pairs(14), PAIR).root

    assert not tree.verify_multi_proof(wrong_leaf)
    assert not tree.verify_multi_proof(swapped_leaves)
    assert not tree.verify_multi_proof(wrong_node)
    assert not StandardMerkleTree.verify_multi_proof_against(other_root, PAIR, good)
    with pytest.raises(MerkleInputError, match=r"proofFlags\[\d+\] needs a node"):
        tree.verify_multi_proof(flipped_flag)


def test_multiproof_shape_forgeries_are_refused(tree: StandardMerkleTree) -> None:
    good = tree.get_multi_proof([2, 9])
    # OpenZeppelin 4.7.0-4.7.2 accepted multiproofs whose lengths did not add up, which let
    # an attacker prove a leaf that is not in the tree; both checks must hold.
    extra_leaf = {**good, "leaves": [*good["leaves"], [address(66), 3]]}
    missing_node = {**good, "proof": good["proof"][:-1]}
    extra_flag = {**good, "proofFlags": [*good["proofFlags"], True]}
    too_few_nodes = {"leaves": good["leaves"][:2], "proof": [], "proofFlags": [False]}

    for forged in (extra_leaf, missing_node, extra_flag):
        with pytest.raises(MerkleInputError, match="invalid multiproof"):
            tree.verify_multi_proof(forged)
    with pytest.raises(MerkleInputError, match="proofFlags are false"):
        tree.verify_multi_proof(too_few_nodes)


def test_empty_multiproof_proves_nothing_but_the_root(tree: StandardMerkleTree) -> None:
    # As in MerkleProof.multiProofVerify (see its NOTE): callers must require leaves.
    assert tree.verify_multi_proof({"leaves": [], "proof": [tree.root], "proofFlags": []})
    assert not tree.verify_multi_proof(
        {"leaves": [], "proof": ["0x" + "00" * 32], "proofFlags": []}
    )


@pytest.mark.parametrize(
    ("multiproof", "message"),
    [
        ([], "expected a mapping"),
        ({"proof": [], "proofFlags": []}, "'leaves': missing"),
        ({"leaves": [], "proofFlags": []}, "'proof': missing"),
        ({"leaves": [], "proof": []}, "'proofFlags': missing"),
        ({"leaves": 3, "proof": [], "proofFlags": []}, "'leaves': expected a list"),
        ({"leaves": [], "proof": [], "proofFlags": [1]}, "list of bools"),
        ({"leaves": [], "proof": ["0x12"], "proofFlags": []}, r"'proof'\[0\]"),
    ],
)
def test_malformed_multiproofs_are_refused(
    tree: StandardMerkleTree, multiproof: Any, message: str
) -> None:
    with pytest.raises(MerkleInputError, match=message):
        tree.verify_multi_proof(multiproof)


def test_multiproof_of_a_value_twice_is_refused(tree: StandardMerkleTree) -> None:
    with pytest.raises(MerkleInputError, match="more than once"):
        tree.get_multi_proof([3, tree.at(3)])  # type: ignore[list-item]


# -- errors ---------------------------------------------------------------------------


def test_errors_are_ame_input_errors() -> None:
    assert issubclass(MerkleInputError, MerkleError)
    assert issubclass(MerkleInputError, InputError)
    assert issubclass(MerkleInputError, ValueError)
    assert issubclass(MerkleError, AmeError)


@pytest.mark.parametrize(
    ("leaf_index", "message"),
    [
        (13, "index 13 is out of range for a tree of 13 values"),
        (-1, "index -1 is out of range"),
        ([address(500), 1], "is not in the tree"),
        (True, "expected a list or tuple"),
        ("0x01", "expected a list or tuple"),
    ],
)
def test_bad_leaves_are_refused(tree: StandardMerkleTree, leaf_index: Any, message: str) -> None:
    with pytest.raises(MerkleInputError, match=message):
        tree.get_proof(leaf_index)


@pytest.mark.parametrize(
    ("values", "encoding", "message"),
    [
        ([], PAIR, "at least one value"),
        ("ab", PAIR, "expected a list of leaf values"),
        ([[address(1), 1]], [], "at least one type"),
        ([[address(1), 1]], "address", "expected a list of Solidity type strings"),
        ([[address(1), 1]], ["address", 3], r"leaf_encoding\[1\]: expected a Solidity type string"),
        ([[address(1), 1]], ["address", "uint7"], r"leaf_encoding\[1\]: invalid type 'uint7'"),
        ([[address(1), 1]], ["address", "bytes33"], "size must be in 1..32"),
        ([[address(1), 1]], ["address", "fixed128x18"], "invalid type"),
        ([[address(1), 1]], ["address", "uint256[0]"], "not a positive integer"),
        ([[address(1), 1]], ["address", "(uint256"], "invalid type"),
        ([[address(1), 1]], ["address", "uint256 "], "unexpected ' '"),
        ([[address(1), 1]], ["address", "bool8"], "bool8: takes no size"),
        ([[address(1), 1]], ["address", "byte"], "'byte' is not one of uintN"),
        ([[address(1), 1]], ["address", "()"], "invalid type '\\(\\)'"),
        ([[address(1), 1]], ["address", "uint" + "9" * 5000], "5000-digit size"),
        ([[address(1), 1]], ["address", "uint8[" + "9" * 5000 + "]"], "5000-digit size"),
        ([[address(1), 1], [address(2)]], PAIR, r"values\[1\]: expected 2 fields"),
        ([[address(1), 1], "x"], PAIR, r"values\[1\]: expected a list or tuple"),
        ([[address(1), -1]], PAIR, r"values\[0\]\[1\] \(uint256\): -1 is out of range"),
        ([[address(1), 2**256]], PAIR, "out of range"),
        ([[address(1), 1.0]], PAIR, r"values\[0\]\[1\] \(uint256\): expected an int"),
        ([[address(1), True]], PAIR, "expected an int"),
        ([[address(1), "1e3"]], PAIR, "expected an int"),
        ([[address(1)[:-1], 1]], PAIR, r"values\[0\]\[0\] \(address\): expected an address"),
        ([[b"\x00" * 19, 1]], PAIR, "20 bytes"),
        ([["0x" + "g" * 40, 1]], PAIR, "expected an address"),
        ([[1, 2]], ["bool", "uint8"], r"\(bool\): expected a bool"),
        ([[b"\x00" * 5]], ["bytes4"], "5 bytes do not fit in 4"),
        ([["0x123"]], ["bytes4"], "even-length"),
        ([[b"x"]], ["string"], r"\(string\): expected a str"),
        ([[[1, 2]]], ["uint8[3]"], "expected 3 items"),
        ([[[1, 256]]], ["uint8[]"], r"values\[0\]\[0\]\[1\] \(uint8\): 256 is out of range"),
        ([[(1,)]], ["(uint8,bool)"], "expected 2 fields"),
        ([["\ud800"]], ["string"], "cannot ABI-encode"),
    ],
)
def test_bad_values_and_encodings_are_refused(values: Any, encoding: Any, message: str) -> None:
    with pytest.raises(MerkleInputError, match=message):
        StandardMerkleTree.of(values, encoding)


def test_corrupted_tree_is_detected(tree: StandardMerkleTree) -> None:
    broken = StandardMerkleTree.of(pairs(5), PAIR)
    nodes = bytearray(broken._tree)
    nodes[0] ^= 1
    broken._tree = bytes(nodes)

    with pytest.raises(MerkleError, match="unable to prove"):
        broken.get_proof(0)
    with pytest.raises(MerkleError, match="tree is invalid"):
        broken.validate()
    tree.validate()


# -- dumps ----------------------------------------------------------------------------


def test_dump_has_the_standard_v1_shape(tree: StandardMerkleTree) -> None:
    dump = tree.dump()

    assert list(dump) == ["format", "leafEncoding", "tree", "values"]
    assert dump["format"] == FORMAT == "standard-v1"
    assert dump["tree"][0] == tree.root
    assert len(dump["tree"]) == 2 * len(tree) - 1
    assert dump["values"][0] == {
        "value": [address(0), "1000"],
        "treeIndex": dump["values"][0]["treeIndex"],
    }
    assert json.loads(json.dumps(dump)) == dump


@pytest.mark.parametrize(
    ("encoding", "values"),
    [
        (SETTLEMENT, [[1, address(0), 2, i, address(i), 10**20 + i, i] for i in range(6)]),
        (["string", "bytes", "int8"], [["a", b"\x01", -1], ["", b"", 127], ["é", b"\xff" * 40, 0]]),
        (
            ["bytes32[]", "(bool,address)"],
            [[[b"\x01" * 32], (True, address(1))], [[], (False, address(2))]],
        ),
    ],
    ids=["settlement", "dynamic", "nested"],
)
def test_dump_load_round_trip(encoding: list[str], values: list[Any]) -> None:
    tree = StandardMerkleTree.of(values, encoding)
    dump = json.loads(json.dumps(tree.dump()))

    loaded = StandardMerkleTree.load(dump)

    assert loaded.root == tree.root
    assert loaded.dump() == dump
    assert list(loaded) == list(tree)
    assert loaded.get_all_proofs() == tree.get_all_proofs()


def test_loaded_dump_keeps_values_verbatim() -> None:
    dump = StandardMerkleTree.of([[address(1), 5], [address(2), 6]], PAIR).dump()
    dump["values"][0]["value"][1] = "0x05"

    loaded = StandardMerkleTree.load(dump)

    assert loaded.dump() == dump
    assert loaded.at(0) == (address(1), 5)
    dump["values"][0]["value"][1] = "7"
    assert loaded.dump()["values"][0]["value"][1] == "0x05"


def _valid_dump() -> dict[str, Any]:
    return StandardMerkleTree.of(pairs(4), PAIR).dump()


def _set(path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    dump = _valid_dump()
    target: Any = dump
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return dump


def _drop(key: str) -> dict[str, Any]:
    dump = _valid_dump()
    del dump[key]
    return dump


def _swap_values() -> dict[str, Any]:
    dump = _valid_dump()
    first, second = dump["values"][0], dump["values"][1]
    first["value"], second["value"] = second["value"], first["value"]
    return dump


def _wrong_internal_node() -> dict[str, Any]:
    dump = _valid_dump()
    dump["tree"][1] = "0x" + "00" * 32
    return dump


def _wrong_root() -> dict[str, Any]:
    dump = _valid_dump()
    dump["tree"][0] = dump["tree"][1]
    return dump


@pytest.mark.parametrize(
    ("dump", "message"),
    [
        ([], "dump: expected a mapping"),
        (_drop("format"), "'format': missing"),
        (_drop("leafEncoding"), "'leafEncoding': missing"),
        (_drop("tree"), "'tree': missing"),
        (_drop("values"), "'values': missing"),
        (_set(("format",), "standard-v2"), "'format': expected 'standard-v1', got 'standard-v2'"),
        (_set(("leafEncoding",), "address,uint256"), "'leafEncoding': expected a list"),
        (_set(("leafEncoding",), []), "at least one type"),
        (_set(("leafEncoding", 1), "uint257"), r"'leafEncoding'\[1\]: invalid type 'uint257'"),
        (_set(("leafEncoding", 1), "bool"), r"values\[\d\]\.value'\[1\] \(bool\)"),
        (_set(("tree",), "0x00"), "'tree': expected a list"),
        (_set(("tree",), _valid_dump()["tree"][:-1]), "'tree': 6 nodes, but 7 expected"),
        (_set(("tree", 2), 5), r"'tree\[2\]': expected 0x and 64 lowercase hex digits, got 5"),
        (_set(("tree", 3), _valid_dump()["tree"][3].upper().replace("0X", "0x")), r"'tree\[3\]'"),
        (_set(("tree", 4), _valid_dump()["tree"][4][2:] + "00"), r"'tree\[4\]'"),
        (_set(("tree", 5), _valid_dump()["tree"][5][:-2]), r"'tree\[5\]'"),
        (_set(("values",), {}), "'values': expected a non-empty list"),
        (_set(("values",), []), "'values': expected a non-empty list"),
        (_set(("values", 1), ["x"]), r"'values\[1\]': expected \{'value'"),
        (_set(("values", 1), {"value": [address(1), "1"]}), r"'values\[1\]': expected \{'value'"),
        (_set(("values", 1), {"treeIndex": 3}), r"'values\[1\]': expected \{'value'"),
        (
            _set(("values", 2, "treeIndex"), "4"),
            r"'values\[2\]'\.treeIndex: expected an int, got '4'",
        ),
        (_set(("values", 2, "treeIndex"), True), "expected an int, got true"),
        (_set(("values", 2, "treeIndex"), 2), "2 is not a leaf; leaves are 3..6"),
        (_set(("values", 2, "treeIndex"), 7), "7 is not a leaf"),
        (
            _set(("values", 3, "treeIndex"), _valid_dump()["values"][0]["treeIndex"]),
            r"values\[3\]\.treeIndex': leaf \d is already taken by values\[0\]",
        ),
        (_set(("values", 1, "value"), "0x01"), r"'values\[1\]\.value': expected a list or tuple"),
        (_set(("values", 1, "value"), [address(1)]), r"'values\[1\]\.value': expected 2 fields"),
        (
            _set(("values", 1, "value", 1), "ten"),
            r"'values\[1\]\.value'\[1\] \(uint256\): expected an int",
        ),
        (_set(("values", 1, "value", 1), "999"), r"'values\[1\]': the value hashes to"),
        (_swap_values(), r"'values\[0\]': the value hashes to"),
        (
            _wrong_internal_node(),
            r"'tree\[1\]': 0x0{64} is not the hash of its children tree\[3\] and tree\[4\]",
        ),
        (_wrong_root(), r"'tree\[0\]'"),
    ],
)
def test_load_refuses_malformed_dumps(dump: Any, message: str) -> None:
    with pytest.raises(MerkleInputError, match=message):
        StandardMerkleTree.load(dump)


# -- encoders and hashes --------------------------------------------------------------

STATIC_TYPES = [
    "uint8",
    "uint64",
    "uint256",
    "int8",
    "int64",
    "int256",
    "address",
    "bool",
    "bytes1",
    "bytes20",
    "bytes32",
]


def _strategy(kind: str) -> st.SearchStrategy[Any]:
    if kind.startswith("uint"):
        bits = int(kind[4:])
        return st.integers(0, 2**bits - 1)
    if kind.startswith("int"):
        bits = int(kind[3:])
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if kind == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))
    if kind == "bool":
        return st.booleans()
    return st.binary(min_size=0, max_size=int(kind[5:]))


@st.composite
def _encoded_batches(draw: st.DrawFn) -> tuple[list[str], list[list[Any]]]:
    encoding = draw(st.lists(st.sampled_from(STATIC_TYPES), min_size=1, max_size=6))
    rows = draw(st.integers(1, 12))
    columns = []
    for kind in encoding:
        if draw(st.booleans()):
            columns.append([draw(_strategy(kind))] * rows)  # a constant column
        else:
            columns.append(draw(st.lists(_strategy(kind), min_size=rows, max_size=rows)))
    return encoding, [list(row) for row in zip(*columns, strict=True)]


@given(_encoded_batches())
def test_fast_encoding_equals_eth_abi(batch: tuple[list[str], list[list[Any]]]) -> None:
    encoding, rows = batch
    _, encoded = LeafCodec(encoding).encode_rows(rows, str)

    assert encoded == b"".join(abi_encode(encoding, row) for row in rows)


@pytest.mark.parametrize("kind", STATIC_TYPES)
def test_fast_encoding_equals_eth_abi_at_boundaries(kind: str) -> None:
    if kind.startswith(("uint", "int")):
        bits = int(kind.lstrip("uint"))
        low, high = (
            (0, 2**bits - 1) if kind.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        )
        samples: list[Any] = [
            low,
            high,
            0,
            1,
            low + 1,
            high - 1,
            2**63 - 1,
            -(2**63),
            2**64 - 1,
            2**64,
        ]
        samples = [s for s in samples if low <= s <= high]
    elif kind == "address":
        samples = [
            "0x" + "00" * 20,
            "0x" + "ff" * 20,
            "0X" + "Ab" * 20,
            "0x" + "AB" * 20,
            address(1),
            b"\x01" * 20,
        ]
    elif kind == "bool":
        samples = [True, False]
    else:
        size = int(kind[5:])
        samples = [b"", b"\xff" * size, b"\x01", bytearray(b"\x02" * size)]
    rows = [[s] for s in samples]
    # The whole column, and each value alone (the per-value path), both equal eth_abi.
    _, encoded = LeafCodec([kind]).encode_rows(rows, str)

    assert encoded == b"".join(abi_encode([kind], row) for row in rows)
    for row in rows:
        assert LeafCodec([kind]).encode_one(row, "value")[1] == abi_encode([kind], row)


@given(
    st.integers(-(2**257), 2**257), st.sampled_from(["uint8", "uint256", "int8", "int64", "int256"])
)
def test_fast_encoding_refuses_what_eth_abi_refuses(number: int, kind: str) -> None:
    try:
        expected: bytes | None = abi_encode([kind], [number])
    except (eth_abi.exceptions.EncodingError, OverflowError):
        expected = None

    if expected is None:
        with pytest.raises(MerkleInputError, match="out of range"):
            LeafCodec([kind]).encode_rows([[number], [0]], str)
    else:
        assert LeafCodec([kind]).encode_rows([[number], [0]], str)[1] == expected + abi_encode(
            [kind], [0]
        )


def test_large_batches_take_every_column_path() -> None:
    rng = random.Random(5)
    encoding = ["uint256", "uint256", "int256", "int256", "uint64", "address", "bytes32", "bool"]
    rows: list[list[Any]] = [
        [
            7,  # constant
            rng.randrange(2**64),  # fits 64 bits
            rng.randrange(-(2**63), 2**63),  # fits int64, negative values included
            rng.randrange(-(2**255), 2**255),  # full width, signed
            str(rng.randrange(2**64)),  # needs coercion
            address(i).lower(),
            rng.randbytes(32),
            rng.random() < 0.5,
        ]
        for i in range(3000)
    ]
    rows[0][1] = 2**200  # one large value sends the column to int.to_bytes

    values, encoded = LeafCodec(encoding).encode_rows(rows, str)

    assert encoded == b"".join(abi_encode(encoding, [*r[:4], int(r[4]), *r[5:]]) for r in rows)
    assert values[0][4] == int(rows[0][4])


def test_empty_batches_encode_to_nothing() -> None:
    assert LeafCodec(PAIR).encode_rows([], str) == ([], b"")
    assert LeafCodec(["string"]).encode_rows([], str) == ([], [])


def test_keccak_batches_agree_with_eth_hash() -> None:
    messages = [random.Random(i).randbytes(i) for i in range(0, 300, 7)]
    expected = [keccak(m) for m in messages]

    # A known answer, so the comparison does not rest on eth_hash picking another library.
    assert _keccak.keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert [_keccak.keccak256(m) for m in messages] == expected
    assert _keccak.leaf_hash_list(messages) == b"".join(keccak(e) for e in expected)
    block = b"".join(m.ljust(64, b"\0")[:64] for m in messages)
    assert _keccak.keccak256_each(block, 64) == b"".join(
        keccak(block[i : i + 64]) for i in range(0, len(block), 64)
    )
    assert _keccak.leaf_hash_each(block, 64) == b"".join(
        keccak(keccak(block[i : i + 64])) for i in range(0, len(block), 64)
    )


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    count=st.integers(min_value=2, max_value=40),
    data=st.data(),
)
def test_get_proof_finds_any_corrupted_node_on_the_path_whatever_was_proven_before(
    count: int, data: st.DataObject
) -> None:
    tree = StandardMerkleTree.of(pairs(count), PAIR)
    earlier = data.draw(st.lists(st.integers(0, count - 1), max_size=count), label="earlier")
    before = [tree.get_proof(i) for i in earlier]
    assert before == [tree.get_all_proofs()[i] for i in earlier]
    target = data.draw(st.integers(0, count - 1), label="target")
    path = [tree._tree_index_list[target]]
    while path[-1] > 0:
        path.append((path[-1] - 1) >> 1)
    # Corrupt a node on the path or its sibling, in a fresh copy (nothing checked yet)
    # and in the tree whose earlier proofs were already taken.
    node = data.draw(st.sampled_from(path), label="node")
    if node and data.draw(st.booleans(), label="sibling"):
        node = node + 1 if node & 1 else node - 1
    for broken in (StandardMerkleTree.of(pairs(count), PAIR), tree):
        nodes = bytearray(broken._tree)
        nodes[32 * node] ^= 1
        broken._tree = bytes(nodes)
        broken._hex = None
        fresh = broken is not tree
        if fresh or not any(_path_checked(tree, i, node) for i in earlier):
            with pytest.raises(MerkleError, match="unable to prove"):
                broken.get_proof(target)


def _path_checked(tree: StandardMerkleTree, earlier: int, node: int) -> bool:
    # Whether an earlier proof already checked the parent of ``node`` (then the node, an
    # immutable byte string since, is trusted: corrupting it afterwards is not a case
    # get_proof is meant to catch).
    walk = tree._tree_index_list[earlier]
    parents = set()
    while walk > 0:
        walk = (walk - 1) >> 1
        parents.add(walk)
    return node == 0 or ((node - 1) >> 1) in parents


@settings(max_examples=60, derandomize=True, deadline=None)
@given(count=st.integers(min_value=1, max_value=70), data=st.data())
def test_proofs_json_is_each_get_proof_written_as_a_json_array(
    count: int, data: st.DataObject
) -> None:
    tree = StandardMerkleTree.of(pairs(count), PAIR)
    leaves = data.draw(st.lists(st.integers(0, count - 1), max_size=2 * count), label="leaves")
    written = tree.proofs_json(leaves)
    assert written == [",".join(f'"{n}"' for n in tree.get_proof(i)) for i in leaves]
    assert [json.loads(f"[{w}]") for w in written] == [tree.get_proof(i) for i in leaves]


@settings(max_examples=30, derandomize=True, deadline=None)
@given(count=st.integers(min_value=2, max_value=40), data=st.data())
def test_proofs_json_refuses_a_tree_with_any_corrupted_node(
    count: int, data: st.DataObject
) -> None:
    broken = StandardMerkleTree.of(pairs(count), PAIR)
    node = data.draw(st.integers(0, 2 * count - 2), label="node")
    nodes = bytearray(broken._tree)
    nodes[32 * node] ^= 1
    broken._tree = bytes(nodes)
    # Whichever leaf is asked for: the whole tree is checked before any proof is given.
    leaf_index = data.draw(st.integers(0, count - 1), label="leaf")
    with pytest.raises(MerkleError, match="tree is corrupted"):
        broken.proofs_json([leaf_index])


def test_proofs_json_refuses_an_index_out_of_range(tree: StandardMerkleTree) -> None:
    assert tree.proofs_json([]) == []
    with pytest.raises(MerkleInputError, match="index 13 is out of range"):
        tree.proofs_json([0, 13])
    with pytest.raises(MerkleInputError, match="index -1 is out of range"):
        tree.proofs_json([-1])
