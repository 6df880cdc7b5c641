"""Load benchmark: 10,000 claims against Anvil, one by one and batched, and the audit of a
1,000,000-leaf epoch.

Prints a table, then one JSON line. One Anvil serves the run; each measured phase is a
fresh subprocess, so its peak RSS (``resource.getrusage``) is its own:

- ``claims``: a relayer claims every leaf of an epoch of ``--claims`` leaves with
  ``claim`` (one transaction a leaf: the baseline) and every leaf of another with
  ``claimMany`` (``--batch`` leaves a transaction), through the operator workflow
  (``claim_leaves``: manifest fetched and checked, every transaction recorded in SQLite
  before it is sent). Then nothing may be missing: every leaf has exactly one
  ``Claimed`` event, its account holds exactly its amount, each pool is spent to the wei,
  and every recorded transaction was mined. Any failure exits 1.
- ``settle`` and ``audit``: the operator settles an epoch of ``--audit-leaves`` payees
  (mapping, manifest, tree, proposal), then an outsider with an empty state audits it
  (``audit_epoch``: manifest and inputs fetched, mapping recomputed, tree rebuilt, every
  proof walked, fraud rules, money); the audit must find nothing. The same runs at
  ``--audit-baseline`` leaves give the per-leaf scaling.

``--smoke`` runs every phase at small n in this one process (peak RSS is then the run's).

Usage::

    .venv/bin/python bench/load.py
    .venv/bin/python bench/load.py --claims 1000 --audit-leaves 100000 --audit-baseline 10000
    .venv/bin/python bench/load.py --smoke      # seconds: what tests/hardening runs
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench._machine import describe, machine  # noqa: E402

ADMIN, OPERATOR, RELAYER = 0, 1, 8
PER_ASSET = 1000  # owners per asset: 1,000,000 payees are 1,000 assets
AMOUNT = 10**9  # wei each payee receives, about


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _documents(payees: int, epoch: int, salt: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A registry of ``payees`` distinct owners over ``ceil(payees / 1000)`` assets, and values."""
    from eth_utils.address import to_checksum_address

    per = min(PER_ASSET, payees)
    assets = []
    for a in range((payees + per - 1) // per):
        count = min(per, payees - a * per)
        owners = [
            {
                "address": to_checksum_address(
                    f"0x{(salt << 120) + (a * PER_ASSET + j + 1) * 0x9E3779B97F4A7C15:040x}"
                ),
                "share": f"1/{count}",
            }
            for j in range(count)
        ]
        assets.append(
            {
                "id": f"a{a}",
                "kind": "dataset",
                "content_hash": "sha256:" + f"{a:064x}",
                "uri": f"ipfs://a{a}",
                "owners": owners,
                "licence": {
                    "commercial_use": True,
                    "derivatives_allowed": True,
                    "attribution_required": False,
                },
                "parents": [],
            }
        )
    # One event per asset, paying its owners AMOUNT each, exactly.
    events = [
        {
            "id": f"e{a}",
            "revenue": len(asset["owners"]) * AMOUNT,
            "commercial": True,
            "date": "2026-06-01",
            "values": {asset["id"]: 1},
        }
        for a, asset in enumerate(assets)
    ]
    registry = {"format": "ame.registry/1", "revision": 1, "royalty_mode": "LAP", "assets": assets}
    return registry, {"format": "ame.values/1", "epoch": epoch, "events": events}


def _workspace(url: str, settlement: str, root: Path, account: int | None) -> Any:
    from ame.workflow import DevChain, DurableSender, FetchPolicy, StateStore, Workspace
    from ame_chain.client import SettlementClient

    chain = DevChain(url, timeout=600)
    state = StateStore(root / "state")
    sender = (
        DurableSender(chain.w3, chain.dev_accounts[account], state, receipt_timeout=600)
        if account is not None
        else None
    )
    client = SettlementClient(chain.w3, settlement)
    # Published into this run's folder and read back from it: local documents are ours.
    return Workspace(
        chain,
        client,
        state,
        root / "published",
        sender=sender,
        fetch_policy=FetchPolicy(allow_local=True, deadline=3600),
    )


def _settle(url: str, settlement: str, root: Path, payees: int, epoch: int) -> dict[str, Any]:
    """Map, publish, build the tree and propose an epoch of ``payees`` leaves."""
    from ame.workflow import MappingInputs, settle_epoch
    from offchain.mapping import parse_registry, parse_values

    registry, values = _documents(payees, epoch, salt=epoch)
    ws = _workspace(url, settlement, root / "operator", OPERATOR)
    ws.publish_dir = root / "published"
    start = time.perf_counter()
    inputs = MappingInputs(parse_values(values), parse_registry(registry))
    result = settle_epoch(ws, inputs)
    seconds = time.perf_counter() - start
    assert result.leaf_count == payees, (result.leaf_count, payees)
    return {"leaves": payees, "epoch": epoch, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def _audit(url: str, settlement: str, root: Path, epoch: int) -> dict[str, Any]:
    """An outsider's audit of ``epoch``, from public data only, with an empty state."""
    from ame.workflow import audit_epoch

    ws = _workspace(url, settlement, root / f"auditor-{epoch}", None)
    ws.publish_dir = root / "published"
    start = time.perf_counter()
    report = audit_epoch(ws, epoch)
    seconds = time.perf_counter() - start
    return {
        "epoch": epoch,
        "leaves": report.header.leaf_count,
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "ok": report.ok,
        "checks": report.checks,
        "mismatches": [m.to_json() for m in report.mismatches[:5]],
    }


def _claims(url: str, settlement: str, root: Path, epoch: int, batch: int) -> dict[str, Any]:
    """Finalise ``epoch`` if needed, claim every leaf ``batch`` at a time, check nothing is lost."""
    from ame.workflow import claim_leaves, finalize_epoch, load_published

    ws = _workspace(url, settlement, root / f"relayer-{epoch}", RELAYER)
    ws.publish_dir = root / "published"
    header = ws.client.header_of(epoch)
    assert header is not None, epoch
    if ws.client.status(epoch) == "Proposed":
        now = ws.chain.timestamp()
        ws.chain.increase_time(max(0, header[0].challenge_end - now) + 1)
        finalize_epoch(ws, epoch)
    published = load_published(ws, epoch)
    start = time.perf_counter()
    result = claim_leaves(ws, accounts=None, epochs=[epoch], batch_size=batch)
    seconds = time.perf_counter() - start
    # Nothing lost: one Claimed event per leaf, each account holds its amount, pool spent.
    events = ws.client.contract.events.Claimed().get_logs(
        argument_filters={"epoch": epoch}, from_block=0
    )
    indices = sorted(int(e["args"]["index"]) for e in events)
    leaves = published.tree.leaves
    unpaid = [
        leaf.index
        for leaf in leaves
        if int(ws.chain.w3.eth.get_balance(leaf.account)) != leaf.amount  # type: ignore[arg-type]
    ]
    claim_txs = [t for t in ws.state.txs() if t.step == "claim"]
    receipts = [ws.chain.w3.eth.get_transaction_receipt(t.tx_hash) for t in claim_txs]  # type: ignore[arg-type]
    failures = (
        (len(result.lines) != len(leaves))
        + (indices != list(range(len(leaves))))
        + len(unpaid)
        + sum(t.status != "mined" for t in claim_txs)
        + sum(r["status"] != 1 for r in receipts)
        + (len(claim_txs) != len(result.tx_hashes))
        + (ws.client.epoch_state(epoch)["remaining"] != 0)
    )
    gas = sum(int(r["gasUsed"]) for r in receipts)  # the claims' own, not the finalisation's
    return {
        "epoch": epoch,
        "claims": len(result.lines),
        "batch": batch,
        "transactions": len(result.tx_hashes),
        "seconds": seconds,
        "claims_per_s": len(result.lines) / seconds,
        "gas_per_claim": gas / max(1, len(result.lines)),
        "failures": failures,
        "peak_rss_mb": _peak_rss_mb(),
    }


PHASES = {"settle": _settle, "audit": _audit, "claims": _claims}


def in_subprocess(phase: str, *args: object, inline: bool = False) -> dict[str, Any]:
    """Run a phase in a fresh interpreter (its own peak RSS), or here when ``inline``."""
    if inline:
        url, settlement, root, *rest = args
        return PHASES[phase](str(url), str(settlement), Path(str(root)), *map(int, rest))  # type: ignore[operator]
    done = subprocess.run(
        [sys.executable, __file__, "--phase", phase, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} {args} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _deploy(url: str) -> str:
    from ame.deployment import deploy_settlement
    from ame.workflow import DevChain
    from ame_chain.client import SettlementConfig
    from ame_chain.tx import Transactor

    chain = DevChain(url)
    accounts = chain.dev_accounts
    client, _ = deploy_settlement(
        Transactor(chain.w3, accounts[ADMIN]),
        config=SettlementConfig(challenge_window=60, dispute_window=60, claim_period=86400),
        operators=[accounts[OPERATOR].address],
    )
    return client.address


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=10_000, help="leaves claimed in each mode")
    parser.add_argument("--batch", type=int, default=100, help="leaves per claimMany")
    parser.add_argument("--audit-leaves", type=int, default=1_000_000)
    parser.add_argument("--audit-baseline", type=int, default=100_000, help="0 skips it")
    parser.add_argument("--smoke", action="store_true", help="10 claims each way, an audit of 300")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        phase, url, settlement, root, *rest = args.phase
        print(json.dumps(PHASES[phase](url, settlement, Path(root), *map(int, rest))))
        return 0
    if args.smoke:
        args.claims, args.batch, args.audit_leaves, args.audit_baseline = 10, 5, 300, 0

    from ame_chain.chains import AnvilChain

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ame-load-") as tmp, AnvilChain() as anvil:
        root = Path(tmp)
        settlement = _deploy(anvil.url)
        common = (anvil.url, settlement, root)
        inline = args.smoke  # one interpreter: peak RSS is then the run's, not each phase's

        def phase(name: str, *rest: object) -> dict[str, Any]:
            return in_subprocess(name, *common, *rest, inline=inline)

        # Claims: epoch 1 one by one (the baseline), epoch 2 with claimMany.
        phase("settle", args.claims, 1)
        phase("settle", args.claims, 2)
        single = phase("claims", 1, 1)
        batched = phase("claims", 2, args.batch)
        audits = []
        for epoch, leaves in ((3, args.audit_baseline), (4, args.audit_leaves)):
            if leaves:
                settled = phase("settle", leaves, epoch)
                audits.append((settled, phase("audit", epoch)))

    print(
        f"AME load benchmark ({platform.python_implementation()} {platform.python_version()}, "
        f"{describe()}, Anvil on 127.0.0.1)"
    )
    header = f"{'phase':<38}{'items':>11}{'txs':>8}{'seconds':>10}{'per s':>10}{'gas/claim':>11}{'failures':>10}{'peak RSS MB':>13}"
    print(header)
    print("-" * len(header))
    for label, r in (
        ("claims, one claim each (baseline)", single),
        (f"claims, claimMany of {args.batch}", batched),
    ):
        print(
            f"{label:<38}{r['claims']:>11,}{r['transactions']:>8,}{r['seconds']:>10.1f}"
            f"{r['claims_per_s']:>10.1f}{r['gas_per_claim']:>11,.0f}{r['failures']:>10}{r['peak_rss_mb']:>13.0f}"
        )
    for settled, audited in audits:
        n = settled["leaves"]
        print(
            f"{'settle (map, publish, tree, propose)':<38}{n:>11,}{1:>8}{settled['seconds']:>10.1f}"
            f"{n / settled['seconds']:>10.0f}{'':>11}{0:>10}{settled['peak_rss_mb']:>13.0f}"
        )
        print(
            f"{'audit (outsider, every check)':<38}{n:>11,}{0:>8}{audited['seconds']:>10.1f}"
            f"{n / audited['seconds']:>10.0f}{'':>11}{len(audited['mismatches']):>10}"
            f"{audited['peak_rss_mb']:>13.0f}"
        )
    print("-" * len(header))
    speedup = batched["claims_per_s"] / single["claims_per_s"]
    gas_saving = 1 - batched["gas_per_claim"] / single["gas_per_claim"]
    print(
        f"claimMany of {args.batch}: {speedup:.1f}x the claims per second of one claim each, "
        f"{gas_saving:.0%} less gas a claim; total {time.perf_counter() - started:.0f} s"
    )
    failures = single["failures"] + batched["failures"] + sum(not a["ok"] for _, a in audits)
    report = {
        "benchmark": "load",
        "claims": {"single": single, "batched": batched, "speedup": speedup},
        "audits": [{"settle": s, "audit": a} for s, a in audits],
        "failures": failures,
        "python": platform.python_version(),
        "machine": machine(),
    }
    print(json.dumps(report, sort_keys=True))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
