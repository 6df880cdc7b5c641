"""Benchmark: the Merkle tree of 1,000,000 settlement leaves, with every proof.

Prints a table, then one JSON line. Leaves use the settlement encoding
``(chainId, settlement, epoch, index, account, amount, amountBefore)``. Each run is a fresh
subprocess, so its peak RSS (``resource.getrusage`` once all proofs exist; it includes the
interpreter and the input values) is its own; the dump is timed after, with its own peak.
Two baselines run in the same invocation, on fewer leaves, and are labelled:

- ``reference``: ``@openzeppelin/merkle-tree`` through node, ``StandardMerkleTree.of`` then
  ``getProof`` for every leaf (skipped when node or node_modules is missing). 20,000
  leaves by default: at 100,000 it alone takes over two minutes here;
- ``naive``: Python as one would first write it, ``eth_abi.encode`` and ``eth_hash``'s
  ``keccak`` per leaf and per node, and a walk up the tree for each proof.

Every baseline must produce the root ``ame_chain.merkle`` produces for the same leaves,
and sampled proofs from ``get_all_proofs`` must equal ``get_proof``; the script exits 1
otherwise. Beside the build with ``get_all_proofs``, each size also times what the JS
script does call for call, a fresh ``StandardMerkleTree.of`` then ``get_proof`` for every
leaf, and that is compared with the JS baseline too (target: at least 30x at 100,000). Target: build plus all proofs of 1,000,000 leaves in at most 20 s.

Usage::

    .venv/bin/python bench/merkle.py
    .venv/bin/python bench/merkle.py --sizes 100000 --reference-leaves 5000 --naive-leaves 5000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench._machine import describe  # noqa: E402

TARGET_SECONDS = 20.0
# Issue #16: of + get_proof for every leaf at 100,000, against the JS library doing the same.
TARGET_GET_PROOF_SPEEDUP = 30.0
ENCODING = ["uint256", "address", "uint256", "uint256", "address", "uint256", "uint256"]
CHAIN_ID = 31337
SETTLEMENT = "0x5FbDB2315678afecb367f032d7F3EE2a5A6fF4F8"
EPOCH = 4

REFERENCE_SCRIPT = """
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const fs = require('fs');
const [file, encoding] = [process.argv[1], JSON.parse(process.argv[2])];
const values = JSON.parse(fs.readFileSync(file, 'utf8'));
const start = process.hrtime.bigint();
const tree = StandardMerkleTree.of(values, encoding);
const built = process.hrtime.bigint();
const proofs = values.map((_, i) => tree.getProof(i));
const done = process.hrtime.bigint();
console.log(JSON.stringify({
  root: tree.root,
  proofs_sample: [0, values.length - 1].map(i => proofs[i]),
  build_s: Number(built - start) / 1e9,
  proofs_s: Number(done - built) / 1e9,
  peak_rss_mb: process.resourceUsage().maxRSS / 1024,
}));
"""


def settlement_values(count: int) -> list[list[Any]]:
    """``count`` settlement leaves: distinct accounts, amounts up to 10**24 wei, running sums."""
    rng = random.Random(20240601)
    values: list[list[Any]] = []
    before = 0
    for index in range(count):
        account = f"0x{(index * 0x9E3779B97F4A7C15 + 1) % (1 << 160):040x}"
        amount = rng.randrange(1, 10**24)
        values.append([CHAIN_ID, SETTLEMENT, EPOCH, index, account, amount, before])
        before += amount
    return values


def peak_rss_mb() -> float:
    """Peak resident set of this process, in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ame(count: int) -> dict[str, Any]:
    """Build the tree and all proofs with ``ame_chain.merkle``; this process is fresh."""
    from ame_chain.merkle import StandardMerkleTree

    values = settlement_values(count)
    rss_inputs = peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    tree = StandardMerkleTree.of(values, ENCODING)
    build_wall, build_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    proofs = tree.get_all_proofs()
    proofs_wall, proofs_cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss_proofs = peak_rss_mb()
    sample = random.Random(count).sample(range(count), min(count, 200))
    consistent = all(proofs[i] == tree.get_proof(i) for i in sample)
    # Like for like with the JS baseline: a fresh tree, then get_proof leaf by leaf.
    del tree
    wall = time.perf_counter()
    fresh = StandardMerkleTree.of(values, ENCODING)
    each = [fresh.get_proof(i) for i in range(count)]
    each_wall = time.perf_counter() - wall
    consistent = consistent and all(each[i] == proofs[i] for i in sample)
    del each
    tree = fresh
    wall = time.perf_counter()
    dumped = json.dumps(tree.dump())
    dump_wall = time.perf_counter() - wall
    return {
        "root": tree.root,
        "proofs_sample": [proofs[0], proofs[-1]],
        "proofs_consistent": consistent,
        "build_s": build_wall,
        "proofs_s": proofs_wall,
        "build_cpu_s": build_cpu,
        "proofs_cpu_s": proofs_cpu,
        "of_and_each_get_proof_s": each_wall,
        "dump_json_s": dump_wall,
        "dump_mb": len(dumped) / 2**20,
        "peak_rss_mb": rss_proofs,
        "dump_peak_rss_mb": peak_rss_mb(),
        "inputs_rss_mb": rss_inputs,
    }


def run_naive(count: int) -> dict[str, Any]:
    """The first thing one would write: ``eth_abi`` and ``keccak`` one leaf, one node at a time.

    This baseline hashes with ``eth_hash`` as it comes.
    """
    from eth_abi.abi import encode
    from eth_hash.auto import keccak

    values = settlement_values(count)
    wall = time.perf_counter()
    leaves = sorted(keccak(keccak(encode(ENCODING, value))) for value in values)
    tree: list[bytes] = [b""] * (2 * count - 1)
    for position, leaf in enumerate(leaves):
        tree[len(tree) - 1 - position] = leaf
    for i in range(count - 2, -1, -1):
        a, b = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = keccak(a + b if a <= b else b + a)
    position_of = {leaf: len(tree) - 1 - position for position, leaf in enumerate(leaves)}
    build = time.perf_counter() - wall
    wall = time.perf_counter()
    proofs = []
    for value in values:
        node = position_of[keccak(keccak(encode(ENCODING, value)))]
        proof = []
        while node > 0:
            proof.append("0x" + tree[node + 1 if node % 2 else node - 1].hex())
            node = (node - 1) // 2
        proofs.append(proof)
    return {
        "root": "0x" + tree[0].hex(),
        "proofs_sample": [proofs[0], proofs[-1]],
        "build_s": build,
        "proofs_s": time.perf_counter() - wall,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_reference(count: int) -> dict[str, Any] | None:
    """The JS library through node, or ``None`` when node or node_modules is missing.

    Node hashes with the library's own Keccak.
    """
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
        return None
    # JS users pass uint256 values as decimal strings (JSON cannot hold a bigint).
    values = [
        [str(v) if isinstance(v, int) else v for v in row] for row in settlement_values(count)
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(values, handle)
    try:
        done = subprocess.run(
            [node, "-e", REFERENCE_SCRIPT, handle.name, json.dumps(ENCODING)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
    finally:
        os.unlink(handle.name)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


RUNNERS = {"ame": run_ame, "naive": run_naive, "reference": run_reference}


def in_subprocess(kind: str, count: int) -> Any:
    """Run one measurement in a fresh interpreter, so peak RSS and caches are its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(count)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[10_000, 100_000, 1_000_000],
        help="comma-separated leaf counts for ame_chain.merkle (default: 10000,100000,1000000)",
    )
    parser.add_argument(
        "--reference-leaves", type=int, default=20_000, help="0 skips the JS baseline"
    )
    parser.add_argument(
        "--naive-leaves", type=int, default=20_000, help="0 skips the naive baseline"
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "LEAVES"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        kind, count = args.worker
        print(json.dumps(RUNNERS[kind](int(count))))
        return 0

    sizes = sorted(set(args.sizes) | {n for n in (args.reference_leaves, args.naive_leaves) if n})
    ame = {n: in_subprocess("ame", n) for n in sizes}
    baselines = {
        kind: (n, in_subprocess(kind, n))
        for kind, n in (("reference", args.reference_leaves), ("naive", args.naive_leaves))
        if n
    }

    failures = [
        f"{kind} at {n} leaves: root {result['root']} or sampled proofs differ from ame_chain.merkle"
        for kind, (n, result) in baselines.items()
        if result is not None
        and (result["root"] != ame[n]["root"] or result["proofs_sample"] != ame[n]["proofs_sample"])
    ]
    failures += [
        f"ame at {n} leaves: get_all_proofs != get_proof"
        for n, r in ame.items()
        if r and not r["proofs_consistent"]
    ]

    print(
        f"AME Merkle benchmark ({platform.python_implementation()} {platform.python_version()}, "
        f"{describe()})"
    )
    header = f"{'implementation':<34}{'leaves':>10}{'build s':>10}{'proofs s':>10}{'total s':>10}{'peak RSS MB':>13}"
    print(header)
    print("-" * len(header))
    for n, r in ame.items():
        total = r["build_s"] + r["proofs_s"]
        print(
            f"{'ame_chain.merkle':<34}{n:>10,}{r['build_s']:>10.2f}{r['proofs_s']:>10.2f}{total:>10.2f}{r['peak_rss_mb']:>13.0f}"
        )
    labels = {
        "reference": "baseline: @openzeppelin/merkle-tree",
        "naive": "baseline: naive eth_abi + keccak",
    }
    for kind, (n, r) in baselines.items():
        if r is None:
            print(f"{labels[kind]:<34}{n:>10,}  skipped: node or node_modules missing")
            continue
        total = r["build_s"] + r["proofs_s"]
        print(
            f"{labels[kind]:<34}{n:>10,}{r['build_s']:>10.2f}{r['proofs_s']:>10.2f}{total:>10.2f}{r['peak_rss_mb']:>13.0f}"
        )

    largest = max(ame)
    top = ame[largest]
    total = top["build_s"] + top["proofs_s"]
    print(
        f"\n{largest:,} leaves: build + all proofs {total:.2f} s wall "
        f"({top['build_cpu_s'] + top['proofs_cpu_s']:.2f} s CPU), target <= {TARGET_SECONDS:.0f} s "
        f"at 1,000,000: {'met' if largest < 1_000_000 or total <= TARGET_SECONDS else 'MISSED'}; "
        f"dump as JSON {top['dump_json_s']:.2f} s, {top['dump_mb']:.0f} MB "
        f"(peak RSS then {top['dump_peak_rss_mb']:.0f} MB); "
        f"peak RSS includes {top['inputs_rss_mb']:.0f} MB before the build (interpreter, imports, input values)"
    )
    speedups = {}
    for kind, (n, r) in baselines.items():
        if r is not None:
            speedups[kind] = (r["build_s"] + r["proofs_s"]) / (
                ame[n]["build_s"] + ame[n]["proofs_s"]
            )
            print(
                f"speed-up over {labels[kind].removeprefix('baseline: ')} at {n:,} leaves: {speedups[kind]:.0f}x"
            )
            if kind == "reference":
                # What the JS script does, call for call: of, then getProof for each leaf.
                speedups["reference_get_proof"] = (r["build_s"] + r["proofs_s"]) / ame[n][
                    "of_and_each_get_proof_s"
                ]
                print(
                    f"  the same, StandardMerkleTree.of + get_proof for every leaf (as the JS "
                    f"does): {ame[n]['of_and_each_get_proof_s']:.2f} s, "
                    f"{speedups['reference_get_proof']:.1f}x (target >= {TARGET_GET_PROOF_SPEEDUP:.0f}x)"
                )
    for failure in failures:
        print(f"MISMATCH: {failure}")

    result = {
        "bench": "merkle",
        "encoding": ENCODING,
        "target_s": TARGET_SECONDS,
        "ame": {
            str(n): {
                k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in r.items()
                if k not in ("proofs_sample",)
            }
            for n, r in ame.items()
        },
        "baselines": {
            kind: None
            if r is None
            else {"leaves": n, **{k: round(v, 3) for k, v in r.items() if isinstance(v, float)}}
            for kind, (n, r) in baselines.items()
        },
        "speedup": {k: round(v, 1) for k, v in speedups.items()},
        "consistent": not failures,
    }
    print(json.dumps(result, sort_keys=True))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
