"""The rights registry: loading, canonical digest, and every malformed case with its message."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ame_core.exceptions import InputError
from offchain.exceptions import MappingError, RegistryError
from offchain.mapping import load_registry, parse_registry

from ._builders import address, asset_doc, registry_doc


def base() -> dict[str, Any]:
    return registry_doc(
        [
            asset_doc("data:a", owners=[(address(1), "6000bps"), (address(2), "40%")]),
            asset_doc(
                "model:b", kind="base_model", owners=[(address(3), "1")], parents=[("data:a", "5%")]
            ),
            asset_doc("adapter:c", kind="adapter", parents=[("model:b", "1/10")]),
        ]
    )


def test_valid_registry_loads_with_exact_shares() -> None:
    registry = parse_registry(base())
    assert registry.by_id["data:a"].owners[1].share * 5 == 2
    assert registry.parent_ids["adapter:c"] == ("model:b",)


def test_registry_error_is_a_mapping_error_and_an_input_error() -> None:
    with pytest.raises(RegistryError) as caught:
        parse_registry({"format": "nope"})
    assert isinstance(caught.value, MappingError)
    assert isinstance(caught.value, InputError)
    assert isinstance(caught.value, ValueError)


def test_digest_ignores_order_and_notation() -> None:
    doc = base()
    shuffled = copy.deepcopy(doc)
    shuffled["assets"].reverse()
    shuffled["assets"][2]["owners"].reverse()  # data:a, now last
    shuffled["assets"][2]["owners"][0]["share"] = "2/5"
    shuffled["assets"][2]["owners"][1]["share"] = "60%"
    assert parse_registry(doc).digest() == parse_registry(shuffled).digest()
    changed = copy.deepcopy(doc)
    changed["assets"][1]["parents"][0]["royalty"] = "6%"
    assert parse_registry(changed).digest() != parse_registry(doc).digest()


def test_yaml_and_json_files_load_to_the_same_registry(tmp_path: Path) -> None:
    yaml_file = tmp_path / "registry.yaml"
    yaml_file.write_text(
        f"""
format: ame.registry/1
revision: 4
royalty_mode: LRP
assets:
  - id: data:a
    kind: dataset
    content_hash: "sha256:{"ab" * 32}"
    uri: ipfs://data:a
    owners:
      - {{address: "{address(1)}", share: 1}}
    licence: {{commercial_use: true, derivatives_allowed: true, expires: 2027-12-31}}
    signals:
      tdm_reservation: false
      training_mining: {{ai_inference: allowed, ai_training: constrained}}
"""
    )
    from_yaml = load_registry(yaml_file)
    json_file = tmp_path / "registry.json"
    json_file.write_text(json.dumps(from_yaml.canonical()))
    assert load_registry(json_file) == from_yaml
    assert from_yaml.by_id["data:a"].licence.expires is not None


def test_unreadable_and_unparsable_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.yaml: cannot read"):
        load_registry(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InputError, match=r"broken\.json: not valid json"):
        load_registry(broken)


def test_unquoted_yaml_address_is_explained(tmp_path: Path) -> None:
    file = tmp_path / "r.yaml"
    file.write_text(
        f"""
format: ame.registry/1
revision: 1
royalty_mode: LAP
assets:
  - id: data:a
    kind: dataset
    content_hash: "sha256:{"ab" * 32}"
    uri: ipfs://a
    owners: [{{address: 0x1111111111111111111111111111111111111111, share: 1}}]
    licence: {{commercial_use: true, derivatives_allowed: true}}
"""
    )
    with pytest.raises(
        RegistryError,
        match=r"asset 'data:a' \(assets\[0\]\): owners\[0\]\.address: address must be a quoted string",
    ):
        load_registry(file)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return edit


_DELETE = object()
A, B, C = "assets/0", "assets/1", "assets/2"

MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "wrong format",
        _set("format", "ame.registry/9"),
        r"^<registry>: 1 problem:\n  format: must be 'ame.registry/1'",
    ),
    (
        "negative revision",
        _set("revision", -1),
        r"revision: must be greater than or equal to 0",
    ),
    (
        "string revision",
        _set("revision", "1"),
        r"revision: must be a valid integer, got '1'",
    ),
    (
        "unknown mode",
        _set("royalty_mode", "LRX"),
        r"royalty_mode: must be 'LAP' or 'LRP', got 'LRX'",
    ),
    ("unknown top-level field", _set("owner", "me"), r"owner: unknown field"),
    (
        "bad asset id",
        _set(f"{A}/id", "no spaces"),
        r"asset 'no spaces' \(assets\[0\]\): id: 'no spaces' is not an asset id",
    ),
    (
        "missing asset id",
        _set(f"{A}/id", _DELETE),
        r"asset at assets\[0\] \(no id\): id: required",
    ),
    (
        "duplicate asset id",
        lambda d: d["assets"].append(copy.deepcopy(d["assets"][0])),
        r"asset 'data:a' \(assets\[3\]\): id: already assets\[0\]",
    ),
    (
        "unknown kind",
        _set(f"{A}/kind", "song"),
        r"asset 'data:a' \(assets\[0\]\): kind: must be 'dataset', 'base_model', 'adapter', 'prompt' or 'other', got 'song'",
    ),
    (
        "bad content hash",
        _set(f"{A}/content_hash", "md5:abc"),
        r"asset 'data:a' \(assets\[0\]\): content_hash: 'md5:abc' is not a content hash",
    ),
    (
        "bad uri",
        _set(f"{A}/uri", "not a uri"),
        r"asset 'data:a' \(assets\[0\]\): uri: 'not a uri' is not a URI",
    ),
    (
        "no owners",
        _set(f"{A}/owners", []),
        r"asset 'data:a' \(assets\[0\]\): owners: must have at least 1 item",
    ),
    (
        "float share",
        _set(f"{A}/owners/0/share", 0.6),
        r"asset 'data:a' \(assets\[0\]\): owners\[0\]\.share: 0\.6 is not an exact share",
    ),
    (
        "share over one",
        _set(f"{A}/owners/0/share", "3/2"),
        r"asset 'data:a' \(assets\[0\]\): owners\[0\]\.share: share '3/2' is outside \[0, 1\]",
    ),
    (
        "zero share",
        _set(f"{C}/owners/0/share", "0"),
        r"asset 'adapter:c' \(assets\[2\]\): owners\[0\]\.share: must be greater than 0",
    ),
    (
        "shares not summing to one",
        _set(f"{A}/owners/1/share", "30%"),
        r"asset 'data:a' \(assets\[0\]\): owners: shares sum to 9/10, must be exactly 1",
    ),
    (
        "duplicate owner",
        _set(f"{A}/owners/1/address", address(1)),
        r"asset 'data:a' \(assets\[0\]\): owners\[1\]\.address: 0x0{39}1 is already owners\[0\]",
    ),
    (
        "lowercase address",
        _set(f"{A}/owners/0/address", "0x" + "ab" * 20),
        r"asset 'data:a' \(assets\[0\]\): owners\[0\]\.address: '0x(ab){20}' is not EIP-55 checksummed \(checksummed form: 0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB\)",
    ),
    (
        "zero address",
        _set(f"{A}/owners/0/address", "0x" + "0" * 40),
        r"owners\[0\]\.address: the zero address cannot receive payouts",
    ),
    (
        "unknown owner field",
        _set(f"{A}/owners/0/wallet", "x"),
        r"asset 'data:a' \(assets\[0\]\): owners\[0\]\.wallet: unknown field",
    ),
    (
        "owner written as a list",
        _set(f"{A}/owners/0", ["0x" + "0" * 39 + "1", "1"]),
        r"asset 'data:a' \(assets\[0\]\): owners\[0\]: \['0x0{39}1', '1'\] is not an owner "
        r"\(an object with address and share\)",
    ),
    (
        "missing licence",
        _set(f"{A}/licence", _DELETE),
        r"asset 'data:a' \(assets\[0\]\): licence: required",
    ),
    (
        "licence flag as text",
        _set(f"{A}/licence/commercial_use", "yes"),
        r"asset 'data:a' \(assets\[0\]\): licence\.commercial_use: must be a valid boolean, got 'yes'",
    ),
    (
        "missing licence flag",
        _set(f"{A}/licence/derivatives_allowed", _DELETE),
        r"licence\.derivatives_allowed: required",
    ),
    (
        "bad expiry",
        _set(f"{A}/licence/expires", "31/12/2027"),
        r"asset 'data:a' \(assets\[0\]\): licence\.expires: '31/12/2027' is not a date",
    ),
    (
        "dangling parent",
        _set(f"{C}/parents/0/asset", "model:zzz"),
        r"asset 'adapter:c': parents\[0\]\.asset: unknown asset 'model:zzz'",
    ),
    (
        "self parent",
        _set(f"{C}/parents/0/asset", "adapter:c"),
        r"asset 'adapter:c' \(assets\[2\]\): parents\[0\]\.asset: an asset cannot derive from itself",
    ),
    (
        "unknown relation",
        _set(f"{C}/parents/0/relation", "inspired_by"),
        r"asset 'adapter:c' \(assets\[2\]\): parents\[0\]\.relation: must be",
    ),
    (
        "royalty over one",
        _set(f"{C}/parents/0/royalty", "101%"),
        r"asset 'adapter:c' \(assets\[2\]\): parents\[0\]\.royalty: share '101%' is outside \[0, 1\]",
    ),
    (
        "missing royalty",
        _set(f"{C}/parents/0/royalty", _DELETE),
        r"asset 'adapter:c' \(assets\[2\]\): parents\[0\]\.royalty: required",
    ),
    (
        "unknown signal use",
        _set(f"{A}/signals", {"training_mining": {"c2pa.ai_training": "notAllowed"}}),
        r"asset 'data:a' \(assets\[0\]\): signals\.training_mining\['c2pa\.ai_training'\]\.\[key\]: must be",
    ),
    (
        "bad permission",
        _set(f"{A}/signals", {"training_mining": {"ai_training": "no"}}),
        r"asset 'data:a' \(assets\[0\]\): signals\.training_mining\['ai_training'\]: must be 'allowed', 'notAllowed' or 'constrained', got 'no'",
    ),
    (
        "signal as text",
        _set(f"{A}/signals", {"do_not_train": "true"}),
        r"signals\.do_not_train: must be a valid boolean",
    ),
]


@pytest.mark.parametrize(("case", "edit", "message"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_registry_names_asset_and_field(
    case: str, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = base()
    edit(doc)
    with pytest.raises(RegistryError, match=message):
        parse_registry(doc)


def test_registry_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(RegistryError, match="the registry must be a mapping, got list"):
        parse_registry([])


def test_duplicate_parent_is_refused() -> None:
    doc = base()
    doc["assets"][2]["parents"].append(dict(doc["assets"][2]["parents"][0]))
    with pytest.raises(
        RegistryError,
        match=r"asset 'adapter:c' \(assets\[2\]\): parents\[1\]\.asset: 'model:b' is already parents\[0\]",
    ):
        parse_registry(doc)


def test_direct_royalties_over_100_percent_are_refused_in_both_modes() -> None:
    for mode in ("LAP", "LRP"):
        doc = registry_doc(
            [
                asset_doc("p1"),
                asset_doc("p2"),
                asset_doc("child", parents=[("p1", "60%"), ("p2", "50%")]),
            ],
            mode,
        )
        with pytest.raises(
            RegistryError,
            match=r"asset 'child' \(assets\[2\]\): parents: royalties owed to parents sum to 110%, over 100%",
        ):
            parse_registry(doc)


def test_lap_stack_over_100_percent_through_paths_is_refused_but_lrp_accepts_it() -> None:
    # Each edge 40 %: D's LAP stack is 40 + 40 + (40 + 40) ... over 100 %; LRP multiplies.
    assets = [
        asset_doc("a"),
        asset_doc("b", parents=[("a", "40%")]),
        asset_doc("c", parents=[("b", "40%")]),
        asset_doc("d", parents=[("c", "40%")]),
    ]
    with pytest.raises(
        RegistryError, match=r"asset 'd': parents: LAP royalty stack is 120% .*over 100%"
    ):
        parse_registry(registry_doc(assets, "LAP"))
    parse_registry(registry_doc(assets, "LRP"))


def test_lap_stack_of_exactly_100_percent_is_allowed() -> None:
    parse_registry(registry_doc([asset_doc("a"), asset_doc("b", parents=[("a", "100%")])], "LAP"))


@pytest.mark.parametrize(
    ("edges", "cycle"),
    [
        ({"a": ["b"], "b": ["a"]}, "a -> b -> a"),
        ({"x": ["z"], "y": ["x"], "z": ["y"], "w": []}, "x -> z -> y -> x"),
    ],
)
def test_derivation_cycles_are_refused_and_shown(edges: dict[str, list[str]], cycle: str) -> None:
    doc = registry_doc([asset_doc(a, parents=[(p, "1%") for p in ps]) for a, ps in edges.items()])
    first = cycle.split(" ")[0]
    with pytest.raises(
        RegistryError, match=rf"asset '{first}': parents: derivation cycle {cycle}$"
    ):
        parse_registry(doc)


def test_many_problems_are_listed_together() -> None:
    doc = base()
    doc["assets"][0]["kind"] = "song"
    doc["assets"][1]["uri"] = "bad uri"
    with pytest.raises(RegistryError) as caught:
        parse_registry(doc)
    text = str(caught.value)
    assert text.startswith("<registry>: 2 problems:")
    assert "asset 'data:a' (assets[0]): kind" in text
    assert "asset 'model:b' (assets[1]): uri" in text
