"""Small builders for registry, values and policy documents used across the tests."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

HASH = "sha256:" + "ab" * 32


def address(n: int) -> str:
    """A deterministic checksummed address for account number ``n`` (n >= 1)."""
    return to_checksum_address(f"0x{n:040x}")


def asset_doc(
    asset_id: str,
    *,
    kind: str = "dataset",
    owners: list[tuple[str, Any]] | None = None,
    parents: list[tuple[str, Any]] | None = None,
    commercial_use: bool = True,
    derivatives_allowed: bool = True,
    attribution_required: bool = False,
    expires: str | None = None,
    signals: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An asset entry of a registry document."""
    licence: dict[str, Any] = {
        "commercial_use": commercial_use,
        "derivatives_allowed": derivatives_allowed,
        "attribution_required": attribution_required,
    }
    if expires is not None:
        licence["expires"] = expires
    doc: dict[str, Any] = {
        "id": asset_id,
        "kind": kind,
        "content_hash": HASH,
        "uri": f"ipfs://{asset_id}",
        "owners": [{"address": a, "share": s} for a, s in (owners or [(address(1), "1")])],
        "licence": licence,
        "parents": [
            {"asset": p, "relation": "derived_from", "royalty": r} for p, r in (parents or [])
        ],
    }
    if signals is not None:
        doc["signals"] = signals
    return doc


def registry_doc(
    assets: list[dict[str, Any]], mode: str = "LAP", revision: int = 1
) -> dict[str, Any]:
    """A registry document."""
    return {
        "format": "ame.registry/1",
        "revision": revision,
        "royalty_mode": mode,
        "assets": assets,
    }


def event_doc(
    event_id: str,
    revenue: int,
    values: dict[str, Any],
    *,
    commercial: bool = True,
    date: str = "2026-06-01",
) -> dict[str, Any]:
    """An event of a values document."""
    return {
        "id": event_id,
        "revenue": revenue,
        "commercial": commercial,
        "date": date,
        "values": values,
    }


def values_doc(events: list[dict[str, Any]], epoch: int = 1) -> dict[str, Any]:
    """A values document."""
    return {"format": "ame.values/1", "epoch": epoch, "events": events}
