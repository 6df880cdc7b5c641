"""Benchmark: map 1,000,000 (event, asset) values over 100,000 assets and 50,000 accounts.

Prints a table of measured phases, then one JSON line. The baseline is a naive
per-event implementation (exact ``Fraction`` arithmetic, royalties walked path by
path, no caching) timed on a slice of the same events and extrapolated linearly to
the full size; the table labels it as extrapolated.

Usage::

    .venv/bin/python bench/mapping.py            # full size (target <= 30 s for map_epoch)
    .venv/bin/python bench/mapping.py --values 100000 --assets 10000 --accounts 5000
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from collections import defaultdict
from fractions import Fraction
from typing import Any

from eth_utils.address import to_checksum_address

from offchain.mapping import (
    Registry,
    Values,
    map_epoch,
    parse_registry,
    parse_values,
    verify_manifest,
)

TARGET_SECONDS = 30.0
HASH = "sha256:" + "cd" * 32


def build_registry(n_assets: int, n_accounts: int, rng: random.Random) -> dict[str, Any]:
    """A registry shaped like a model marketplace: datasets <- base models <- adapters, prompts."""
    accounts = [
        to_checksum_address(f"0x{rng.getrandbits(160) | 1:040x}") for _ in range(n_accounts)
    ]
    n_datasets = max(1, n_assets // 50)
    n_models = max(1, n_assets // 300)
    n_adapters = max(1, n_assets // 6)
    n_prompts = n_assets - n_datasets - n_models - n_adapters
    assets: list[dict[str, Any]] = []
    next_owner = 0

    def owners() -> list[dict[str, str]]:
        nonlocal next_owner
        count = rng.choice((1, 1, 1, 2, 3))
        picked = {accounts[(next_owner + i) % n_accounts] for i in range(count)}
        next_owner += count
        cuts = sorted(rng.sample(range(1, 10_000), len(picked) - 1))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
        return [
            {"address": a, "share": f"{s}bps"} for a, s in zip(sorted(picked), shares, strict=True)
        ]

    def asset(
        asset_id: str, kind: str, parents: list[tuple[str, int]], **licence: Any
    ) -> dict[str, Any]:
        signals = {"do_not_train": True} if kind == "dataset" and rng.random() < 0.02 else {}
        terms = {"commercial_use": rng.random() > 0.01, "derivatives_allowed": True}
        if rng.random() < 0.01:
            terms["expires"] = "2026-03-01"
        terms.update(licence)
        return {
            "id": asset_id,
            "kind": kind,
            "content_hash": HASH,
            "uri": f"ipfs://{asset_id}",
            "owners": owners(),
            "licence": terms,
            "parents": [
                {"asset": p, "relation": "derived_from", "royalty": f"{bps}bps"}
                for p, bps in parents
            ],
            "signals": signals,
        }

    for i in range(n_datasets):
        assets.append(asset(f"dataset:{i}", "dataset", []))
    for i in range(n_models):
        trained = rng.sample(range(n_datasets), min(n_datasets, rng.randint(2, 5)))
        parents = [(f"dataset:{d}", rng.randint(50, 300)) for d in trained]
        assets.append(asset(f"model:{i}", "base_model", parents, commercial_use=True))
    for i in range(n_adapters):
        assets.append(
            asset(
                f"adapter:{i}",
                "adapter",
                [(f"model:{rng.randrange(n_models)}", rng.randint(500, 1000))],
            )
        )
    for i in range(n_prompts):
        parents = []
        if i >= 100 and rng.random() < 0.25:
            parents.append((f"prompt:{rng.randrange(i // 2)}", rng.randint(200, 500)))
        assets.append(asset(f"prompt:{i}", "prompt", parents))
    return {"format": "ame.registry/1", "revision": 1, "royalty_mode": "LAP", "assets": assets}


def build_values(n_values: int, asset_ids: list[str], rng: random.Random) -> dict[str, Any]:
    """Events of 10 assets each, float values as an attribution engine writes them."""
    events = []
    per_event = 10
    for e in range(n_values // per_event):
        picked = rng.sample(asset_ids, per_event)
        events.append(
            {
                "id": f"evt-{e:07d}",
                "revenue": rng.randint(10**15, 10**18),
                "commercial": rng.random() < 0.8,
                "date": "2026-06-01",
                "values": {a: round(rng.random(), 6) for a in picked},
            }
        )
    return {"format": "ame.values/1", "epoch": 1, "events": events}


def naive_map(values: Values, registry: Registry) -> dict[str, int]:
    """Baseline: per event, ``Fraction`` everywhere, LAP royalties walked path by path.

    No caching, no licence filters; each payment is rounded down and, like the royalty
    systems it stands for, the rounding dust is set aside (returned under ``'dust'``).
    """
    by_id = registry.by_id
    paid: dict[str, int] = defaultdict(int)
    for event in values.events:
        total = sum(event.values.values(), Fraction(0))
        if total == 0:
            continue
        shares: dict[str, Fraction] = defaultdict(Fraction)

        def walk(
            node: str, amount: Fraction, origin: str, shares: dict[str, Fraction] = shares
        ) -> None:
            for parent in by_id[node].parents:
                cut = amount * parent.royalty
                shares[parent.asset] += cut
                shares[origin] -= cut
                walk(parent.asset, amount, origin)

        for asset_id, value in event.values.items():
            amount = event.revenue * value / total
            shares[asset_id] += amount
            walk(asset_id, amount, asset_id)
        for asset_id, share in shares.items():
            for owner in by_id[asset_id].owners:
                paid[owner.address] += int(share * owner.share)
    paid["dust"] = sum(e.revenue for e in values.events) - sum(paid.values())
    return paid


Row = tuple[str, float, float]


def timed(label: str, rows: list[Row], fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)``, appending ``(label, wall seconds, CPU seconds)`` to ``rows``."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    rows.append((label, time.perf_counter() - wall, time.process_time() - cpu))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--baseline-values", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    registry_document = build_registry(args.assets, args.accounts, rng)
    values_document = build_values(args.values, [a["id"] for a in registry_document["assets"]], rng)

    rows: list[Row] = []
    registry = timed("validate registry", rows, parse_registry, registry_document)
    values = timed("validate values", rows, parse_values, values_document)
    manifest = timed("map_epoch", rows, map_epoch, values, registry)
    raw = timed("to_json_bytes", rows, manifest.to_json_bytes)
    timed("verify_manifest", rows, verify_manifest, manifest)
    again = timed("map_epoch, rerun", rows, map_epoch, values, registry)
    identical = again.to_json_bytes() == raw
    del again

    events = max(1, args.baseline_values // 10)
    sliced = Values.model_construct(
        format="ame.values/1", epoch=1, scenario=None, events=values.events[:events]
    )
    slice_values = sum(len(e.values) for e in sliced.events)
    naive = timed("naive baseline, slice", rows, naive_map, sliced, registry)
    ours = timed("map_epoch, same slice", rows, map_epoch, sliced, registry)
    factor = args.values / slice_values
    phase = {label: (wall, cpu) for label, wall, cpu in rows}
    naive_wall, naive_cpu = (x * factor for x in phase["naive baseline, slice"])

    n_values = sum(len(e.values) for e in values.events)
    accounts = len({o.address for a in registry.assets for o in a.owners})
    print(f"AME mapping benchmark, {platform.python_implementation()} {platform.python_version()}")
    print(
        f"{n_values:,} (event, asset) values in {len(values.events):,} events; "
        f"{len(registry.assets):,} assets; {accounts:,} accounts; {registry.royalty_mode}"
    )
    print(f"{'phase':<40}{'wall s':>9}{'cpu s':>9}")
    for label, wall, cpu in rows:
        print(f"{label:<40}{wall:>9.2f}{cpu:>9.2f}")
    print(
        f"{'naive baseline, EXTRAPOLATED x' + format(factor, '.0f'):<40}{naive_wall:>9.2f}{naive_cpu:>9.2f}"
    )
    print(
        f"slice of {slice_values:,} values: naive leaves {naive['dust']:,} units of dust, "
        f"map_epoch none (pool {ours.pool:,} + escrow {ours.totals.escrowed:,} + carried "
        f"{ours.totals.carried_out:,} = revenue {ours.totals.revenue:,})"
    )
    print(
        f"{len(manifest.leaves):,} leaves; pool {manifest.pool:,}; escrowed "
        f"{manifest.totals.escrowed:,}; manifest {len(raw) / 1e6:.1f} MB; "
        f"rerun byte-identical: {identical}"
    )
    map_wall, map_cpu = phase["map_epoch"]
    result = {
        "bench": "mapping",
        "values": n_values,
        "events": len(values.events),
        "assets": len(registry.assets),
        "accounts": accounts,
        "leaves": len(manifest.leaves),
        "manifest_bytes": len(raw),
        "byte_identical": identical,
        "seconds": {label: round(wall, 3) for label, wall, _ in rows},
        "cpu_seconds": {label: round(cpu, 3) for label, _, cpu in rows},
        "naive_extrapolated_seconds": round(naive_wall, 3),
        "naive_extrapolated_cpu_seconds": round(naive_cpu, 3),
        "naive_slice_dust": naive["dust"],
        "target_seconds": TARGET_SECONDS,
        "map_epoch_within_target": map_wall <= TARGET_SECONDS,
        "map_epoch_cpu_within_target": map_cpu <= TARGET_SECONDS,
    }
    print(json.dumps(result, sort_keys=True))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
