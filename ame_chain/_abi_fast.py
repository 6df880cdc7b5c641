"""``abi.encode`` of Merkle leaf values, fast for static types, ``eth_abi`` for the rest.

A leaf encoding is a list of Solidity types; a leaf value is ``abi.encode(types, value)``.
When every type is a static elementary type (``uintN``, ``intN``, ``address``, ``bool``,
``bytesN``), the encoding is one 32-byte word per field, so a batch of leaves is built
column by column with numpy into one buffer: no per-field Python call on the common path
(all ``int``, all ``0x`` strings). Other encodings go through :func:`eth_abi.encode`, one
leaf at a time. Both paths produce the bytes ``eth_abi`` produces; the tests compare them.

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
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import EncodingError

from ame_chain.exceptions import MerkleInputError

__all__ = ["AbiType", "LeafCodec", "parse_type"]

_ELEMENTARY = re.compile(r"(uint|int|bytes|address|bool|string)([0-9]*)")
_DECIMAL = re.compile(r"-?[0-9]+", re.ASCII)
_HEX_INT = re.compile(r"0[xX][0-9a-fA-F]+", re.ASCII)
_HEX_BYTES = re.compile(r"(0[xX])?((?:[0-9a-fA-F]{2})*)", re.ASCII)
_ADDRESS = re.compile(r"(0[xX])?[0-9a-fA-F]{40}", re.ASCII)

# ASCII byte -> nibble value, 255 where the byte is no hex digit.
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i

Json = Any
Label = Callable[[int], str]


@dataclass(frozen=True)
class AbiType:
    """A parsed Solidity ABI type.

    Attributes:
        base: ``uint``, ``int``, ``address``, ``bool``, ``bytes``, ``string`` or ``tuple``.
        size: Bits of ``uintN``/``intN``, bytes of ``bytesN``; ``None`` otherwise.
        components: Member types of a tuple.
        dims: Array dimensions as written, innermost first; ``None`` is ``[]``.
    """

    base: str
    size: int | None = None
    components: tuple[AbiType, ...] = ()
    dims: tuple[int | None, ...] = ()

    @property
    def canonical(self) -> str:
        """The type string ``eth_abi`` expects (``uint`` written ``uint256``, ...)."""
        if self.base == "tuple":
            head = "(" + ",".join(c.canonical for c in self.components) + ")"
        elif self.size is None:
            head = self.base
        else:
            head = f"{self.base}{self.size}"
        return head + "".join("[]" if d is None else f"[{d}]" for d in self.dims)

    @property
    def item(self) -> AbiType:
        """The element type of an array type."""
        return AbiType(self.base, self.size, self.components, self.dims[:-1])

    @property
    def is_dynamic(self) -> bool:
        """Whether the ABI encoding is dynamic (head-tail encoded)."""
        if self.dims:
            return self.dims[-1] is None or self.item.is_dynamic
        if self.base == "tuple":
            return any(c.is_dynamic for c in self.components)
        return self.base == "string" or (self.base == "bytes" and self.size is None)

    @property
    def is_word(self) -> bool:
        """Whether a value of this type encodes as exactly one 32-byte word by itself."""
        return not self.dims and self.base not in ("tuple", "string") and not self.is_dynamic


def parse_type(text: object, where: str) -> AbiType:
    """Parse one Solidity type string of a leaf encoding.

    Args:
        text: The type, e.g. ``"uint256"``, ``"address[]"`` or ``"(uint8,bytes32)[2]"``.
        where: Where the type came from, for error messages.

    Raises:
        MerkleInputError: If ``text`` is not a supported type string.
    """
    if not isinstance(text, str):
        raise MerkleInputError(
            f"{where}: expected a Solidity type string, got {type(text).__name__} {text!r}"
        )
    try:
        parsed, end = _parse_at(text, 0)
    except _ParseError as failure:
        raise MerkleInputError(f"{where}: invalid type {text!r}: {failure}") from None
    if end != len(text):
        raise MerkleInputError(
            f"{where}: invalid type {text!r}: unexpected {text[end:]!r} at position {end}"
        )
    return parsed


class _ParseError(Exception):
    """A type string does not parse; the message says where and why."""


def _parse_at(text: str, pos: int) -> tuple[AbiType, int]:
    if text.startswith("(", pos):
        components: list[AbiType] = []
        pos += 1
        while True:
            component, pos = _parse_at(text, pos)
            components.append(component)
            if text.startswith(",", pos):
                pos += 1
            elif text.startswith(")", pos):
                pos += 1
                break
            else:
                raise _ParseError(f"expected ',' or ')' at position {pos}")
        base = AbiType("tuple", None, tuple(components))
    else:
        match = _ELEMENTARY.match(text, pos)
        if match is None:
            raise _ParseError(
                f"expected uintN, intN, address, bool, bytesN, bytes, string or a tuple "
                f"at position {pos}"
            )
        base = _elementary(match.group(1), match.group(2))
        pos = match.end()
    dims: list[int | None] = []
    while text.startswith("[", pos):
        close = text.find("]", pos)
        if close < 0:
            raise _ParseError(f"unclosed '[' at position {pos}")
        inner = text[pos + 1 : close]
        if inner == "":
            dims.append(None)
        elif inner.isascii() and inner.isdigit() and not inner.startswith("0") and len(inner) < 10:
            dims.append(int(inner))
        else:
            raise _ParseError(f"array size {inner!r} is not a positive integer")
        pos = close + 1
    return AbiType(base.base, base.size, base.components, tuple(dims)), pos


def _elementary(name: str, digits: str) -> AbiType:
    if digits.startswith("0"):
        raise _ParseError(f"size {digits!r} has a leading zero")
    if len(digits) > 3:  # no valid size has more; int() refuses over 4,300 digits
        raise _ParseError(f"{name}{digits[:8]}...: size is out of range")
    if name in ("uint", "int"):
        bits = int(digits) if digits else 256
        if not (8 <= bits <= 256 and bits % 8 == 0):
            raise _ParseError(f"{name}{digits}: size must be a multiple of 8 in 8..256")
        return AbiType(name, bits)
    if name == "bytes":
        if not digits:
            return AbiType("bytes")
        if not 1 <= int(digits) <= 32:
            raise _ParseError(f"bytes{digits}: size must be in 1..32")
        return AbiType("bytes", int(digits))
    if digits:
        raise _ParseError(f"{name} takes no size")
    return AbiType(name)


# ---------------------------------------------------------------------------------------
# Canonical values, one at a time (the reference semantics; the column path agrees).


def _type_error(where: str, abi_type: AbiType, value: object, expected: str) -> MerkleInputError:
    return MerkleInputError(
        f"{where} ({abi_type.canonical}): expected {expected}, got {type(value).__name__} {value!r}"
    )


def _parse_hex_bytes(value: str, where: str, abi_type: AbiType) -> bytes:
    match = _HEX_BYTES.fullmatch(value)
    if match is None:
        raise _type_error(where, abi_type, value, "bytes or an even-length 0x hex string")
    return bytes.fromhex(match.group(2))


def coerce(value: object, abi_type: AbiType, where: str) -> Any:
    """Bring ``value`` to the canonical form of ``abi_type`` (see the module table).

    Raises:
        MerkleInputError: Naming ``where`` and the reason, if the value is refused.
    """
    if abi_type.dims:
        size = abi_type.dims[-1]
        if not isinstance(value, (list, tuple)):
            raise _type_error(where, abi_type, value, "a list or tuple")
        if size is not None and len(value) != size:
            raise MerkleInputError(
                f"{where} ({abi_type.canonical}): expected {size} items, got {len(value)}"
            )
        item = abi_type.item
        return tuple(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    base = abi_type.base
    if base == "tuple":
        if not isinstance(value, (list, tuple)):
            raise _type_error(where, abi_type, value, "a list or tuple")
        if len(value) != len(abi_type.components):
            raise MerkleInputError(
                f"{where} ({abi_type.canonical}): expected {len(abi_type.components)} "
                f"fields, got {len(value)}"
            )
        return tuple(
            coerce(v, t, f"{where}[{i}]")
            for i, (v, t) in enumerate(zip(value, abi_type.components, strict=True))
        )
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
    if abi_type.size is not None and len(data) > abi_type.size:
        raise MerkleInputError(
            f"{where} ({abi_type.canonical}): {len(data)} bytes do not fit in {abi_type.size}"
        )
    return data


def _coerce_int(value: object, abi_type: AbiType, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _type_error(where, abi_type, value, "an int or a decimal or 0x hex string")
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value) and len(value.lstrip("-+")) > 80:
            # Beyond any 256-bit value, and int() refuses over 4,300 digits with a bare ValueError.
            raise MerkleInputError(
                f"{where} ({abi_type.canonical}): a {len(value)}-digit number is out of range"
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
            f"{where} ({abi_type.canonical}): {number} is out of range [{low}, {high}]"
        )
    return number


def _bounds(abi_type: AbiType) -> tuple[int, int]:
    bits = abi_type.size or 256
    if abi_type.base == "uint":
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def to_json(value: Any, abi_type: AbiType) -> Json:
    """The JSON form of a canonical value, as the JS library's dumps hold it.

    Integers become decimal strings (``JSON.stringify`` cannot write a ``bigint``), bytes
    ``0x`` lowercase hex, tuples lists; strings and bools stay as they are.
    """
    if abi_type.dims:
        item = abi_type.item
        return [to_json(v, item) for v in value]
    if abi_type.base == "tuple":
        return [to_json(v, t) for v, t in zip(value, abi_type.components, strict=True)]
    if abi_type.base in ("uint", "int"):
        return str(value)
    if abi_type.base == "bytes":
        return "0x" + bytes(value).hex()
    return value


# ---------------------------------------------------------------------------------------
# Static encodings, a column at a time.

Words = npt.NDArray[np.uint8]


def _words_from_joined(joined: bytes, count: int) -> Words:
    return np.frombuffer(joined, dtype=np.uint8).reshape(count, 32)


def _encode_int_column(column: list[Any], abi_type: AbiType) -> Words | None:
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


def _encode_canonical_word(value: Any, abi_type: AbiType) -> bytes:
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
    column: list[Any], abi_type: AbiType, label: Label
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
        assert abi_type.size is not None
        words = _encode_fixed_bytes_column(column, abi_type.size)
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
                f"got {type(leaf_encoding).__name__} {leaf_encoding!r}"
            )
        if not leaf_encoding:
            raise MerkleInputError(f"{where}: expected at least one type, got []")
        self.types: tuple[str, ...] = tuple(
            _check_str(t, f"{where}[{i}]") for i, t in enumerate(leaf_encoding)
        )
        self.abi_types: tuple[AbiType, ...] = tuple(
            parse_type(t, f"{where}[{i}]") for i, t in enumerate(self.types)
        )
        self._canonical_types = [t.canonical for t in self.abi_types]
        #: Bytes of each leaf's encoding when every field is one word, else ``None``.
        self.word_size: int | None = (
            32 * len(self.abi_types) if all(t.is_word for t in self.abi_types) else None
        )

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
                    f"{self.describe()}, got {type(row).__name__} {row!r}"
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
        for j, abi_type in enumerate(self.abi_types):
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
                f"{where}: cannot ABI-encode {row!r} as {self.describe()}: {err}"
            ) from err

    def to_json(self, value: tuple[Any, ...]) -> list[Json]:
        """JSON form of a canonical leaf value (see :func:`to_json`)."""
        return [to_json(v, t) for v, t in zip(value, self.abi_types, strict=True)]

    def to_json_rows(self, values: Sequence[tuple[Any, ...]]) -> list[list[Json]]:
        """JSON forms of many canonical values: :meth:`to_json` of each, column by column."""
        if self.word_size is None:
            return [self.to_json(value) for value in values]
        columns: list[list[Json]] = []
        for j, abi_type in enumerate(self.abi_types):
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
        raise MerkleInputError(
            f"{where}: expected a Solidity type string, got {type(value).__name__} {value!r}"
        )
    return value
