"""The manifest and the registry streamed chunk by chunk are the canonical JSON of their documents.

``Manifest.iter_json_bytes`` writes the long lists item by item instead of building the
document (a million leaves: a third of a gigabyte of bytes, four times that as dicts);
whatever the epoch (co-owners, royalties up the graph, opt-outs and expired licences,
escrow and redistribution, carried balances, proofs and attribution links, strings that
need escaping), its bytes must be ``canonical_json(to_document())``, which is what every
published manifest hash has been taken of.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ame_core.addresses import checksum_hex
from ame_core.canonical import canonical_json
from offchain.mapping import (
    Manifest,
    ManifestAttribution,
    ManifestProofs,
    Registry,
    map_epoch,
    parse_carried,
    parse_manifest,
    parse_policy,
    parse_registry,
    parse_values,
)

from ._strategies import carried_docs, policy_docs, registry_docs, values_docs


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    registry = draw(registry_docs(7))
    values = draw(values_docs([a["id"] for a in registry["assets"]]))
    manifest = map_epoch(
        parse_values(values),
        parse_registry(registry),
        parse_policy(draw(policy_docs)),
        carried=parse_carried(draw(carried_docs)),
    )
    links: dict[str, Any] = {}
    if draw(st.booleans()):
        links["proofs"] = ManifestProofs(uri="proofs.json", sha256="ab" * 32)
    if draw(st.booleans()):
        links["attribution"] = ManifestAttribution(uri="attribution.json", sha256="cd" * 32)
    return manifest.model_copy(update=links) if links else manifest


def _chunked(manifest: Manifest, chunk_items: int) -> bytes:
    return b"".join(manifest.iter_json_bytes(chunk_items=chunk_items))


@settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(manifests(), st.integers(1, 5))
def test_streamed_manifest_is_the_canonical_json_of_its_document(
    manifest: Manifest, chunk_items: int
) -> None:
    expected = canonical_json(manifest.to_document())
    assert manifest.to_json_bytes() == expected
    assert _chunked(manifest, chunk_items) == expected
    assert manifest.sha256() == hashlib.sha256(expected).hexdigest()
    # Read back from its bytes, the manifest streams the same bytes again.
    assert parse_manifest(expected).to_json_bytes() == expected


_ODD = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)


@settings(max_examples=80, derandomize=True, deadline=None)
@given(manifests(), _ODD, _ODD, st.integers(1, 3))
def test_strings_that_need_escaping_are_written_as_canonical_json_writes_them(
    manifest: Manifest, event_id: str, reason: str, chunk_items: int
) -> None:
    # Ids and reasons a hostile manifest may hold (quotes, backslashes, control and
    # non-ASCII characters): parsed, they must stream the bytes canonical_json gives.
    document = manifest.to_document()
    for event in document["events"]:
        event["id"] = event_id + event["id"]
        for line in event["lines"]:
            line[4] = [reason]
    for entry in document["escrow"]:
        entry["event"] = event_id + entry["event"]
        entry["reasons"] = [reason, reason]
    odd = parse_manifest(document)
    expected = canonical_json(odd.to_document())
    assert _chunked(odd, chunk_items) == expected
    assert odd.to_json_bytes() == expected


@settings(max_examples=150, derandomize=True, deadline=None)
@given(registry_docs(7))
def test_streamed_registry_is_its_canonical_json_and_digest(document: dict[str, Any]) -> None:
    registry = parse_registry(document)
    expected = canonical_json(registry.canonical())
    assert b"".join(registry.iter_canonical_json()) == expected
    assert registry.digest() == hashlib.sha256(expected).hexdigest()


def _wide_epoch(owners: int, per_asset: int) -> tuple[Registry, Manifest]:
    """An epoch paying ``owners`` accounts, ``per_asset`` co-owners an asset, one event each."""
    assets, events = [], []
    for a in range(owners // per_asset):
        assets.append(
            {
                "id": f"a{a}",
                "kind": "dataset",
                "content_hash": "sha256:" + "0" * 64,
                "uri": f"ar://a{a}",
                "owners": [
                    {
                        "address": checksum_hex(
                            f"{(a * per_asset + j + 1) * 0x9E3779B97F4A7C15:040x}"
                        ),
                        "share": f"1/{per_asset}",
                    }
                    for j in range(per_asset)
                ],
                "licence": {"commercial_use": True, "derivatives_allowed": True},
            }
        )
        events.append(
            {
                "id": f"e{a}",
                "revenue": per_asset * 10**15,
                "commercial": True,
                "date": "2026-06-01",
                "values": {f"a{a}": 1},
            }
        )
    registry = parse_registry(
        {"format": "ame.registry/1", "revision": 1, "royalty_mode": "LAP", "assets": assets}
    )
    values = parse_values({"format": "ame.values/1", "epoch": 1, "events": events})
    return registry, map_epoch(values, registry)


def _peak_while(chunks: Iterator[bytes]) -> tuple[int, int]:
    """(bytes yielded, peak traced allocation) while hashing ``chunks``."""
    digest, size = hashlib.sha256(), 0
    tracemalloc.start()
    try:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return size, peak


def test_streaming_a_mid_size_epoch_holds_a_chunk_not_the_document() -> None:
    # 40,000 accounts: a 14 MB manifest, which as one document took several times its
    # size. Streamed, what is held at once is one chunk (4,096 items or a megabyte of
    # text, a few copies of it on the way to bytes), whatever the epoch's size; the
    # registry is streamed an asset (2,000 owners) at a time.
    registry, manifest = _wide_epoch(40_000, 2_000)
    size, peak = _peak_while(manifest.iter_json_bytes())
    assert size > 14_000_000
    assert peak < 6_000_000, (size, peak)
    size, peak = _peak_while(registry.iter_canonical_json())
    one_asset = size / len(registry.assets)  # its canonical bytes; as dicts, several times that
    assert size > 3_000_000
    assert peak < 12 * one_asset < size, (size, peak)
