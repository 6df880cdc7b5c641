"""Each event's output, for the report: its hash from the attribution record, its text from the log.

The values document does not carry the outputs; the attribution record
(``ame.attribution/1``, published beside the manifest and bound to it by its SHA-256)
names each event's output by the SHA-256 of its UTF-8 text. The report shows that hash,
and, when the operator hands it the event log the epoch was attributed from
(``ame report --events FILE``), the text itself, checked against the hash: a text that
does not hash to the record's digest is shown as not matching, never as the output.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from ame.report._analysis import EventSummary, OutputCheck
from ame.workflow import FetchPolicy
from ame.workflow._publish import fetch_into
from ame_core.documents import parse_json
from ame_core.exceptions import AmeError, InputError
from offchain.attribution.record import output_digest, read_record

__all__ = [
    "RecordOutputs",
    "attach_outputs",
    "read_event_outputs",
    "read_record_outputs",
]

# A record past this size is spooled to disk while it is hashed, not held in memory.
_SPOOL_IN_MEMORY: Final = 16 << 20


@dataclass(frozen=True)
class RecordOutputs:
    """The outputs the attribution record names, or why none are shown.

    Attributes:
        digests: Event id to the SHA-256 (hex) of its output's text.
        note: Why the record's outputs are not shown (``""`` when they are).
    """

    digests: Mapping[str, str]
    note: str = ""


def read_record_outputs(
    uri: str, sha256: str, *, policy: FetchPolicy, until: float | None = None
) -> RecordOutputs:
    """Fetch the attribution record at ``uri`` and return each event's output hash.

    The record is read within ``policy``'s size and time limits, hashed on the way into
    a spooled file, and used only when its SHA-256 is ``sha256`` (the manifest's entry):
    a record the epoch did not commit to would put outputs in its mouth.

    Args:
        uri: Where the record is (resolved beside the manifest).
        sha256: The digest the manifest records for it (hex, no prefix).
        policy: The fetch limits of every published document.
        until: The ``time.monotonic()`` by which the read must end.

    Returns:
        The digests by event id, or none and a note saying why.
    """
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:

        def sink(chunk: bytes) -> None:
            digest.update(chunk)
            spool.write(chunk)

        try:
            fetch_into(uri, sink, policy=policy, until=until)
        except AmeError as err:
            return RecordOutputs({}, f"outputs not shown: {uri} cannot be read ({err})")
        if digest.hexdigest() != sha256:
            return RecordOutputs(
                {},
                f"outputs not shown: the attribution record at {uri} hashes to "
                f"{digest.hexdigest()}, not the manifest's {sha256} (see the audit)",
            )
        spool.seek(0)
        try:
            _, events = read_record(spool, source=uri)
            return RecordOutputs({event.id: event.output for event in events})
        except AmeError as err:
            return RecordOutputs({}, f"outputs not shown: {err}")


def read_event_outputs(path: Path | str) -> dict[str, str]:
    """Each event's output text from an event log: JSONL, one JSON object a line.

    The log ``ame attribute --pipeline --events`` reads (``docs/attribution.md``): the
    report uses its ``id`` and ``text`` and ignores the other fields. Blank lines are
    skipped; line numbers in messages count them.

    Args:
        path: The log file.

    Returns:
        The text of each event, by id.

    Raises:
        InputError: The file cannot be read, or a line is not an object with a non-empty
            string ``id`` and a string ``text``, or an id repeats; the message names the
            file, the line and the field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the event log ({err})") from None
    outputs: dict[str, str] = {}
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path} line {number}"
        data = parse_json(raw, source=where, decimals=False, unique_keys=True)
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}")
        event_id, output = data.get("id"), data.get("text")
        if not isinstance(event_id, str) or not event_id:
            raise InputError(f"{where}: id: {_missing_or(event_id)}, not a non-empty string")
        if not isinstance(output, str):
            raise InputError(f"{where}: text: {_missing_or(output)}, not a string")
        if event_id in seen:
            raise InputError(f"{where}: id: {event_id!r} repeats line {seen[event_id]}")
        seen[event_id] = number
        outputs[event_id] = output
    if not outputs:
        raise InputError(f"{path}: no events")
    return outputs


def _missing_or(value: object) -> str:
    if value is None:
        return "missing"
    return f"a {type(value).__name__}"


def attach_outputs(
    events: list[EventSummary],
    digests: Mapping[str, str],
    texts: Mapping[str, str] | None,
) -> list[EventSummary]:
    """``events`` with each one's output hash and, given the log's ``texts``, its checked text.

    Args:
        events: The epoch's event summaries.
        digests: Event id to the record's SHA-256 of its output (empty without a record).
        texts: Event id to the log's text; None when no log was given.

    Returns:
        New summaries: ``output`` is the record's digest (or None); ``text`` the log's
        text and ``text_check`` what it is against the digest: ``matches``, ``differs``,
        ``unchecked`` (no digest to check it against) or ``absent`` (the log has no such
        event); ``""`` when no log was given.
    """
    out = []
    for event in events:
        digest = digests.get(event.id)
        text: str | None = None
        check: OutputCheck = ""
        if texts is not None:
            text = texts.get(event.id)
            if text is None:
                check = "absent"
            elif digest is None:
                check = "unchecked"
            else:
                check = "matches" if output_digest(text) == digest else "differs"
        out.append(replace(event, output=digest, text=text, text_check=check))
    return out
