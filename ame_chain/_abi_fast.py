"""``abi.encode`` of Merkle leaf values, fast for static types, ``eth_abi`` for the rest.

A leaf encoding is a list of Solidity types; a leaf value is ``abi.encode(types, value)``.
Types are parsed by ``eth_abi``'s own grammar (:func:`eth_abi.grammar.parse`, after
:func:`~eth_abi.grammar.normalize` turns ``uint`` into ``uint256``) into its
:class:`~eth_abi.grammar.ABIType` objects. When every type is a static elementary type
(``uintN``, ``intN``, ``address``, ``bool``, ``bytesN``), the encoding is one 32-byte word
per field, so a batch of leaves is built column by column with numpy into one buffer: no
per-field Python call on the common path (all ``int``, all ``0x`` strings). Other
encodings go through :func:`eth_abi.encode`, one leaf at a time. Both paths produce the
bytes ``eth_abi`` produces; the tests compare them.

Values are first brought to a canonical Python form, the same for both paths. Besides
what ``eth_abi`` takes, the forms the JS library (``@metamask/abi-utils``) takes and
writes into its dumps are accepted:

============== =============================================== ==================
type           accepted                                        canonical
============== =============================================== ==================
``uintN/intN`` ``int`` (not ``bool``); decimal or ``0x`` str   ``int``
``address``    ``(0x)?`` + 40 hex digits, any case; 20 bytes   ``str`` (bytes as
                                                               lowercase hex)
``bool``       ``bool``; ``"true"``/``"false"``                ``bool``
``bytesN``     bytes of at most N; ``(0x)?`` hex str           ``bytes``
``bytes``      bytes; ``(0x)?`` hex str                        ``bytes``
``string``     ``str``                                         ``str``
arrays, tuples ``list`` or ``tuple`` of the above               ``tuple``
============== =============================================== ==================

Like ``eth_abi`` 6 and the JS library, address checksums are not verified: validate
addresses where they enter the system. Short ``bytesN`` values are right-padded, as
both references do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence, Sized
from itertools import repeat
from operator import itemgetter
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import ABITypeError, EncodingError, ParseError
from eth_abi.grammar import ABIType, BasicType, TupleType, normalize, parse

from ame_chain.exceptions import MerkleInputError
from ame_core.validation import show_value

__all__ = ["LeafCodec", "parse_type"]

_DECIMAL = re.compile(r"-?[0-9]+", re.ASCII)
_HEX_INT = re.compile(r"0[xX][0-9a-fA-F]+", re.ASCII)
_HEX_BYTES = re.compile(r"(0[xX])?((?:[0-9a-fA-F]{2})*)", re.ASCII)
_ADDRESS = re.compile(r"(0[xX])?[0-9a-fA-F]{40}", re.ASCII)
# The grammar turns every size into an int, and int() refuses over 4,300 digits with an
# error the grammar wraps in parsimonious' VisitationError; no valid size has 10 digits.
_LONG_NUMBER = re.compile(r"[0-9]{10,}", re.ASCII)

# The bases a leaf may use, and what their sizes must be. eth_abi's grammar parses any
# letters and digits as a base and size (``fixed128x18``, ``hash32``, ``foo``), and its
# ``validate()`` lets ``bool8`` through, so the set of bases and the bool check are ours.
_SIZE_RULES = {
    "uint": "size must be a multiple of 8 in 8..256",
    "int": "size must be a multiple of 8 in 8..256",
    "bytes": "size must be in 1..32",
    "address": "takes no size",
    "bool": "takes no size",
    "string": "takes no size",
}

# ASCII byte -> nibble value, 255 where the byte is no hex digit.
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i

Json = Any
Label = Callable[[int], str]


def parse_type(text: object, where: str) -> ABIType:
    """Parse one Solidity type string of a leaf encoding with ``eth_abi``'s grammar.

    Args:
        text: The type, e.g. ``"uint256"``, ``"address[]"`` or ``"(uint8,bytes32)[2]"``.
        where: Where the type came from, for error messages.

    Returns:
        The normalized type (``uint`` read as ``uint256``), whose ``to_type_str()`` is the
        type string :func:`eth_abi.encode` expects.

    Raises:
        MerkleInputError: If ``text`` is not a supported type string.
    """
    if not isinstance(text, str):
        raise MerkleInputError(f"{where}: expected a Solidity type string, got {show_value(text)}")
    long_number = _LONG_NUMBER.search(text)
    if long_number is not None:
        raise MerkleInputError(
            f"{where}: invalid type {text!r:.80}: the {len(long_number.group())}-digit size "
            f"at position {long_number.start()} is out of range"
        )
    try:
        # Bases are checked as written, so that ``uint`` and ``int`` are the only aliases:
        # normalize() would also read ``byte`` as ``bytes1`` and ``function`` as ``bytes24``.
        _check_bases(_parse(text))
        parsed = _parse(normalize(text))  # type: ignore[no-untyped-call]
        _check_sizes(parsed)
    except ParseError as failure:
        raise MerkleInputError(
            f"{where}: invalid type {show_value(text)}: {_parse_failure(text, failure.pos)}"
        ) from None
    except ValueError as failure:  # eth_abi's refusal of ``()``, and ours
        raise MerkleInputError(f"{where}: invalid type {show_value(text)}: {failure}") from None
    return parsed


def _parse(text: str) -> ABIType:
    parsed: ABIType = parse(text)
    return parsed


def _type_str(abi_type: ABIType) -> str:
    """``abi_type`` written out, as :func:`eth_abi.encode` takes it."""
    text: str = abi_type.to_type_str()  # type: ignore[no-untyped-call]
    return text


def _basic_types(abi_type: ABIType) -> Iterator[BasicType]:
    """The elementary types in ``abi_type``, tuples unpacked, in the order written."""
    if isinstance(abi_type, TupleType):
        for component in abi_type.components:
            yield from _basic_types(component)
    else:
        yield cast("BasicType", abi_type)


def _check_bases(abi_type: ABIType) -> None:
    for basic in _basic_types(abi_type):
        if basic.base not in _SIZE_RULES:
            raise ValueError(
                f"{basic.base!r} is not one of uintN, intN, address, bool, bytesN, bytes, "
                f"string or a tuple"
            )


def _check_sizes(abi_type: ABIType) -> None:
    for basic in _basic_types(abi_type):
        try:
            basic.validate()  # type: ignore[no-untyped-call]
            valid = basic.base != "bool" or basic.sub is None
        except ABITypeError:
            valid = False
        if not valid:
            raise ValueError(f"{basic.base}{basic.sub}: {_SIZE_RULES[basic.base]}")


def _parse_failure(text: str, position: int) -> str:
    """What the grammar could not read at ``position`` of ``text``, in words."""
    rest = text[position:]
    if not rest:
        return f"it ends unfinished at position {position}"
    if rest.startswith("[") and "]" in rest:
        return f"array size {rest[1 : rest.index(']')]!r} is not a positive integer"
    return f"unexpected {rest!r} at position {position}"


def _item_count(abi_type: ABIType) -> int | None:
    """The length of an array type: ``None`` for ``T[]``."""
    last: tuple[int, ...] = abi_type.arrlist[-1]
    return last[0] if last else None


def _is_word(abi_type: ABIType) -> bool:
    """Whether a value of this type encodes as exactly one 32-byte word by itself."""
    return isinstance(abi_type, BasicType) and not abi_type.is_array and not abi_type.is_dynamic


# ---------------------------------------------------------------------------------------
# Canonical values, one at a time (the reference semantics; the column path agrees).


def _type_error(where: str, abi_type: ABIType, value: object, expected: str) -> MerkleInputError:
    return MerkleInputError(
        f"{where} ({_type_str(abi_type)}): expected {expected}, got {show_value(value)}"
    )


def _parse_hex_bytes(value: str, where: str, abi_type: ABIType) -> bytes:
    match = _HEX_BYTES.fullmatch(value)
    if match is None:
        raise _type_error(where, abi_type, value, "bytes or an even-length 0x hex string")
    return bytes.fromhex(match.group(2))


def coerce(value: object, abi_type: ABIType, where: str) -> Any:
    """Bring ``value`` to the canonical form of ``abi_type`` (see the module table).

    Args:
        value: The value as given.
        abi_type: Its type, from :func:`parse_type`.
        where: Where the value came from, for error messages.

    Raises:
        MerkleInputError: Naming ``where`` and the reason, if the value is refused.
    """
    if abi_type.is_array:
        size = _item_count(abi_type)
        if not isinstance(value, (list, tuple)):
            raise _type_error(where, abi_type, value, "a list or tuple")
        if size is not None and len(value) != size:
            raise MerkleInputError(
                f"{where} ({_type_str(abi_type)}): expected {size} items, got {len(value)}"
            )
        item = abi_type.item_type
        return tuple(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(abi_type, TupleType):
        components: tuple[ABIType, ...] = abi_type.components
        if not isinstance(value, (list, tuple)):
            raise _type_error(where, abi_type, value, "a list or tuple")
        if len(value) != len(components):
            raise MerkleInputError(
                f"{where} ({_type_str(abi_type)}): expected {len(components)} "
                f"fields, got {len(value)}"
            )
        return tuple(
            coerce(v, t, f"{where}[{i}]")
            for i, (v, t) in enumerate(zip(value, components, strict=True))
        )
    abi_type = cast("BasicType", abi_type)
    base = abi_type.base
    if base in ("uint", "int"):
        return _coerce_int(value, abi_type, where)
    if base == "address":
        if isinstance(value, str):
            if _ADDRESS.fullmatch(value) is None:
                raise _type_error(where, abi_type, value, "an address: 0x and 40 hex digits")
            return value
        if isinstance(value, (bytes, bytearray)) and len(value) == 20:
            return "0x" + value.hex()
        raise _type_error(where, abi_type, value, "a 0x hex string or 20 bytes")
    if base == "bool":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise _type_error(where, abi_type, value, 'a bool, "true" or "false"')
    if base == "string":
        if isinstance(value, str):
            return value
        raise _type_error(where, abi_type, value, "a str")
    # bytes and bytesN
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, str):
        data = _parse_hex_bytes(value, where, abi_type)
    else:
        raise _type_error(where, abi_type, value, "bytes or a 0x hex string")
    if abi_type.sub is not None and len(data) > abi_type.sub:
        raise MerkleInputError(
            f"{where} ({_type_str(abi_type)}): {len(data)} bytes do not fit in {abi_type.sub}"
        )
    return data


def _coerce_int(value: object, abi_type: BasicType, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _type_error(where, abi_type, value, "an int or a decimal or 0x hex string")
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value) and len(value.lstrip("-+")) > 80:
            # Beyond any 256-bit value, and int() refuses over 4,300 digits with a bare ValueError.
            raise MerkleInputError(
                f"{where} ({_type_str(abi_type)}): a {len(value)}-digit number is out of range"
            )
        if _DECIMAL.fullmatch(value):
            number = int(value, 10)
        elif _HEX_INT.fullmatch(value):
            number = int(value, 16)
        else:
            raise _type_error(where, abi_type, value, "an int or a decimal or 0x hex string")
    else:
        number = int(value)
    low, high = _bounds(abi_type)
    if not low <= number <= high:
        raise MerkleInputError(
            f"{where} ({_type_str(abi_type)}): {number} is out of range [{low}, {high}]"
        )
    return number


def _bounds(abi_type: BasicType) -> tuple[int, int]:
    bits: int = abi_type.sub  # parse_type normalized ``uint`` to ``uint256``
    if abi_type.base == "uint":
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def to_json(value: Any, abi_type: ABIType) -> Json:
    """The JSON form of a canonical value, as the JS library's dumps hold it.

    Integers become decimal strings (``JSON.stringify`` cannot write a ``bigint``), bytes
    ``0x`` lowercase hex, tuples lists; strings and bools stay as they are.
    """
    if abi_type.is_array:
        item = abi_type.item_type
        return [to_json(v, item) for v in value]
    if isinstance(abi_type, TupleType):
        return [to_json(v, t) for v, t in zip(value, abi_type.components, strict=True)]
    base = cast("BasicType", abi_type).base
    if base in ("uint", "int"):
        return str(value)
    if base == "bytes":
        return "0x" + bytes(value).hex()
    return value


# ---------------------------------------------------------------------------------------
# Static encodings, a column at a time.

Words = npt.NDArray[np.uint8]


def _words_from_joined(joined: bytes, count: int) -> Words:
    return np.frombuffer(joined, dtype=np.uint8).reshape(count, 32)


def _encode_int_column(column: list[Any], abi_type: BasicType) -> Words | None:
    """32-byte words of a column of plain ints, or ``None`` if any value needs care.

    Constant columns (a chain id, an epoch) are encoded once; columns that fit 64 bits
    (indices) are converted by numpy; the rest by ``int.to_bytes``.
    """
    if set(map(type, column)) != {int}:
        return None
    low, high = _bounds(abi_type)
    smallest, largest = min(column), max(column)
    if smallest < low or largest > high:
        return None
    count = len(column)
    signed = abi_type.base == "int"
    if smallest == largest:
        word = np.frombuffer(smallest.to_bytes(32, "big", signed=signed), dtype=np.uint8)
        return np.broadcast_to(word, (count, 32))
    if smallest >= 0 and largest < 1 << 64:
        words = np.zeros((count, 32), dtype=np.uint8)
        words[:, 24:] = np.array(column, dtype=">u8").view(np.uint8).reshape(count, 8)
        return words
    if signed and smallest >= -(1 << 63) and largest < 1 << 63:
        lanes = np.array(column, dtype=">i8")
        words = np.where((lanes < 0)[:, None], np.uint8(0xFF), np.uint8(0)).astype(np.uint8)
        words = np.repeat(words, 32, axis=1)
        words[:, 24:] = lanes.view(np.uint8).reshape(count, 8)
        return words
    if signed:
        joined = b"".join([v.to_bytes(32, "big", signed=True) for v in column])
    else:
        joined = b"".join(map(int.to_bytes, column, repeat(32)))
    return _words_from_joined(joined, count)


def _encode_address_column(column: list[Any]) -> Words | None:
    """32-byte words of a column of ``0x`` + 40-hex-digit strings, else ``None``."""
    if set(map(type, column)) != {str} or set(map(len, column)) != {42}:
        return None
    try:
        text = "".join(column).encode("ascii")
    except UnicodeEncodeError:
        return None
    chars = np.frombuffer(text, dtype=np.uint8).reshape(len(column), 42)
    if not ((chars[:, 0] == ord("0")).all() and np.isin(chars[:, 1], (ord("x"), ord("X"))).all()):
        return None
    nibbles = _NIBBLE[chars[:, 2:]]
    if (nibbles == 255).any():
        return None
    words = np.zeros((len(column), 32), dtype=np.uint8)
    words[:, 12:] = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return words


def _encode_bool_column(column: list[Any]) -> Words | None:
    if set(map(type, column)) != {bool}:
        return None
    words = np.zeros((len(column), 32), dtype=np.uint8)
    words[:, 31] = np.frombuffer(bytes(column), dtype=np.uint8)
    return words


def _encode_fixed_bytes_column(column: list[Any], size: int) -> Words | None:
    if set(map(type, column)) != {bytes} or set(map(len, column)) != {size}:
        return None
    words = np.zeros((len(column), 32), dtype=np.uint8)
    words[:, :size] = np.frombuffer(b"".join(column), dtype=np.uint8).reshape(len(column), size)
    return words


def _encode_canonical_word(value: Any, abi_type: BasicType) -> bytes:
    """One 32-byte word of a canonical static elementary value."""
    base = abi_type.base
    if base in ("uint", "int"):
        return int(value).to_bytes(32, "big", signed=base == "int")
    if base == "address":
        return bytes(12) + bytes.fromhex(value[-40:])
    if base == "bool":
        return (1 if value else 0).to_bytes(32, "big")
    return bytes(value).ljust(32, b"\0")


def _encode_column(
    column: list[Any], abi_type: BasicType, label: Label
) -> tuple[list[Any] | None, Words]:
    """Words of a column and, when some value was not already canonical, the canonical column."""
    base = abi_type.base
    words: Words | None
    if base in ("uint", "int"):
        words = _encode_int_column(column, abi_type)
    elif base == "address":
        words = _encode_address_column(column)
    elif base == "bool":
        words = _encode_bool_column(column)
    else:
        words = _encode_fixed_bytes_column(column, abi_type.sub)
    if words is not None:
        return None, words
    canonical = [coerce(v, abi_type, label(i)) for i, v in enumerate(column)]
    joined = b"".join([_encode_canonical_word(v, abi_type) for v in canonical])
    return canonical, _words_from_joined(joined, len(canonical))


class LeafCodec:
    """Canonical values, ABI encodings and JSON forms for one leaf encoding.

    Args:
        leaf_encoding: Solidity types of a leaf's fields, e.g. ``["address", "uint256"]``.
        where: Where the encoding came from, for error messages.

    Raises:
        MerkleInputError: If the encoding is not a non-empty list of type strings.
    """

    def __init__(self, leaf_encoding: object, where: str = "leaf_encoding") -> None:
        if not isinstance(leaf_encoding, (list, tuple)):
            raise MerkleInputError(
                f"{where}: expected a list of Solidity type strings, "
                f"got {show_value(leaf_encoding)}"
            )
        if not leaf_encoding:
            raise MerkleInputError(f"{where}: expected at least one type, got []")
        self.types: tuple[str, ...] = tuple(
            _check_str(t, f"{where}[{i}]") for i, t in enumerate(leaf_encoding)
        )
        self.abi_types: tuple[ABIType, ...] = tuple(
            parse_type(t, f"{where}[{i}]") for i, t in enumerate(self.types)
        )
        self._canonical_types = [_type_str(t) for t in self.abi_types]
        words = all(_is_word(t) for t in self.abi_types)
        # The same types, for the column encoders, when every field is one word.
        self._word_types = cast("tuple[BasicType, ...]", self.abi_types) if words else ()
        #: Bytes of each leaf's encoding when every field is one word, else ``None``.
        self.word_size: int | None = 32 * len(self.abi_types) if words else None

    def __len__(self) -> int:
        return len(self.types)

    def describe(self) -> str:
        """The encoding as written, for messages: ``(uint256,address)``."""
        return "(" + ",".join(self.types) + ")"

    def _check_rows(self, rows: Sequence[object], label: Label) -> list[Sequence[Any]]:
        width = len(self.types)
        if set(map(type, rows)) <= {list, tuple} and set(
            map(len, cast("Sequence[Sized]", rows))
        ) <= {width}:
            return cast("list[Sequence[Any]]", rows)
        checked: list[Sequence[Any]] = []
        for i, row in enumerate(rows):
            if not isinstance(row, (list, tuple)):
                raise MerkleInputError(
                    f"{label(i)}: expected a list or tuple of {width} fields "
                    f"{self.describe()}, got {show_value(row)}"
                )
            if len(row) != width:
                raise MerkleInputError(
                    f"{label(i)}: expected {width} fields {self.describe()}, got {len(row)}"
                )
            checked.append(row)
        return checked

    def encode_rows(
        self, rows: Sequence[object], label: Label
    ) -> tuple[list[tuple[Any, ...]], bytes | list[bytes]]:
        """Canonical values and ABI encodings of a batch of leaf values.

        Args:
            rows: Leaf values, each a list or tuple with one field per type.
            label: ``label(i)`` names ``rows[i]`` in error messages (``values[17]``).

        Returns:
            The canonical values as tuples, and either one buffer of the encodings end to
            end (each :attr:`word_size` bytes) or, for dynamic encodings, one per value.

        Raises:
            MerkleInputError: Naming the first refused value and field, and why.
        """
        checked = self._check_rows(rows, label)
        if not checked:
            return [], b"" if self.word_size is not None else []
        if self.word_size is None:
            canonical = [self.coerce_row(row, label(i)) for i, row in enumerate(checked)]
            return canonical, [self._abi_encode(row, label(i)) for i, row in enumerate(canonical)]
        count = len(checked)
        words = np.empty((count, self.word_size), dtype=np.uint8)
        columns: list[list[Any]] = []
        changed = False
        for j, abi_type in enumerate(self._word_types):
            column = list(map(itemgetter(j), checked))
            canonical_column, column_words = _encode_column(
                column, abi_type, _field_label(label, j)
            )
            words[:, 32 * j : 32 * j + 32] = column_words
            if canonical_column is not None:
                changed = True
                column = canonical_column
            columns.append(column)
        if changed:
            values = list(zip(*columns, strict=True))
        else:
            values = [row if type(row) is tuple else tuple(row) for row in checked]
        return values, words.tobytes()

    def coerce_row(self, row: Sequence[Any], where: str) -> tuple[Any, ...]:
        """Canonical form of one leaf value whose length was checked."""
        return tuple(
            coerce(v, t, f"{where}[{j}]")
            for j, (v, t) in enumerate(zip(row, self.abi_types, strict=True))
        )

    def encode_one(self, value: object, where: str) -> tuple[tuple[Any, ...], bytes]:
        """Canonical form and ABI encoding of one leaf value."""
        values, encoded = self.encode_rows([value], lambda _i: where)
        return values[0], encoded if isinstance(encoded, bytes) else encoded[0]

    def _abi_encode(self, row: tuple[Any, ...], where: str) -> bytes:
        try:
            return abi_encode(self._canonical_types, row)
        except (EncodingError, OverflowError, TypeError, ValueError) as err:
            raise MerkleInputError(
                f"{where}: cannot ABI-encode {show_value(row)} as {self.describe()}: {err}"
            ) from err

    def to_json(self, value: tuple[Any, ...]) -> list[Json]:
        """JSON form of a canonical leaf value (see :func:`to_json`)."""
        return [to_json(v, t) for v, t in zip(value, self.abi_types, strict=True)]

    def to_json_rows(self, values: Sequence[tuple[Any, ...]]) -> list[list[Json]]:
        """JSON forms of many canonical values: :meth:`to_json` of each, column by column."""
        if self.word_size is None:
            return [self.to_json(value) for value in values]
        columns: list[list[Json]] = []
        for j, abi_type in enumerate(self._word_types):
            column = list(map(itemgetter(j), values))
            if abi_type.base in ("uint", "int"):
                column = list(map(str, column))
            elif abi_type.base == "bytes":
                column = ["0x" + v.hex() for v in column]
            columns.append(column)
        return list(map(list, zip(*columns, strict=True)))


def _field_label(label: Label, field: int) -> Label:
    return lambda i: f"{label(i)}[{field}]"


def _check_str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MerkleInputError(f"{where}: expected a Solidity type string, got {show_value(value)}")
    return value
