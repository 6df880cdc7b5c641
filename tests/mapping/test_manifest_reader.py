"""The manifest read section by section is the manifest read whole, accepted or refused alike.

``read_manifest`` reads a fetched manifest's bytes a chunk of items at a time instead of
parsing the whole document to JSON first (a million leaves: 2 GB of dicts). Whatever the
bytes (good manifests in canonical form or reformatted, truncated, a byte changed in any
section, a key repeated or its members reordered, a value of the wrong type, a number too
long or nesting too deep), it must give what ``parse_manifest`` gives: the same manifest,
or an ``InputError`` with the same message. The streaming reader must also be the one that
reads good manifests (not a fallback to the whole-document parse), and the JSON reader
under it must give ``json.loads``'s values whatever the window it reads through.
"""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ame_core.documents import iter_json_members, parse_json
from ame_core.exceptions import InputError
from offchain.mapping import Manifest, parse_manifest, read_manifest
from offchain.mapping import _manifest as manifest_module

from .test_streamed import manifests

_SETTINGS = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_SECTIONS = (
    "accounts",
    "assets",
    "carried",
    "epoch",
    "escrow",
    "events",
    "format",
    "inputs",
    "leaves",
    "policy",
    "royalty_mode",
    "splits",
    "totals",
)


def _outcome(read: Any, data: bytes) -> tuple[str, str]:
    try:
        manifest = read(data)
    except InputError as err:
        return "refused", str(err)
    assert isinstance(manifest, Manifest)
    return "read", manifest.to_json_bytes().hex()


def _both(data: bytes) -> tuple[tuple[str, str], tuple[str, str]]:
    whole = _outcome(lambda b: parse_manifest(b, source="m.json"), data)
    streamed = _outcome(lambda b: read_manifest(io.BytesIO(b), source="m.json"), data)
    return whole, streamed


def _section_span(data: bytes, name: str) -> tuple[int, int]:
    """Byte range of a top-level member's value in canonical bytes (the next member's key ends it)."""
    start = data.index(b'"' + name.encode() + b'":') + len(name) + 3
    later = [
        data.index(b',"' + other.encode() + b'":', start)
        for other in (*_SECTIONS, "proofs", "attribution")
        if b',"' + other.encode() + b'":' in data[start:]
    ]
    return start, min(later, default=len(data) - 1)


@_SETTINGS
@given(manifests(), st.sampled_from(["canonical", "indented", "reordered", "spaced"]))
def test_a_good_manifest_reads_the_same_whole_or_by_section(manifest: Manifest, form: str) -> None:
    data = manifest.to_json_bytes()
    if form != "canonical":
        document = json.loads(data)
        if form == "reordered":  # members and item keys in reverse order: still the manifest
            document = _reversed(document)
        indent = 2 if form == "indented" else None
        separators = (", ", ": ") if form == "spaced" else None
        data = json.dumps(document, indent=indent, separators=separators).encode()
    whole, streamed = _both(data)
    assert whole == streamed == ("read", manifest.to_json_bytes().hex())


def _reversed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(v) for v in value]
    return value


@_SETTINGS
@given(manifests(), st.data())
def test_a_manifest_cut_short_is_refused_with_the_same_message(
    manifest: Manifest, data: st.DataObject
) -> None:
    raw = manifest.to_json_bytes()
    cut = data.draw(st.integers(0, len(raw) - 1))
    whole, streamed = _both(raw[:cut])
    assert whole[0] == "refused"
    assert streamed == whole


@_SETTINGS
@given(manifests(), st.sampled_from(_SECTIONS), st.data())
def test_a_byte_changed_in_any_section_gives_the_same_verdict_and_message(
    manifest: Manifest, section: str, data: st.DataObject
) -> None:
    raw = bytearray(manifest.to_json_bytes())
    start, end = _section_span(bytes(raw), section)
    at = data.draw(st.integers(start, end - 1))
    raw[at] = data.draw(
        st.sampled_from([*b'0123456789abcdefABCDEF"{}[],:.-+eE \\x/n', 0xC3, 0xFF, 0x00])
    )
    whole, streamed = _both(bytes(raw))
    assert streamed == whole


@_SETTINGS
@given(manifests(), st.data())
def test_a_repeated_key_anywhere_is_refused_by_both(
    manifest: Manifest, data: st.DataObject
) -> None:
    raw = manifest.to_json_bytes().decode()
    # Every object's first member, written twice: at the top level, in a section, in an item.
    starts = [m.start() for m in re.finditer(r'\{"[^"]+":', raw)]
    at = data.draw(st.sampled_from(starts))
    member = re.match(r'\{("[^"]+":(?:"[^"]*"|[^,{}\[\]]+)),', raw[at:])
    if member is None:  # the first member's value is an object or array: repeat the key with null
        key = re.match(r'\{("[^"]+":)', raw[at:])
        assert key is not None
        doubled = raw[: at + 1] + key.group(1) + "null," + raw[at + 1 :]
    else:
        doubled = raw[: at + 1] + member.group(1) + "," + raw[at + 1 :]
    whole, streamed = _both(doubled.encode())
    assert whole[0] == "refused"
    assert "duplicate key" in whole[1]
    assert streamed == whole


_WRONG = st.sampled_from(
    ["null", "true", "0", "-1", "1.5", '"x"', "[]", "{}", '"0x00"', "[1,2]", '{"a":1}', "1e999"]
)


@_SETTINGS
@given(manifests(), _WRONG, st.data())
def test_a_value_of_the_wrong_type_gives_the_same_verdict_and_message(
    manifest: Manifest, wrong: str, data: st.DataObject
) -> None:
    raw = manifest.to_json_bytes().decode()
    # Any scalar value (a string or a number after a colon or in a list) replaced.
    spots = [
        m.span(1) for m in re.finditer(r'[:\[,]("(?:[^"\\]|\\.)*"|-?\d+|true|false|null)', raw)
    ]
    start, end = data.draw(st.sampled_from(spots))
    whole, streamed = _both((raw[:start] + wrong + raw[end:]).encode())
    assert streamed == whole


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(
            lambda raw: raw.replace(b'"epoch":', b'"epoch":' + b"9" * 5000 + b',"x":', 1),
            id="digits",
        ),
        pytest.param(
            lambda raw: raw.replace(b'"escrow":[', b'"escrow":[' + b"[" * 5000, 1), id="nesting"
        ),
        pytest.param(lambda raw: raw + b"{}", id="trailing-data"),
        pytest.param(lambda raw: raw[:-1] + b"}}", id="extra-brace"),
        pytest.param(lambda raw: b"\xef\xbb\xbf" + raw, id="bom"),
        pytest.param(
            lambda raw: raw.replace(b'"leaves":[', b'"leaves":{"a":[', 1), id="leaves-object"
        ),
        pytest.param(lambda raw: raw.replace(b'"leaves":', b'"leafs":', 1), id="leaves-missing"),
        pytest.param(
            lambda raw: raw.replace(b'"accounts":[', b'"accounts":[],"accounts":[', 1),
            id="section-twice",
        ),
        pytest.param(
            lambda raw: raw.replace(b'"format":', b'"other":1,"format":', 1), id="extra-member"
        ),
        pytest.param(lambda raw: b"[" + raw + b"]", id="not-an-object"),
        pytest.param(lambda raw: raw.decode().encode("utf-16"), id="utf-16"),
        pytest.param(lambda raw: b"  \n" + raw + b"\n\t ", id="whitespace-around"),
    ],
)
def test_hostile_bytes_give_the_same_verdict_and_message(hostile: Any) -> None:
    manifest = _one_manifest()
    whole, streamed = _both(hostile(manifest.to_json_bytes()))
    assert streamed == whole


def _one_manifest() -> Manifest:
    from .test_streamed import _wide_epoch

    return _wide_epoch(30, 3)[1]


def test_good_manifests_are_read_section_by_section_not_parsed_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = _one_manifest()
    data = manifest.to_json_bytes()

    def refuse(*args: Any, **kwargs: Any) -> Manifest:
        raise AssertionError("read whole")

    monkeypatch.setattr(manifest_module, "parse_manifest", refuse)
    assert read_manifest(io.BytesIO(data)) == manifest
    pretty = json.dumps(json.loads(data), indent=1).encode()
    assert read_manifest(io.BytesIO(pretty)) == manifest


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["a", "b", "long", "é", "x y"]), _JSON, max_size=5),
    st.sampled_from([None, 0, 2]),
    st.integers(1, 9),
    st.integers(1, 3),
)
def test_json_members_are_json_loads_values_whatever_the_window(
    document: dict[str, Any], indent: int | None, window: int, chunk_items: int
) -> None:
    text = json.dumps(document, indent=indent, ensure_ascii=False, default=str)
    expected = parse_json(text, source="d", unique_keys=True)
    got: dict[str, Any] = {}
    members = iter_json_members(
        io.BytesIO(text.encode()),
        source="d",
        arrays={"a", "long"},
        chunk_items=chunk_items,
        window=window,
    )
    for key, value in members:
        if key in {"a", "long"} and isinstance(expected[key], list):
            chunks = list(value)
            assert all(0 < len(c) <= chunk_items for c in chunks)
            got[key] = [item for chunk in chunks for item in chunk]
        else:
            got[key] = value
    assert got == expected
    assert list(got) == list(expected)


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":2}',
        '{"a":[{"b":1,"b":2}]}',
        '{"a":1}}',
        '{"a":1,}',
        '{"a":[1,]}',
        '{"a":12',
        '{"a":1} x',
    ],
)
def test_json_members_refuse_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(InputError):
        parse_json(text, source="d", unique_keys=True)
    _refused_by_members(text)


def test_json_members_refuse_a_document_that_is_not_an_object() -> None:
    _refused_by_members("[1]")


def _refused_by_members(text: str) -> None:
    with pytest.raises(InputError, match=r"^d: not valid JSON"):
        for _key, value in iter_json_members(
            io.BytesIO(text.encode()), source="d", arrays={"a"}, window=3
        ):
            if not isinstance(value, (int, Decimal, dict, list, str)) and value is not None:
                list(value)
