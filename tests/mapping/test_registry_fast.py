"""The registry's fast path accepts and refuses exactly what the models do, with their messages.

``parse_registry`` checks owners by hand and addresses in batches (``all_checksummed``)
before the models; these properties compare it with the models alone over generated
registries: good ones, and ones with each kind of bad field, duplicate, bound and form.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given, seed, settings
from hypothesis import strategies as st

from ame_core import addresses as addresses_module
from offchain.exceptions import RegistryError
from offchain.mapping import Registry, parse_registry
from offchain.mapping import _registry as registry_module
from offchain.mapping._types import addresses_checked_once, all_checksummed, parse_address

from ._builders import address

# -- addresses --------------------------------------------------------------------------


def _accepts(raw: object) -> bool:
    try:
        parse_address(raw)
    except ValueError:
        return False
    return True


def _flip_case(text: str, position: int) -> str:
    letters = [i for i, c in enumerate(text) if c in "abcdefABCDEF" and i >= 2]
    if not letters:
        return text
    i = letters[position % len(letters)]
    return text[:i] + text[i].swapcase() + text[i + 1 :]


@st.composite
def address_values(draw: st.DrawFn) -> object:
    """An address as a file may give it: good, or with each kind of fault."""
    good = address(draw(st.integers(1, 2**160 - 1)))
    kind = draw(
        st.sampled_from(
            [
                "good",
                "good",
                "good",
                "lower",
                "upper",
                "flipped",
                "zero",
                "short",
                "long",
                "no-prefix",
                "capital-x",
                "not-hex",
                "unicode",
                "int",
                "none",
                "bytes",
            ]
        )
    )
    match kind:
        case "good":
            return good
        case "lower":
            return good.lower()
        case "upper":
            return "0x" + good[2:].upper()
        case "flipped":
            return _flip_case(good, draw(st.integers(0, 40)))
        case "zero":
            return "0x" + "0" * 40
        case "short":
            return good[:-1]
        case "long":
            return good + "0"
        case "no-prefix":
            return "00" + good[2:]
        case "capital-x":
            return "0X" + good[2:]
        case "not-hex":
            return good[:-1] + draw(st.sampled_from("gGzZ -"))
        case "unicode":
            return good[:-1] + draw(st.sampled_from("éٳ０"))
        case "int":
            return int(good, 16)
        case "bytes":
            return good.encode()
    return None


@settings(max_examples=400, derandomize=False)
@seed(16_01)
@given(raws=st.lists(address_values(), max_size=12), batch=st.integers(1, 5))
def test_all_checksummed_is_parse_address_accepting_each(raws: list[object], batch: int) -> None:
    with mock.patch.object(addresses_module, "_ADDRESS_BATCH", batch):
        assert all_checksummed(raws) == all(_accepts(raw) for raw in raws)


# -- registries -------------------------------------------------------------------------


def _share_text(value: Fraction, form: str) -> object:
    """``value`` written in one of the forms a registry accepts (or a float, which it refuses)."""
    if form == "ratio":
        return f"{value.numerator}/{value.denominator}"
    if form == "bps" and (value * 10_000).denominator == 1:
        return f"{value * 10_000}bps"
    if form == "percent" and (value * 100 * 8).denominator == 1:
        return f"{Decimal(value.numerator * 100) / value.denominator}%"
    if form == "decimal" and (value * 1000).denominator == 1:
        return str(Decimal(value.numerator) / value.denominator)
    if form == "int" and value.denominator == 1:
        return int(value)
    if form == "float":
        return float(value)
    return f"{value.numerator}/{value.denominator}"


@st.composite
def owner_lists(draw: st.DrawFn, pool: list[str]) -> list[Any]:
    """An asset's owners: shares that sum to 1, in mixed forms, some with names."""
    count = draw(st.integers(1, 5))
    cuts = sorted(draw(st.lists(st.integers(1, 999), min_size=count - 1, max_size=count - 1)))
    edges = [0, *cuts, 1000]
    forms = st.sampled_from(["ratio", "bps", "percent", "decimal", "int", "ratio"])
    owners: list[Any] = []
    # Distinct within the asset (a repeated owner is one of the faults drawn below).
    addresses = draw(st.permutations(pool))
    for i in range(count):
        share = Fraction(edges[i + 1] - edges[i], 1000)
        owner: dict[str, Any] = {
            "address": addresses[i],
            "share": _share_text(share, draw(forms)),
        }
        if draw(st.booleans()):
            owner["name"] = draw(st.sampled_from(["Ada", "", "Grace Hopper", None]))
        owners.append(owner)
    return owners


@st.composite
def good_registries(draw: st.DrawFn) -> dict[str, Any]:
    """A registry the models accept, mostly (a royalty stack may pass 100%)."""
    pool = [address(n) for n in draw(st.lists(st.integers(1, 2**40), min_size=8, max_size=8))]
    count = draw(st.integers(1, 4))
    ids = [f"data:{i}" for i in range(count)]
    assets = []
    for i, asset_id in enumerate(ids):
        parents = []
        if i and draw(st.booleans()):
            parent = draw(st.sampled_from(ids[:i]))
            parents.append(
                {
                    "asset": parent,
                    "relation": "derived_from",
                    "royalty": draw(st.sampled_from(["5%", "1/10", "0"])),
                }
            )
        asset: dict[str, Any] = {
            "id": asset_id,
            "kind": draw(st.sampled_from(["dataset", "base_model", "adapter"])),
            "content_hash": "sha256:" + f"{i:064x}",
            "uri": f"ipfs://{asset_id}",
            "owners": draw(owner_lists(pool)),
            "licence": {"commercial_use": True, "derivatives_allowed": draw(st.booleans())},
        }
        if parents or draw(st.booleans()):
            asset["parents"] = parents
        if draw(st.booleans()):
            asset["signals"] = {"do_not_train": draw(st.booleans())}
        assets.append(asset)
    return {
        "format": "ame.registry/1",
        "revision": draw(st.integers(0, 5)),
        "royalty_mode": draw(st.sampled_from(["LAP", "LRP"])),
        "assets": assets,
    }


def _owner_fault(draw: st.DrawFn, owner: dict[str, Any], asset: dict[str, Any]) -> Any:
    """``owner`` broken one way (or, for some, left a valid variant)."""
    fault = draw(
        st.sampled_from(
            [
                "address",
                "share",
                "no-address",
                "no-share",
                "extra-key",
                "name",
                "as-list",
                "as-text",
                "duplicate",
                "share-zero",
            ]
        )
    )
    match fault:
        case "address":
            owner["address"] = draw(address_values())
        case "share":
            owner["share"] = draw(
                st.sampled_from(
                    [
                        0.25,
                        True,
                        "-1/2",
                        "3/2",
                        "1/0",
                        "abc",
                        "",
                        "101%",
                        None,
                        [1],
                        "1e-1",
                        Fraction(1, 3),
                    ]
                )
            )
        case "no-address":
            del owner["address"]
        case "no-share":
            del owner["share"]
        case "extra-key":
            owner["wallet"] = "x"
        case "name":
            owner["name"] = draw(st.sampled_from([3, b"Ada", ["Ada"], {"n": 1}]))
        case "as-list":
            return [owner.get("address"), owner.get("share")]
        case "as-text":
            return str(owner.get("address"))
        case "duplicate":
            return copy.deepcopy(asset["owners"][0])
        case "share-zero":
            owner["share"] = "0"
    return owner


@st.composite
def registries(draw: st.DrawFn) -> Any:
    """A good registry, or one with a fault of each kind drawn from every level."""
    doc = draw(good_registries())
    assets = doc["assets"]
    level = draw(st.sampled_from(["none", "owner", "owner", "owners", "asset", "registry"]))
    asset = draw(st.sampled_from(assets))
    if level == "owner":
        i = draw(st.integers(0, len(asset["owners"]) - 1))
        asset["owners"][i] = _owner_fault(draw, asset["owners"][i], asset)
    elif level == "owners":
        asset["owners"] = draw(
            st.sampled_from(
                [[], None, "x", {"address": address(1), "share": "1"}, tuple(asset["owners"])]
            )
        )
    elif level == "asset":
        fault = draw(
            st.sampled_from(
                [
                    "duplicate-id",
                    "unknown-parent",
                    "self-parent",
                    "cycle",
                    "royalty-stack",
                    "kind",
                    "id",
                    "extra",
                    "missing",
                    "as-list",
                ]
            )
        )
        match fault:
            case "duplicate-id":
                assets.append(copy.deepcopy(asset))
            case "unknown-parent":
                asset["parents"] = [{"asset": "nope", "relation": "derived_from", "royalty": "1%"}]
            case "self-parent":
                asset["parents"] = [
                    {"asset": asset["id"], "relation": "derived_from", "royalty": "1%"}
                ]
            case "cycle":
                assets[0]["parents"] = [
                    {"asset": assets[-1]["id"], "relation": "trained_on", "royalty": "1%"}
                ]
            case "royalty-stack":
                asset["parents"] = [
                    {"asset": a["id"], "relation": "trained_on", "royalty": "60%"}
                    for a in assets
                    if a is not asset
                ]
            case "kind":
                asset["kind"] = "song"
            case "id":
                asset["id"] = "-bad id"
            case "extra":
                asset["colour"] = "red"
            case "missing":
                del asset[draw(st.sampled_from(["id", "uri", "licence", "content_hash", "owners"]))]
            case "as-list":
                assets[assets.index(asset)] = list(asset.items())
    elif level == "registry":
        fault = draw(
            st.sampled_from(["revision", "format", "mode", "extra", "assets", "no-assets"])
        )
        match fault:
            case "revision":
                doc["revision"] = draw(st.sampled_from([-1, True, "1", 1.0]))
            case "format":
                doc["format"] = "ame.registry/2"
            case "mode":
                doc["royalty_mode"] = "lap"
            case "extra":
                doc["notes"] = "x"
            case "assets":
                doc["assets"] = draw(st.sampled_from([tuple(assets), None, {"a": 1}, "x"]))
            case "no-assets":
                del doc["assets"]
    return doc


def _outcome(parse: Callable[[], Registry]) -> Registry | str:
    try:
        return parse()
    except RegistryError as err:
        return str(err)


def _models_only(doc: Any) -> Registry | str:
    with mock.patch.object(registry_module, "_fast_registry", lambda data: None):
        return _outcome(lambda: parse_registry(copy.deepcopy(doc), source="r.json"))


def _state(registry: Registry) -> Any:
    """Everything a registry holds and derives, to compare two of them exactly."""
    return (
        registry.model_fields_set,
        [
            (a, a.model_fields_set, [(type(o.share), o) for o in a.owners], a.owner_weights)
            for a in registry.assets
        ],
        registry.by_id,
        registry.parent_ids,
        registry.order,
        registry.digest(),
    )


@settings(max_examples=600, deadline=None)
@seed(16_02)
@given(doc=registries())
def test_the_fast_path_accepts_and_refuses_exactly_what_the_models_do(doc: Any) -> None:
    fast = _outcome(lambda: parse_registry(copy.deepcopy(doc), source="r.json"))
    models = _models_only(doc)
    event("refused" if isinstance(models, str) else "accepted")
    if isinstance(models, str):
        assert fast == models
        return
    assert isinstance(fast, Registry), fast
    assert fast == models
    assert _state(fast) == _state(models)
    # Not vacuous: what the models accept in the plain form of a JSON file, the fast path
    # took itself (tuples are YAML's and JSON's lists in Python, taken too).
    with addresses_checked_once():
        assert registry_module._fast_registry(copy.deepcopy(doc)) is not None


def test_the_fast_path_takes_a_plain_registry_and_leaves_other_forms_to_the_models() -> None:
    doc = {
        "format": "ame.registry/1",
        "revision": 1,
        "royalty_mode": "LAP",
        "assets": [
            {
                "id": "data:a",
                "kind": "dataset",
                "content_hash": "sha256:" + "ab" * 32,
                "uri": "ipfs://a",
                "owners": [
                    {"address": address(1), "share": "1/2"},
                    {"address": address(2), "share": "50%"},
                ],
                "licence": {"commercial_use": True, "derivatives_allowed": True},
            }
        ],
    }
    with addresses_checked_once():
        assert registry_module._fast_registry(doc) is not None
        owned = copy.deepcopy(doc)
        owned["assets"][0]["owners"][0] = registry_module.Owner(address(1), Fraction(1, 2))
        assert registry_module._fast_registry(owned) is None
    assert parse_registry(owned) == parse_registry(doc)
    bad = copy.deepcopy(doc)
    bad["assets"][0]["owners"][1]["address"] = address(0xABCDEF).lower()
    with pytest.raises(RegistryError) as caught:
        parse_registry(bad, source="r.json")
    assert str(caught.value) == _models_only(bad)
    assert "owners[1].address" in str(caught.value) and "not EIP-55 checksummed" in str(
        caught.value
    )
