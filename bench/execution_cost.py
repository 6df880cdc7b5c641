"""Execution cost: gas per contributor paid, against the number of contributors n.

For n in {10; 100; 1,000; 10,000; 100,000} contributors, each paid once per epoch:

* **AME, ``claim``**: the operator proposes and finalises one epoch (gas constant in n),
  then every contributor sends one ``claim``.
* **AME, ``claimMany``**: the same, the leaves claimed in batches of 100.
* **Naive** (the baseline, measured in the same run): the operator pays every contributor
  directly through ``contracts/test/NaiveDistributor.sol``, in batches of 500 that fit a
  block. It is cheapest but trusts the operator entirely and makes it pay for everyone.

Per contributor = (operator's propose + finalise + all claim transactions) / n for AME, and
all batch transactions / n for the naive loop, every transaction's 21,000 base included.
Each is measured for ETH and an ERC-20 (OpenZeppelin 5), twice over the same contributors:
their *first* payment (new recipients: an empty account, a zero token balance) and a
*repeat* payment in the next epoch (existing holders, the steady state of regular
settlement). ERC-20 approvals are standing ones and not counted, for AME and naive alike.

**Measured and extrapolated.** Every transaction is measured up to 10,000 contributors, and
the naive loop at every n. Beyond 10,000 the claims are measured on a sample:
``--sample-blocks`` blocks of 6,400 consecutive leaves (25 whole 256-leaf bitmap words, 64
whole ``claimMany`` batches), chosen with ``--seed``; their mean gas per leaf times n is the
total. That is sound because a claim's gas depends only on its proof depth (the tree places
leaves in hash order, so a block of indices holds the tree's mix of depths), on whether it
opens its bitmap word (cold, zero storage) or not (warm), on the recipient's state, and on
calldata bytes; nothing else grows with n. As a check, the same estimator is applied to the
fully measured 10,000 run and its error printed.

Runs on a local Anvil (Prague rules, the chain ``ame_chain.chains.AnvilChain`` starts and
stops), which runs ~100,000 transactions in minutes where the in-process chain would take
hours. Transactions are sent from Anvil's unlocked development accounts and pipelined (sent
first, mined in full blocks, receipts read after): who signs does not change the gas, and
signing them in Python would take longer than running them. Gas is gas used from receipts.

Prints a table, then one JSON line; writes ``docs/img/execution_cost.png``, the
``## Execution cost`` section of ``docs/evaluation.md`` and the README's block, each between
``<!-- execution-cost:begin -->`` / ``<!-- execution-cost:end -->`` markers.

Usage: ``python bench/execution_cost.py [--smoke] [--sample-blocks 2] [--seed 0]``
(``--smoke``: n in {10, 100}, writes nothing unless paths are given).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from gas import AMOUNT, Bench

from ame_chain.chains import AnvilChain
from ame_chain.contracts import load_artifact
from ame_chain.errors import decode_revert, revert_data
from ame_chain.leaves import EpochHeader, PayoutLeaf, build_leaves
from ame_chain.tx import Transactor

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: only bench/ is on the path
    sys.path.insert(0, str(ROOT))
from bench._docblocks import add_output_options, fill, replace_block  # noqa: E402

NS = (10, 100, 1_000, 10_000, 100_000)
SMOKE_NS = (10, 100)
FULL_UP_TO = 10_000
CLAIM_BATCH = 100
NAIVE_BATCH = 500
BITMAP_WORD = 256
SAMPLE_BLOCK = math.lcm(BITMAP_WORD, CLAIM_BATCH)  # 6,400: whole bitmap words and whole batches
TOKENS = ("eth", "erc20")
ROUNDS = ("first", "repeat")
METHODS = ("claim", "claim_many", "naive")
BEGIN, END = "<!-- execution-cost:begin -->", "<!-- execution-cost:end -->"
# Far above any base fee these runs reach; what is paid is the base fee only.
MAX_FEE = 10**12
# Gas limit per claimed leaf: above the costliest claim (ETH to a new account, first in its
# bitmap word, depth 17 is about 115,000), low enough to pack a block with claims.
CLAIM_GAS_LIMIT = 150_000


def _abi_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


class Calldata:
    """Calldata of one contract function, encoded with ``eth_abi`` straight from the ABI.

    web3's own encoder normalises and validates every argument again, which costs more
    than the transaction on Anvil; the first use is checked against it.
    """

    def __init__(self, contract: Any, name: str) -> None:
        (entry,) = [e for e in contract.abi if e.get("type") == "function" and e["name"] == name]
        self.types = [_abi_type(p) for p in entry["inputs"]]
        self.selector = keccak(text=f"{name}({','.join(self.types)})")[:4]
        self._contract, self._name, self._checked = contract, name, False

    def __call__(self, *args: Any) -> str:
        data = "0x" + (self.selector + abi_encode(self.types, list(args))).hex()
        if not self._checked:
            expected = self._contract.encode_abi(self._name, args=list(args))
            if data != expected:
                raise AssertionError(f"{self._name}: calldata differs from web3's encoding")
            self._checked = True
        return data


class Pipeline:
    """Sends transactions from one of Anvil's unlocked accounts without waiting, then reads gas.

    Requests go straight to the provider: web3's request formatting costs four times the
    node's own work. Automining is off while transactions are pipelined, and blocks are
    mined full (``evm_mine``): Anvil snapshots its state for every block, which at one block
    per transaction costs more than the transactions once state has grown. Gas used never
    depends on block neighbours (warm/cold access is per transaction).
    """

    #: Transactions handed to the node's pool before mining them.
    FLUSH_EVERY = 1_000

    def __init__(self, chain: AnvilChain, sender: str) -> None:
        self.chain, self.sender = chain, sender
        self._hashes: list[str] = []
        self._nonce: int | None = None
        self._unmined = 0

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self.chain.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response["result"]

    def send(self, to: str, data: str, *, gas: int, value: int = 0) -> None:
        """Send one transaction without waiting for it to be mined."""
        if self._nonce is None:
            self._nonce = int(self._rpc("eth_getTransactionCount", [self.sender, "pending"]), 16)
            self._rpc("evm_setAutomine", [False])
        tx = {
            "from": self.sender,
            "to": to,
            "data": data,
            "value": hex(value),
            "gas": hex(gas),
            "nonce": hex(self._nonce),
            "maxFeePerGas": hex(MAX_FEE),
            "maxPriorityFeePerGas": "0x0",
        }
        self._hashes.append(self._rpc("eth_sendTransaction", [tx]))
        self._nonce += 1
        self._unmined += 1
        if self._unmined >= self.FLUSH_EVERY:
            self._mine_all()

    def _mine_all(self) -> None:
        deadline = time.monotonic() + 300
        while int(self._rpc("eth_getTransactionCount", [self.sender, "latest"]), 16) < (
            self._nonce or 0
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.sender}: transactions still pending after 300 s")
            self._rpc("evm_mine", [])
        self._unmined = 0

    def gas_used(self, label: str) -> list[int]:
        """Gas of every transaction sent since the last call, in order; raises if one failed."""
        if self._nonce is not None:
            self._mine_all()
            self._rpc("evm_setAutomine", [True])
        used = []
        for tx_hash in self._hashes:
            receipt = self._rpc("eth_getTransactionReceipt", [tx_hash])
            if int(receipt["status"], 16) != 1:
                raise RuntimeError(f"{label}: transaction {tx_hash} failed: {self._why(tx_hash)}")
            used.append(int(receipt["gasUsed"], 16))
        self._hashes, self._nonce = [], None
        return used

    def _why(self, tx_hash: str) -> object:
        # Replayed on the state before its block: exact when it came first in the block.
        tx: Any = self.chain.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        replay: Any = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx["input"],
            "value": tx["value"],
        }
        try:
            self.chain.w3.eth.call(replay, tx["blockNumber"] - 1)
        except Exception as err:
            data = revert_data(err)
            return (decode_revert(data) if data else None) or err
        return "no revert on replay (out of gas?)"


@dataclass(frozen=True)
class Cost:
    """One method at one n: total gas to pay all n contributors, and how it was obtained."""

    total: int
    per_contributor: int
    operator: int  # propose + finalise (AME); 0 for the naive loop
    transactions: int  # transactions measured
    leaves_measured: int  # contributors whose payment was measured
    extrapolated: bool
    max_tx_gas: int


def recipients(label: str, count: int) -> list[str]:
    """``count`` fresh, hash-derived addresses (few zero bytes: calldata costs what it would)."""
    prefix = f"execution-cost/{label}/".encode()
    return [to_checksum_address(keccak(prefix + i.to_bytes(8, "big"))[12:]) for i in range(count)]


def sample_positions(n: int, blocks: int, seed: int) -> list[int]:
    """Every position up to :data:`FULL_UP_TO`; beyond, ``blocks`` aligned blocks chosen by ``seed``."""
    if n <= FULL_UP_TO:
        return list(range(n))
    chosen = sorted(random.Random(seed).sample(range(n // SAMPLE_BLOCK), blocks))
    return [p for b in chosen for p in range(b * SAMPLE_BLOCK, (b + 1) * SAMPLE_BLOCK)]


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``size`` items (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Runner:
    """Runs every method on one chain: a steady-state settlement from ``bench/gas.py`` plus the baseline."""

    def __init__(self, chain: AnvilChain, *, sample_blocks: int, seed: int) -> None:
        self.chain, self.sample_blocks, self.seed = chain, sample_blocks, seed
        self.bench = Bench(chain=chain)
        w3 = chain.w3
        self.block_gas_limit = int(w3.eth.get_block("latest")["gasLimit"])
        settlement = self.bench.settlement.contract
        self.claim_data = Calldata(settlement, "claim")
        self.claim_many_data = Calldata(settlement, "claimMany")
        naive_artifact = load_artifact("NaiveDistributor")
        factory = w3.eth.contract(abi=naive_artifact.abi, bytecode=naive_artifact.bytecode)
        deployed = Transactor(w3, self.bench.admin).send(factory.constructor())
        self.naive = w3.eth.contract(
            address=deployed.receipt["contractAddress"], abi=naive_artifact.abi
        )
        self.naive_data = Calldata(self.naive, "distribute")
        self.naive_eth_data = Calldata(self.naive, "distributeEth")
        operator = Transactor(w3, self.bench.operator)
        operator.send(self.bench.token.functions.approve(self.naive.address, 2**256 - 1))
        claimer = chain.dev_accounts[4].address
        self.claims = Pipeline(chain, claimer)
        self.payer = Pipeline(chain, self.bench.operator.address)
        # Full per-position gas of fully measured claim runs, for the sampling check.
        self.trace: dict[tuple[int, str, str, str], list[int]] = {}

    def ame(self, n: int, token: str, method: str) -> dict[str, Cost]:
        """Pay ``n`` fresh contributors twice (first, repeat) through AME with ``method``."""
        leaves = build_leaves(
            {a: AMOUNT + i for i, a in enumerate(recipients(f"{method}/{token}/{n}", n))}
        )
        positions = sample_positions(n, self.sample_blocks, self.seed)
        out: dict[str, Cost] = {}
        for round_ in ROUNDS:
            header, tree, propose_gas, finalize_gas = self.bench.epoch_with(
                leaves, token=token == "erc20"
            )
            proofs = tree.tree.get_all_proofs()
            header_tuple = header.as_tuple()

            def proof(p: int, proofs: list[list[str]] = proofs) -> list[bytes]:
                return [bytes.fromhex(node[2:]) for node in proofs[p]]

            if method == "claim":
                for p in positions:
                    self.claims.send(
                        self.bench.settlement.address,
                        self.claim_data(header_tuple, leaves[p].as_tuple(), proof(p)),
                        gas=CLAIM_GAS_LIMIT,
                    )
            else:
                for batch in chunks(positions, CLAIM_BATCH):
                    claims = [(0, leaves[p].as_tuple(), proof(p)) for p in batch]
                    self.claims.send(
                        self.bench.settlement.address,
                        self.claim_many_data([header_tuple], claims),
                        gas=CLAIM_GAS_LIMIT * len(claims),
                    )
            gas = self.claims.gas_used(f"{method} {token} n={n} {round_}")
            _check_paid(self, header, leaves, positions)
            measured = sum(gas)
            extrapolated = len(positions) < n
            claims_total = round(measured * n / len(positions)) if extrapolated else measured
            operator = propose_gas + finalize_gas
            if not extrapolated:
                self.trace[(n, token, method, round_)] = gas
            out[round_] = Cost(
                total=operator + claims_total,
                per_contributor=round((operator + claims_total) / n),
                operator=operator,
                transactions=len(gas),
                leaves_measured=len(positions),
                extrapolated=extrapolated,
                max_tx_gas=max(gas),
            )
        return out

    def naive_loop(self, n: int, token: str) -> dict[str, Cost]:
        """Pay ``n`` fresh contributors twice (first, repeat) directly, in batches that fit a block."""
        accounts = recipients(f"naive/{token}/{n}", n)
        amounts = [AMOUNT + i for i in range(n)]
        out: dict[str, Cost] = {}
        for round_ in ROUNDS:
            for start in range(0, n, NAIVE_BATCH):
                batch = accounts[start : start + NAIVE_BATCH]
                paid = amounts[start : start + NAIVE_BATCH]
                if token == "erc20":
                    data = self.naive_data(self.bench.token.address, batch, paid)
                    self.payer.send(self.naive.address, data, gas=self.block_gas_limit)
                else:
                    data = self.naive_eth_data(batch, paid)
                    self.payer.send(
                        self.naive.address, data, gas=self.block_gas_limit, value=sum(paid)
                    )
            gas = self.payer.gas_used(f"naive {token} n={n} {round_}")
            out[round_] = Cost(
                total=sum(gas),
                per_contributor=round(sum(gas) / n),
                operator=0,
                transactions=len(gas),
                leaves_measured=n,
                extrapolated=False,
                max_tx_gas=max(gas),
            )
        return out


def _check_paid(
    runner: Runner, header: EpochHeader, leaves: list[PayoutLeaf], positions: list[int]
) -> None:
    # A claim that did nothing would cost little: make sure the first and last ones paid.
    for p in (positions[0], positions[-1]):
        if not runner.bench.settlement.is_claimed(header.epoch, leaves[p].index):
            raise RuntimeError(f"epoch {header.epoch}: leaf {leaves[p].index} was not paid")


def validation(runner: Runner, seed: int) -> list[dict[str, Any]]:
    """The sample estimator applied to fully measured claim runs with at least one sample block."""
    rows = []
    for (n, token, method, round_), gas in sorted(runner.trace.items()):
        if n < SAMPLE_BLOCK:
            continue
        chosen = sorted(random.Random(seed).sample(range(n // SAMPLE_BLOCK), 1))
        if method == "claim":
            sample = [
                gas[p] for b in chosen for p in range(b * SAMPLE_BLOCK, (b + 1) * SAMPLE_BLOCK)
            ]
            per_leaf = sum(sample) / len(sample)
        else:
            per_batch = SAMPLE_BLOCK // CLAIM_BATCH
            sample = [gas[i] for b in chosen for i in range(b * per_batch, (b + 1) * per_batch)]
            per_leaf = sum(sample) / SAMPLE_BLOCK
        estimate = round(per_leaf * n)
        rows.append(
            {
                "n": n,
                "token": token,
                "method": method,
                "round": round_,
                "sample_leaves": SAMPLE_BLOCK,
                "measured_claim_gas": sum(gas),
                "estimated_claim_gas": estimate,
                "relative_error": (estimate - sum(gas)) / sum(gas),
            }
        )
    return rows


def run(
    chain: AnvilChain,
    ns: Sequence[int],
    *,
    sample_blocks: int,
    seed: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Measure every method at every n on ``chain``; the report is what the JSON line prints."""
    runner = Runner(chain, sample_blocks=sample_blocks, seed=seed)
    results: dict[str, dict[str, dict[str, dict[str, Cost]]]] = {}
    for n in ns:
        for token in TOKENS:
            started = time.perf_counter()
            by_method = {
                "claim": runner.ame(n, token, "claim"),
                "claim_many": runner.ame(n, token, "claim_many"),
                "naive": runner.naive_loop(n, token),
            }
            results.setdefault(str(n), {})[token] = {
                round_: {m: by_method[m][round_] for m in METHODS} for round_ in ROUNDS
            }
            progress(f"n={n:,} {token}: {time.perf_counter() - started:.1f}s")
    operator = {
        token: [
            cost.operator
            for by_token in results.values()
            for by_method in by_token[token].values()
            for m, cost in by_method.items()
            if m != "naive"
        ]
        for token in TOKENS
    }
    return {
        "bench": "execution_cost",
        "chain": "Anvil",
        "ns": list(ns),
        "settings": {
            "claim_batch": CLAIM_BATCH,
            "naive_batch": NAIVE_BATCH,
            "full_up_to": FULL_UP_TO,
            "sample_block": SAMPLE_BLOCK,
            "sample_blocks": sample_blocks,
            "seed": seed,
            "block_gas_limit": runner.block_gas_limit,
        },
        "results": {
            n: {
                t: {r: {m: asdict(c) for m, c in by_m.items()} for r, by_m in by_r.items()}
                for t, by_r in by_t.items()
            }
            for n, by_t in results.items()
        },
        "operator_range": {t: [min(gas), max(gas)] for t, gas in operator.items()},
        "validation": validation(runner, seed),
    }


# ---------------------------------------------------------------------------- output


def _cell(cost: dict[str, Any]) -> str:
    # A trailing `*` marks a figure scaled up from a sample of claims.
    return f"{cost['per_contributor']:,}" + ("*" if cost["extrapolated"] else "")


def _pair(report: dict[str, Any], n: str, round_: str, method: str) -> str:
    by_token = report["results"][n]
    return " / ".join(_cell(by_token[t][round_][method]) for t in TOKENS)


def markdown_table(report: dict[str, Any], round_: str) -> str:
    """One row per n: operator cost per epoch and gas per contributor of each method."""
    lines = [
        "| contributors n | operator per epoch, ETH / ERC-20 | AME `claim` | AME `claimMany` (100) | naive loop (500) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in report["results"]:
        operator = " / ".join(
            f"{report['results'][n][t][round_]['claim']['operator']:,}" for t in TOKENS
        )
        cells = [_pair(report, n, round_, m) for m in METHODS]
        lines.append(f"| {int(n):,} | {operator} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _operator_range(report: dict[str, Any]) -> str:
    ranges = report["operator_range"]
    names = {"eth": "ETH", "erc20": "ERC-20"}
    return " and ".join(
        (f"{low:,}" if low == high else f"{low:,}-{high:,}") + f" gas ({names[t]})"
        for t, (low, high) in ((t, ranges[t]) for t in TOKENS)
    )


def _operator_spread(report: dict[str, Any]) -> float:
    return max((high - low) / low for low, high in report["operator_range"].values())


def _notes(report: dict[str, Any]) -> list[str]:
    s = report["settings"]
    extrapolated = [
        int(n)
        for n, by_t in report["results"].items()
        if any(
            c["extrapolated"]
            for by_r in by_t.values()
            for by_m in by_r.values()
            for c in by_m.values()
        )
    ]
    notes = [
        "Gas per contributor paid, ETH / ERC-20. AME figures include the operator's propose + "
        "finalise spread over the n contributors; every figure includes its transactions' "
        "21,000 base. The operator's propose + finalise measured "
        f"{_operator_range(report)} over every epoch at every n: constant in n (the spread, "
        f"{_operator_spread(report):.2%}, is calldata: the leaf count and pool in the header take "
        "more nonzero bytes as n grows)."
    ]
    if extrapolated:
        blocks = s["sample_blocks"]
        notes.append(
            f"`*` extrapolated: at n = {', '.join(f'{n:,}' for n in extrapolated)} the claims "
            f"were measured on {blocks} block{'s' if blocks > 1 else ''} of "
            f"{s['sample_block']:,} consecutive leaves chosen with seed {s['seed']} "
            f"({blocks * s['sample_block']:,} leaves per method, token and round, each a real "
            "transaction on the full tree) and scaled to n by their mean gas per leaf. A "
            "claim's gas depends only on its proof depth (leaves sit in the tree in hash order, "
            "so a block holds the tree's mix of depths), on whether it opens its 256-leaf bitmap "
            "word (a block holds whole words), on the recipient's state and on calldata bytes. "
            "The operator and the naive loop are measured in full at every n, and every "
            f"transaction up to n = {s['full_up_to']:,}."
        )
    else:
        notes.append("Every figure is measured: every transaction of every method.")
    if report["validation"]:
        worst = max(report["validation"], key=lambda v: abs(v["relative_error"]))
        notes.append(
            f"Check of the estimator on the fully measured runs: one block of "
            f"{s['sample_block']:,} leaves predicts the total claim gas within "
            f"{abs(worst['relative_error']):.2%} (worst of {len(report['validation'])}: "
            f"`{worst['method']}` {worst['token']} {worst['round']} payment at "
            f"n = {worst['n']:,})."
        )
    return notes


def _fill(text: str) -> str:
    return fill(text, width=92, break_long_words=False)


def markdown_section(report: dict[str, Any], image: str) -> str:
    """The ``## Execution cost`` section of docs/evaluation.md, markers included."""
    s = report["settings"]
    intro = (
        f"Generated by `python bench/execution_cost.py` on {report['chain']} (Prague rules); "
        "do not edit by hand. Each of n contributors is paid once per epoch: by AME, with one "
        "proposal and finalisation by the operator, then one `claim` per contributor or "
        f"`claimMany` batches of {s['claim_batch']}; or, as the baseline, by the operator "
        "paying everyone directly through a naive loop (`contracts/test/NaiveDistributor.sol`, "
        f"batches of {s['naive_batch']} that fit a {s['block_gas_limit']:,}-gas block). "
        "*First payment*: new recipients (an empty account, a zero token balance). *Repeat "
        "payment*: the same contributors in the next epoch, the steady state of regular "
        "settlement."
    )
    closing = (
        "The naive loop is cheapest per contributor, but it trusts the operator with every "
        "amount and makes it pay every recipient's gas. AME's claims buy a public, "
        "challengeable commitment (fraud proofs, disputes, a pool that can never be overdrawn) "
        "for an operator cost that does not grow with n and a per-contributor cost that grows "
        "only with the proof depth, log2 n."
    )
    notes = "\n\n".join(_fill(note) for note in _notes(report))
    return f"""{BEGIN}
## Execution cost

{_fill(intro)}

![Gas per contributor against n](img/{image})

### First payment (new recipients)

{markdown_table(report, "first")}

### Repeat payment (existing holders)

{markdown_table(report, "repeat")}

{notes}

{_fill(closing)}
{END}"""


def readme_block(report: dict[str, Any]) -> str:
    """The README's paragraph and steady-state table, markers included."""
    largest = report["results"][str(max(report["ns"]))]["erc20"]["repeat"]
    many, naive, single = largest["claim_many"], largest["naive"], largest["claim"]
    text = (
        "Paying n contributors, gas per contributor (`python bench/execution_cost.py` on "
        f"{report['chain']}; ETH / ERC-20, repeat payment to existing holders; `*` extrapolated "
        "from a sample of claims). AME includes the operator's propose + finalise, "
        f"{_operator_range(report)} per epoch whatever n. At n = {max(report['ns']):,}, an "
        f"ERC-20 contributor costs {many['per_contributor']:,} gas through `claimMany` and "
        f"{single['per_contributor']:,} through its own `claim`, against "
        f"{naive['per_contributor']:,} when the operator pays everyone in a loop "
        f"({many['per_contributor'] / naive['per_contributor']:.1f}x): the price of payouts "
        "anyone can check and challenge, and of not trusting the operator with the money. "
        "First payments, the plot and how each figure was obtained are in "
        "[docs/evaluation.md](docs/evaluation.md#execution-cost)."
    )
    return f"""{BEGIN}
{_fill(text)}

{markdown_table(report, "repeat")}
{END}"""


def plot(report: dict[str, Any], path: Path) -> None:
    """Gas per contributor against n (first and repeat payment) and the operator's cost per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    thousands = FuncFormatter(lambda y, _: f"{y / 1000:,.0f}k")
    ns = [int(n) for n in report["results"]]
    colours = {"claim": "tab:blue", "claim_many": "tab:green", "naive": "tab:red"}
    labels = {"claim": "AME claim", "claim_many": "AME claimMany (100)", "naive": "naive loop"}
    styles = {"eth": "-", "erc20": "--"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8))
    top = 1.1 * max(
        c["per_contributor"]
        for by_t in report["results"].values()
        for by_r in by_t.values()
        for by_m in by_r.values()
        for c in by_m.values()
    )
    for ax, round_ in zip(axes[:2], ROUNDS, strict=True):
        for method in METHODS:
            for token in TOKENS:
                costs = [report["results"][str(n)][token][round_][method] for n in ns]
                ax.plot(
                    ns,
                    [c["per_contributor"] for c in costs],
                    styles[token],
                    color=colours[method],
                    label=f"{labels[method]}, {token.upper()}",
                )
                for x, c in zip(ns, costs, strict=True):
                    ax.plot(
                        x,
                        c["per_contributor"],
                        "o",
                        color=colours[method],
                        markerfacecolor="white" if c["extrapolated"] else colours[method],
                    )
        ax.set_title(
            "first payment (new recipients)"
            if round_ == "first"
            else "repeat payment (existing holders)"
        )
        ax.set_ylabel("gas per contributor paid")
        ax.set_ylim(0, top)
    ax = axes[2]
    for token in TOKENS:
        ys = [report["results"][str(n)][token]["first"]["claim"]["operator"] for n in ns]
        ax.plot(
            ns, ys, styles[token] + "o", color="black", label=f"propose + finalise, {token.upper()}"
        )
    ax.set_title("AME operator cost per epoch")
    ax.set_ylabel("gas per epoch")
    ax.set_ylim(0, 1.4 * max(max(r) for r in report["operator_range"].values()))
    ax.legend(fontsize=8, loc="upper right")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("contributors n")
        ax.yaxis.set_major_formatter(thousands)
        ax.grid(True, alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.suptitle(
        "Execution cost on "
        + report["chain"]
        + " (hollow markers: extrapolated from a sample of claims)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def print_table(report: dict[str, Any]) -> None:
    """The terminal table: every n, token and round, with claimMany against the naive loop."""
    header = f"{'n':>8} {'token':<6} {'round':<7} {'operator':>9} {'claim':>10} {'claimMany':>10} {'naive':>10} {'claimMany/naive':>16}"
    print(header)
    print("-" * len(header))
    for n, by_token in report["results"].items():
        for token in TOKENS:
            for round_ in ROUNDS:
                c = by_token[token][round_]
                ratio = c["claim_many"]["per_contributor"] / c["naive"]["per_contributor"]
                print(
                    f"{int(n):>8,} {token:<6} {round_:<7} {c['claim']['operator']:>9,} "
                    f"{_cell(c['claim']):>10} {_cell(c['claim_many']):>10} {_cell(c['naive']):>10} "
                    f"{ratio:>15.2f}x"
                )
    print("-" * len(header))
    for note in _notes(report):
        print(_fill(note))


def write_outputs(report: dict[str, Any], args: argparse.Namespace) -> None:
    """The table, then the plot and markdown that were asked for, then the JSON line."""
    print_table(report)
    if args.plot:
        plot(report, args.plot)
    if args.markdown:
        image = args.plot.name if args.plot else "execution_cost.png"
        replace_block(
            args.markdown, markdown_section(report, image), append=True, new_file="Evaluation"
        )
    if args.readme:
        replace_block(args.readme, readme_block(report))
    print(json.dumps(report, sort_keys=True))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="n in {10, 100}; writes no file unless asked"
    )
    parser.add_argument(
        "--ns", type=int, nargs="+", help="contributor counts (default: 10 ... 100,000)"
    )
    parser.add_argument(
        "--sample-blocks",
        type=int,
        default=2,
        help=f"sampled blocks of {SAMPLE_BLOCK:,} leaves beyond {FULL_UP_TO:,}",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled blocks")
    add_output_options(parser, plot="docs/img/execution_cost.png", markdown="section")
    args = parser.parse_args(argv)
    if not args.smoke:
        args.plot = args.plot or ROOT / "docs" / "img" / "execution_cost.png"
        args.markdown = args.markdown or ROOT / "docs" / "evaluation.md"
        args.readme = args.readme or ROOT / "README.md"
    if args.render:
        lines = [line for line in args.render.read_text().splitlines() if line.startswith("{")]
        report = json.loads(lines[-1])
        if report.get("bench") != "execution_cost":
            raise SystemExit(f"{args.render}: no execution_cost JSON line")
        write_outputs(report, args)
        return 0
    ns = tuple(args.ns or (SMOKE_NS if args.smoke else NS))
    chain = AnvilChain()
    try:
        report = run(
            chain,
            ns,
            sample_blocks=args.sample_blocks,
            seed=args.seed,
            progress=lambda line: print(f"# {line}", file=sys.stderr, flush=True),
        )
    finally:
        chain.close()
    report["smoke"] = args.smoke
    write_outputs(report, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
