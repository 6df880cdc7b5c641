"""``ame_core.validation``: one rule for how every reader names a field and its problem."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Literal

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ame_core.validation import error_reason, field_path, format_problems, plain_reason, show_value
from tests._messages import assert_plain


class _Owner(BaseModel):
    share: float = Field(gt=0)


class _Facts(BaseModel):
    kind: Literal["facts"]
    n: int


class _Asset(BaseModel):
    id: str
    owners: list[_Owner]
    values: dict[str, int] = {}
    generate: _Facts | None = Field(default=None, discriminator="kind")

    @field_validator("id")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if " " in value:
            raise ValueError(f"id {value!r} has a space")
        return value


def _errors(data: object) -> list[dict[str, object]]:
    with pytest.raises(ValidationError) as caught:
        _Asset.model_validate(data)
    return [dict(e) for e in caught.value.errors()]


def test_paths_index_lists_quote_data_keys_and_hide_union_tags() -> None:
    (error,) = _errors({"id": "a", "owners": [{"share": 0}]})
    assert field_path(error["loc"]) == "owners[0].share"  # type: ignore[arg-type]
    (error,) = _errors({"id": "a", "owners": [], "values": {"dataset:x": "many"}})
    loc = error["loc"]
    assert field_path(loc, keyed={"values"}) == "values['dataset:x']"  # type: ignore[arg-type]
    (error,) = _errors({"id": "a", "owners": [], "generate": {"kind": "facts", "n": "x"}})
    loc = error["loc"]
    assert field_path(loc) == "generate.facts.n"  # type: ignore[arg-type]
    assert field_path(loc, hidden={"generate": {"facts"}}) == "generate.n"  # type: ignore[arg-type]


def test_reasons_keep_a_validators_words_and_quote_scalar_inputs_only() -> None:
    (error,) = _errors({"id": "a b", "owners": []})
    assert error_reason(error) == "id 'a b' has a space"
    (error,) = _errors({"id": "a", "owners": [{"share": -1}]})
    assert error_reason(error) == "must be greater than 0, got -1"
    (error,) = _errors({"owners": []})
    assert error_reason(error) == "required"
    (error,) = _errors({"id": "a", "owners": {"share": 1}})
    assert error_reason(error) == "must be a valid list"


def test_problems_are_counted_listed_and_capped() -> None:
    assert format_problems("r.yaml", ["a: x"]) == "r.yaml: 1 problem:\n  a: x"
    assert format_problems("r.yaml", ["a: x"], inline_single=True) == "r.yaml: a: x"
    text = format_problems("r.yaml", [f"f{i}: x" for i in range(5)], limit=2)
    assert text == "r.yaml: 5 problems:\n  f0: x\n  f1: x\n  ... and 3 more"


@given(
    st.lists(
        st.one_of(st.integers(0, 99), st.from_regex(r"[a-z_]{1,8}", fullmatch=True)), max_size=8
    )
)
def test_every_part_of_a_location_appears_in_its_path(parts: list[int | str]) -> None:
    text = field_path(parts)
    position = 0
    for part in parts:
        token = f"[{part}]" if isinstance(part, int) else str(part)
        position = text.index(token, position) + len(token)
    assert position == len(text)


class _Every(BaseModel):
    """One field of each kind the AME documents declare, every constraint they use."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal["ame.x/1"]
    count: int = Field(ge=1, le=10)
    share: Decimal = Field(gt=0, max_digits=6)
    rate: float = Field(ge=0, lt=1)
    name: str = Field(min_length=1, max_length=8, pattern=r"^[a-z]+$")
    flag: bool
    when: datetime.date
    items: list[int] = Field(min_length=1, max_length=3)
    pair: tuple[int, str]
    table: dict[str, int]
    kind: Literal["a", "b", "c"] | None = None


_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.decimals(allow_nan=False)
    | st.floats(allow_nan=False)
    | st.text(max_size=200)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@seed(15)
@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*_Every.model_fields, "extra", "colour"]), _JSONISH, max_size=12
    )
)
def test_no_reason_speaks_pydantic_or_shows_a_repr(data: dict[str, object]) -> None:
    try:
        _Every.model_validate(data)
    except ValidationError as err:
        for item in err.errors():
            reason = error_reason(item)
            assert reason, item
            assert_plain(f"{field_path(item['loc'])}: {reason}")
            assert reason[0].islower() or reason[0] in "'\"", reason


@pytest.mark.parametrize(
    ("message", "kind", "plain"),
    [
        ("Input should be greater than 0", "greater_than", "must be greater than 0"),
        (
            "String should have at least 1 character",
            "string_too_short",
            "must have at least 1 character",
        ),
        (
            "List should have at least 1 item after validation, not 0",
            "too_short",
            "must have at least 1 item, not 0",
        ),
        (
            "Decimal input should be an integer or a valid decimal",
            "decimal_type",
            "must be an integer or a valid decimal",
        ),
        (
            "Input should be a valid dictionary or instance of Owner",
            "model_type",
            "must be a valid dictionary",
        ),
        ("Value error, id 'x' is taken", "value_error", "id 'x' is taken"),
        ("Field required", "missing", "required"),
        ("Extra inputs are not permitted", "extra_forbidden", "unknown field"),
    ],
)
def test_pydantic_messages_become_rules(message: str, kind: str, plain: str) -> None:
    assert plain_reason(message, kind) == plain


@seed(15)
@given(_JSONISH)
def test_values_are_shown_as_documents_write_them(value: object) -> None:
    shown = show_value(value)
    assert_plain(shown)
    assert len(shown) <= 120


def test_values_shown_without_reprs() -> None:
    assert show_value(Decimal("-0.5")) == "-0.5"
    assert show_value(True) == "true"
    assert show_value(None) == "null"
    assert show_value("0x12") == "'0x12'"
    assert show_value(10**5000) == "a number of 16610 bits"
    assert show_value("x" * 200) == repr("x" * 77 + "...")
