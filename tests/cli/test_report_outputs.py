"""The report's per-event outputs: the attribution record's hash, and the log's text checked against it.

An epoch settled with its attribution record (two events whose output is "an output") is
reported through `ame report`, without and with `--events LOG`; the record's hash is shown
for every event, a log's text only as matching when it hashes to it. The check itself is
searched over every input class by seeded hypothesis.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from ame.report import EventSummary, read_event_outputs
from ame.report._html import _output_cell
from ame.report._outputs import attach_outputs
from ame_chain.chains import InProcessChain
from ame_core.exceptions import InputError
from tests.cli.conftest import Ame
from tests.cli.test_cli_workflow import deploy
from tests.cli.test_report import Page
from tests.workflow._helpers import OPERATOR
from tests.workflow.test_audit_attribution import write_attributed

TEXT = "an output"  # what the record's market paid for, in both events
DIGEST = hashlib.sha256(TEXT.encode()).hexdigest()


def _settled(ame: Ame, chain: InProcessChain, tmp_path: Path) -> Path:
    deploy(ame, chain)
    values, registry, record = write_attributed(tmp_path / "in", chain)
    settled = ame(
        "settle",
        "--dev-account",
        OPERATOR,
        "--values",
        values,
        "--registry",
        registry,
        "--attribution",
        record,
    )
    assert settled.exit_code == 0, settled.output
    return record


def _log(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _outputs(ame: Ame, tmp_path: Path, *args: object) -> list[tuple[str, dict[str, str]]]:
    out = tmp_path / "report.html"
    result = ame("report", "1", "-o", out, *args)
    assert result.exit_code == 0, result.output
    return Page(out.read_text()).table("events", "epoch-1-events").column("output")


def test_every_event_shows_its_outputs_hash_from_the_record(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    _settled(ame, chain, tmp_path)
    cells = _outputs(ame, tmp_path)
    assert [text for text, _ in cells] == [DIGEST[:12] + "…"] * 2
    page = (tmp_path / "report.html").read_text()
    assert page.count(f'title="sha256 {DIGEST}"') == 2
    assert all("data-output" not in attrs for _, attrs in cells)  # no log: nothing checked


def test_the_logs_text_is_shown_when_it_matches_and_marked_when_it_does_not(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    _settled(ame, chain, tmp_path)
    log = _log(
        tmp_path / "events.jsonl",
        [{"id": "e1", "text": TEXT, "revenue": 1}, {"id": "e2", "text": "a forged output"}],
    )
    (e1, e1_attrs), (e2, e2_attrs) = _outputs(ame, tmp_path, "--events", log)
    assert e1_attrs["data-output"] == "matches"
    assert TEXT in e1 and "matches the record" in e1
    assert e2_attrs["data-output"] == "differs"
    assert "does not match the record" in e2 and "matches the record" not in e2


def test_an_event_missing_from_the_log_says_so(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    _settled(ame, chain, tmp_path)
    log = _log(tmp_path / "events.jsonl", [{"id": "e1", "text": TEXT}])
    (_, first), (second, attrs) = _outputs(ame, tmp_path, "--events", log)
    assert first["data-output"] == "matches"
    assert attrs["data-output"] == "absent" and "not in the event log" in second


def test_a_record_the_manifest_did_not_commit_to_shows_no_output_and_says_why(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    _settled(ame, chain, tmp_path)
    (published,) = (tmp_path / "state").rglob("attribution.jsonl")
    published.write_bytes(published.read_bytes().replace(DIGEST.encode(), b"0" * 64))
    log = _log(tmp_path / "events.jsonl", [{"id": "e1", "text": TEXT}, {"id": "e2", "text": TEXT}])
    cells = _outputs(ame, tmp_path, "--events", log)
    # Without a record to check against, the log's text is never shown as matching.
    assert [attrs["data-output"] for _, attrs in cells] == ["unchecked", "unchecked"]
    assert all("not checked" in text for text, _ in cells)
    page = (tmp_path / "report.html").read_text()
    assert "outputs not shown: the attribution record at" in page
    assert "not the manifest&#x27;s" in page


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('{"id": "e1", "text": "x"}\n\n{"id": "e2"}\n', "line 3: text: missing, not a string"),
        ('{"id": "", "text": "x"}\n', "line 1: id: a str, not a non-empty string"),
        ('{"id": 7, "text": "x"}\n', "line 1: id: a int, not a non-empty string"),
        ('{"id": "e1", "text": 3}\n', "line 1: text: a int, not a string"),
        ('["e1", "x"]\n', "line 1: expected a JSON object, got list"),
        ('{"id": "e1", "text": "x"}\n{"id": "e1", "text": "y"}\n', "line 2: id: 'e1' repeats"),
        ('{"id": "e1", "id": "e2", "text": "x"}\n', "line 1"),
        ("\n\n", "no events"),
    ],
)
def test_a_bad_event_log_is_refused_before_any_work_naming_the_line_and_field(
    ame: Ame, tmp_path: Path, lines: str, message: str
) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text(lines)
    with pytest.raises(InputError, match=r"events\.jsonl") as err:
        read_event_outputs(log)
    assert message in str(err.value)
    result = ame("report", "-o", tmp_path / "never.html", "--events", log)
    assert result.exit_code == 1 and result.stderr.startswith("InputError: ")
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "never.html").exists()
    assert not (tmp_path / "state").exists()  # refused before reading the chain


def _event(event_id: str) -> EventSummary:
    return EventSummary(event_id, "2026-01-01", True, 1, 0, (), "", (), 0)


_TEXTS = st.text(max_size=30)
_IDS = st.sampled_from(["e1", "e2", "e3"])


@seed(14)
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    recorded=st.dictionaries(_IDS, _TEXTS),
    logged=st.none() | st.dictionaries(_IDS, _TEXTS),
    forged=st.dictionaries(_IDS, st.booleans()),
)
def test_a_text_is_shown_as_the_output_only_when_it_hashes_to_the_records_digest(
    recorded: dict[str, str], logged: dict[str, str] | None, forged: dict[str, bool]
) -> None:
    digests = {
        i: hashlib.sha256((t + "!" if forged.get(i) else t).encode()).hexdigest()
        for i, t in recorded.items()
    }
    events = attach_outputs([_event(i) for i in ("e1", "e2", "e3")], digests, logged)
    for event in events:
        assert event.output == digests.get(event.id)
        cell = _output_cell(event)
        if logged is None:
            assert (event.text, event.text_check) == (None, "")
            assert "data-output" not in cell
            continue
        text = logged.get(event.id)
        assert event.text == text
        if text is None:
            assert event.text_check == "absent"
        elif event.id not in digests:
            assert event.text_check == "unchecked"
        else:
            holds = hashlib.sha256(text.encode()).hexdigest() == digests[event.id]
            assert event.text_check == ("matches" if holds else "differs")
        assert ("matches the record" in cell) == (event.text_check == "matches")
        assert f'data-output="{event.text_check}"' in cell
