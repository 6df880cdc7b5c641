"""``ame_core.validation``: one rule for how every reader names a field and its problem."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError, field_validator

from ame_core.validation import error_reason, field_path, format_problems


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
    assert error_reason(error) == "Input should be greater than 0, got -1"
    (error,) = _errors({"owners": []})
    assert error_reason(error) == "Field required"
    (error,) = _errors({"id": "a", "owners": {"share": 1}})
    assert error_reason(error) == "Input should be a valid list"


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
