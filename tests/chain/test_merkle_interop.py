"""Interop with the reference, ``@openzeppelin/merkle-tree``, run through node.

For each value set, the Python tree and the JS tree must agree on the root, every proof,
every leaf hash, multiproofs, the dump (field for field) and the rendering; each side
must load the other's dump, and verify the other's proofs.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from ame_chain.merkle import StandardMerkleTree

REPO = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).parent / "js" / "merkle_reference.cjs"
REFERENCE = REPO / "node_modules" / "@openzeppelin" / "merkle-tree"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(
        NODE is None or not REFERENCE.is_dir(),
        reason="needs node and node_modules/@openzeppelin/merkle-tree (run `make setup`)",
    ),
]

SETTLEMENT = ["uint256", "address", "uint256", "uint256", "address", "uint256", "uint256"]


def run_reference(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Answers of the JS library to ``requests`` (see ``js/merkle_reference.cjs``)."""
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(HELPER)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
    )
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    return answers


def js_form(value: Any) -> Any:
    """A Python leaf value as a JS user writes it: integers as decimal strings, bytes as hex."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return [js_form(v) for v in value]


def as_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


def address(seed: int) -> str:
    return to_checksum_address(random.Random(seed).randbytes(20))


def settlement_values(count: int) -> list[list[Any]]:
    contract = address(-1)
    rng = random.Random(7)
    values: list[list[Any]] = []
    before = 0
    for index in range(count):
        amount = rng.randrange(1, 10**24)
        values.append([31337, contract, 4, index, address(index), amount, before])
        before += amount
    return values


def address_amounts(count: int, seed: int = 1) -> list[list[Any]]:
    rng = random.Random(seed)
    return [[address(seed * 1000 + i), rng.randrange(2**256)] for i in range(count)]


def random_bytes(count: int, size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(size) for _ in range(count)]


CASES: list[tuple[str, list[str], list[list[Any]], bool]] = [
    ("settlement-7", SETTLEMENT, settlement_values(7), True),
    ("address-uint256-1", ["address", "uint256"], address_amounts(1), True),
    ("address-uint256-2", ["address", "uint256"], address_amounts(2), True),
    ("address-uint256-3", ["address", "uint256"], address_amounts(3), True),
    ("address-uint256-8", ["address", "uint256"], address_amounts(8), True),
    ("address-uint256-33", ["address", "uint256"], address_amounts(33), True),
    ("address-uint256-unsorted-9", ["address", "uint256"], address_amounts(9, seed=2), False),
    ("bytes32", ["bytes32"], [[b] for b in random_bytes(5, 32, seed=3)], True),
    (
        "bool-ints",
        ["bool", "int8", "int256", "uint8", "int64"],
        [
            [True, -128, -(2**255), 0, -(2**63)],
            [False, 127, 2**255 - 1, 255, 2**63 - 1],
            [True, 0, -1, 1, -1],
            [False, -1, 12345678901234567890123, 7, 42],
        ],
        True,
    ),
    (
        "bytes-n",
        ["bytes1", "bytes4", "bytes20", "bytes32"],
        [
            [b"\x01", b"\x12\x34", bytes(20), bytes(range(32))],
            [b"\xff", b"\xde\xad\xbe\xef", bytes(range(20)), b"\x00" * 31 + b"\x01"],
            [b"", b"", b"\x01", b""],
        ],
        True,
    ),
    (
        "dynamic",
        ["string", "bytes", "address"],
        [
            ["", b"", address(1)],
            ["héllo ✓ payouts", bytes(range(100)), address(2)],
            ["x" * 70, b"\x00", address(3)],
            ["a", random_bytes(1, 33, seed=4)[0], address(4)],
            ["b", b"\xff" * 64, address(5)],
        ],
        True,
    ),
    (
        "arrays-tuples",
        ["uint256[]", "(uint256,address)", "bytes32[2]"],
        [
            [[], (1, address(1)), [bytes(32), bytes(range(32))]],
            [[1, 2, 3], (2**256 - 1, address(2)), [b"\x01" * 32, b"\x02" * 32]],
            [[7], (0, address(3)), [b"\x03" * 32, b"\x04" * 32]],
        ],
        True,
    ),
    ("duplicates", ["address", "uint256"], address_amounts(3) + address_amounts(2), True),
]


def multi_index_sets(count: int) -> list[list[int]]:
    rng = random.Random(count)
    sets = [[], [0], list(range(count)), [count - 1, 0]]
    if count > 3:
        sets.append(sorted(rng.sample(range(count), count // 2)))
    return [s for s in sets if len(set(s)) == len(s)]


@pytest.mark.parametrize(
    ("encoding", "values", "sort_leaves"),
    [pytest.param(e, v, s, id=name) for name, e, v, s in CASES],
)
def test_tree_matches_reference(
    encoding: list[str], values: list[list[Any]], sort_leaves: bool
) -> None:
    tree = StandardMerkleTree.of(values, encoding, sort_leaves=sort_leaves)
    multi = multi_index_sets(len(values))
    [js] = run_reference(
        [
            {
                "op": "of",
                "values": js_form(values),
                "encoding": encoding,
                "sortLeaves": sort_leaves,
                "multi": multi,
            }
        ]
    )

    assert tree.root == js["root"]
    assert [tree.get_proof(i) for i in range(len(values))] == js["proofs"]
    assert tree.get_all_proofs() == js["proofs"]
    assert [tree.leaf_hash(v) for v in values] == js["leafHashes"]
    assert as_json(tree.dump()) == js["dump"]
    assert tree.render() == js["render"]
    for indices, js_multi in zip(multi, js["multi"], strict=True):
        multiproof = tree.get_multi_proof(indices)
        assert multiproof["proof"] == js_multi["proof"]
        assert multiproof["proofFlags"] == js_multi["proofFlags"]
        assert js_form(multiproof["leaves"]) == js_multi["leaves"]


@pytest.mark.parametrize(
    ("encoding", "values", "sort_leaves"),
    [pytest.param(e, v, s, id=name) for name, e, v, s in CASES],
)
def test_dumps_load_on_the_other_side(
    encoding: list[str], values: list[list[Any]], sort_leaves: bool
) -> None:
    tree = StandardMerkleTree.of(values, encoding, sort_leaves=sort_leaves)
    python_dump = as_json(tree.dump())
    js_of, js_loaded = run_reference(
        [
            {
                "op": "of",
                "values": js_form(values),
                "encoding": encoding,
                "sortLeaves": sort_leaves,
            },
            {"op": "load", "dump": python_dump},
        ]
    )

    assert js_loaded["root"] == tree.root
    assert js_loaded["dump"] == python_dump
    assert js_loaded["proofs"] == tree.get_all_proofs()

    from_js = StandardMerkleTree.load(js_of["dump"])
    assert from_js.root == tree.root
    assert as_json(from_js.dump()) == js_of["dump"]
    assert from_js.get_all_proofs() == js_of["proofs"]
    assert [value for _, value in from_js] == [value for _, value in tree]


def test_reference_verifies_python_proofs_and_multiproofs() -> None:
    values = settlement_values(11)
    tree = StandardMerkleTree.of(values, SETTLEMENT)
    multiproof = tree.get_multi_proof([1, 4, 9])
    forged = {**multiproof, "proofFlags": [not f for f in multiproof["proofFlags"]]}
    requests: list[dict[str, Any]] = [
        {
            "op": "verify",
            "root": tree.root,
            "encoding": SETTLEMENT,
            "value": js_form(values[i]),
            "proof": tree.get_proof(i),
        }
        for i in range(len(values))
    ]
    requests.append(
        {
            "op": "verify",
            "root": tree.root,
            "encoding": SETTLEMENT,
            "value": js_form(values[0]),
            "proof": tree.get_proof(1),
        }
    )
    for candidate in (multiproof, forged):
        requests.append(
            {
                "op": "verifyMulti",
                "root": tree.root,
                "encoding": SETTLEMENT,
                "multiproof": {**candidate, "leaves": js_form(candidate["leaves"])},
            }
        )
    answers = run_reference(requests)

    assert [a["ok"] for a in answers[: len(values)]] == [True] * len(values)
    assert answers[len(values)]["ok"] is False
    assert answers[-2]["ok"] is True
    assert answers[-1].get("ok") is not True
    assert StandardMerkleTree.verify_multi_proof_against(tree.root, SETTLEMENT, multiproof)


def test_random_static_encodings_match_reference() -> None:
    rng = random.Random(2024)
    kinds = [
        "uint8",
        "uint64",
        "uint256",
        "int16",
        "int256",
        "address",
        "bool",
        "bytes3",
        "bytes32",
    ]

    def draw(kind: str) -> Any:
        if kind.startswith(("uint", "int")):
            bits = int(kind.lstrip("uint"))
            low, high = (
                (0, 2**bits - 1)
                if kind.startswith("u")
                else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
            )
            return rng.choice([low, high, 0, rng.randint(low, high)])
        if kind == "address":
            return rng.choice([to_checksum_address, str.lower])(address(rng.randrange(10**6)))
        if kind == "bool":
            return rng.random() < 0.5
        return rng.randbytes(rng.randint(0, int(kind[5:])))

    cases = []
    for _ in range(12):
        encoding = [rng.choice(kinds) for _ in range(rng.randint(1, 6))]
        values = [[draw(k) for k in encoding] for _ in range(rng.randint(1, 40))]
        cases.append((encoding, values))
    answers = run_reference([{"op": "of", "values": js_form(v), "encoding": e} for e, v in cases])

    for (encoding, values), js in zip(cases, answers, strict=True):
        tree = StandardMerkleTree.of(values, encoding)
        assert tree.root == js["root"], encoding
        assert tree.get_all_proofs() == js["proofs"], encoding
        assert as_json(tree.dump()) == js["dump"], encoding


def test_tampered_dump_is_refused_by_both() -> None:
    tree = StandardMerkleTree.of(address_amounts(4), ["address", "uint256"])
    dump = as_json(tree.dump())
    dump["values"][2]["value"][1] = "1"
    [js] = run_reference([{"op": "load", "dump": dump}])

    assert "error" in js
    with pytest.raises(ValueError, match=r"values\[2\]"):
        StandardMerkleTree.load(dump)
