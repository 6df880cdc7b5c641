"""The attribution record beside the manifest: spooled and bound at settle, recomputed at audit.

Settle is given the record's bytes (``ame.attribution/1``, written by ``ame attribute``
beside the values), spools them to a temporary file while hashing them, checks that
they explain the values exactly (:func:`check_record`, the audit's own check: the
operator never publishes a record its auditors would reject), records the digest in the
manifest's ``attribution`` field and publishes the file as ``attribution.jsonl``.

The audit fetches the file, checks its SHA-256 against the manifest and runs
:func:`check_record`: every event's stage split and within-stage split recomputed
exactly from its published worths
(:func:`~offchain.attribution.record.split_event`, the function the operator's
attribution ran), then its amounts compared with the values document, and every
asset's content hash with the registry's. Each difference is a finding; nothing in the
record raises.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Final

from ame.workflow.exceptions import WorkflowError
from ame_core.exceptions import AmeError
from ame_core.validation import show_value
from offchain.attribution.record import read_record, split_event
from offchain.mapping import Event, Manifest, ManifestAttribution, Registry, Values

__all__ = [
    "ATTRIBUTION_NAME",
    "Finding",
    "check_record",
    "record_chunks",
    "spool_record",
]

#: Name of the record file published beside the manifest.
ATTRIBUTION_NAME: Final = "attribution.jsonl"
#: Findings past this many are summarised in one: a hostile record cannot flood a report.
MAX_FINDINGS: Final = 200
_READ_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True)
class Finding:
    """One way the record does not explain the values: ``field`` was ``found``, not ``expected``."""

    field: str
    expected: str
    found: str


def record_chunks(path: Path) -> Callable[[], Iterator[bytes]]:
    """A function yielding a record file's bytes in chunks (each call reads it again).

    Raises:
        WorkflowError: The file cannot be read (raised when the chunks are read).
    """

    def read() -> Iterator[bytes]:
        try:
            with path.open("rb") as file:
                while chunk := file.read(_READ_CHUNK):
                    yield chunk
        except OSError as err:
            raise WorkflowError(f"{path}: cannot read the attribution record: {err}") from None

    return read


@contextlib.contextmanager
def spool_record(
    manifest: Manifest,
    chunks: Callable[[], Iterable[bytes]],
    values: Values,
    registry: Registry,
) -> Iterator[tuple[Manifest, Callable[[], Iterator[bytes]]]]:
    """Bind a record to the manifest: spooled, hashed and checked before anything is published.

    Args:
        manifest: The manifest as mapping gave it (proofs bound or not).
        chunks: The record's bytes, in chunks.
        values: The values the record must explain.
        registry: The registry whose content hashes the record must name.

    Yields:
        The manifest recording the record's digest, and a function yielding its bytes.

    Raises:
        WorkflowError: The record does not explain the values exactly (the first
            findings are named); nothing is published.
    """
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks():
            digest.update(chunk)
            spool.write(chunk)
        spool.seek(0)
        findings = check_record(spool, values, registry, source="the attribution record")
        if findings:
            shown = "; ".join(
                f"{f.field}: expected {f.expected}, found {f.found}" for f in findings[:5]
            )
            raise WorkflowError(
                f"epoch {values.epoch}: the attribution record does not explain the values "
                f"({len(findings)} findings): {shown}"
            )

        def read() -> Iterator[bytes]:
            spool.seek(0)
            while chunk := spool.read(_READ_CHUNK):
                yield chunk

        link = ManifestAttribution(uri=ATTRIBUTION_NAME, sha256=digest.hexdigest())
        yield manifest.model_copy(update={"attribution": link}), read


def check_record(
    lines: IO[bytes] | Iterable[bytes],
    values: Values,
    registry: Registry,
    *,
    source: str = "<attribution>",
    until: float | None = None,
) -> list[Finding]:
    """Everything that keeps a record from explaining ``values`` exactly (empty: it does).

    Args:
        lines: The record file's lines (an open binary file, or byte strings).
        values: The values document it must explain.
        registry: The registry whose content hashes it must name.
        source: Where the record came from, for findings.
        until: A :func:`time.monotonic` deadline; the check stops there with a finding.

    Returns:
        The findings, at most :data:`MAX_FINDINGS` (one more summarises the rest).
    """
    findings: list[Finding] = []

    def add(field: str, expected: object, found: object) -> None:
        findings.append(Finding(field, str(expected), str(found)))

    try:
        header, events = read_record(lines, source=source)
    except AmeError as err:
        add("attribution", "an ame.attribution/1 record", err)
        return findings
    if header.epoch != values.epoch:
        add("attribution.epoch", values.epoch, header.epoch)
    negative = header.settings.get("negative")
    if negative not in ("clip", "error"):
        add("attribution.settings.negative", "'clip' or 'error'", show_value(negative))
        return findings
    hashes: dict[str, str] = {asset.id: asset.content_hash for asset in registry.assets}
    for asset, digest in header.assets.items():
        if asset not in hashes:
            add(f"attribution.assets.{asset}", "an asset of the registry", digest)
        elif hashes[asset] != digest:
            add(f"attribution.assets.{asset}", hashes[asset], digest)
    expected: dict[str, Event] = {event.id: event for event in values.events}
    seen: set[str] = set()
    try:
        for number, record in enumerate(events):
            if until is not None and time.monotonic() > until:
                add(
                    "attribution",
                    "recomputed within the audit's deadline",
                    f"stopped at event {number}",
                )
                return findings
            seen.add(record.id)
            event = expected.get(record.id)
            where = f"attribution.events[{record.id}]"
            if event is None:
                add(where, "an event of the values", "an event the values do not have")
                continue
            unnamed = sorted(set(record.players) - set(header.assets))
            if unnamed:
                add(f"{where}.assets", "a content hash for every asset", f"none for {unnamed}")
            if record.revenue != event.revenue:
                add(f"{where}.revenue", event.revenue, record.revenue)
            try:
                split = split_event(record, precision=header.precision, negative=negative)
            except AmeError as err:
                add(where, "a split computed from its table", err)
                continue
            if tuple(split.notes) != record.notes:
                add(f"{where}.notes", list(split.notes), list(record.notes))
            want = {a: Fraction(v) for a, v in split.amounts.items()}
            if want != dict(event.values):
                add(f"{where}.values", _amounts(want), _amounts(event.values))
            if event.stages is not None:
                stages = {s: Fraction(v) for s, v in split.stage_amounts.items()}
                if stages != dict(event.stages):
                    add(f"{where}.stages", _amounts(stages), _amounts(event.stages))
            if len(findings) > MAX_FINDINGS:
                break
    except AmeError as err:
        add("attribution", "an ame.attribution/1 record", err)
    missing = sorted(set(expected) - seen)
    if missing and len(findings) <= MAX_FINDINGS:
        add(
            "attribution.events",
            "a record line for every event of the values",
            f"none for {missing[:10]}",
        )
    if len(findings) > MAX_FINDINGS:
        more = len(findings) - MAX_FINDINGS
        findings[MAX_FINDINGS:] = [Finding("attribution", "no more findings", f"{more}+ more")]
    return findings


def _amounts(amounts: Mapping[Any, Fraction]) -> str:
    text = ", ".join(f"{k}: {v}" for k, v in sorted(amounts.items()))
    return "{" + text + "}" if len(text) <= 300 else f"{{{len(amounts)} amounts}}"
