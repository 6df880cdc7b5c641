"""Coalition structures: nested lists of player ids, parsed into a tree.

A structure is a list whose items are unions (lists) or player ids (anything else,
hashable). ``[["d1", "d2", ["p1", "p2"]], ["m"]]`` has two top-level unions; the first
holds two players and a sub-union. A player id standing directly in a list is its own
singleton at every deeper level. Tuples are player ids, not unions, so composite ids
such as ``("asset", 3)`` work; sets are refused because their order is not reproducible.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from ame_core.exceptions import InputError

__all__ = ["Node", "exact_evaluations", "parse_structure"]


@dataclass(frozen=True)
class Node:
    """A union: its children are sub-unions or player indices (ints)."""

    children: tuple[Node | int, ...]
    leaves: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        leaves: list[int] = []
        for child in self.children:
            leaves.extend(child.leaves if isinstance(child, Node) else (child,))
        object.__setattr__(self, "leaves", tuple(leaves))


def exact_evaluations(node: Node) -> int:
    """Distinct coalitions the exact Owen (Winter) value of ``node`` must evaluate.

    These are the prefixes of admissible orders: at a union with ``m`` children, any set
    of whole children (``2**m``), or whole children plus a proper non-empty prefix of one
    other child.
    """
    m = len(node.children)
    partial = sum(exact_evaluations(c) - 2 for c in node.children if isinstance(c, Node))
    return (1 << m) + (1 << (m - 1)) * partial


def parse_structure(
    structure: Sequence[object], players: Sequence[Hashable] | None = None
) -> tuple[tuple[Hashable, ...], Node]:
    """Validate a nested-list coalition structure and build its tree.

    Args:
        structure: Nested lists whose leaves are player ids.
        players: If given, the structure must hold exactly these players.

    Returns:
        The players in depth-first order of the structure, and the root union whose
        leaves index into that tuple.

    Raises:
        InputError: If the structure is not a list, has an empty union, a set, an
            unhashable or repeated player, or does not hold exactly ``players``.
    """
    if not isinstance(structure, list):
        raise InputError(
            f"structure must be a list of unions (lists) and player ids; "
            f"got {type(structure).__name__}"
        )
    found: list[Hashable] = []
    where: dict[Hashable, str] = {}

    def build(items: list[object], path: str) -> Node:
        if not items:
            raise InputError(f"structure{path} is an empty union; every union needs a player")
        children: list[Node | int] = []
        for position, item in enumerate(items):
            here = f"{path}[{position}]"
            if isinstance(item, list):
                children.append(build(item, here))
            elif isinstance(item, set | frozenset):
                raise InputError(f"structure{here} is a {type(item).__name__}; unions are lists")
            elif not isinstance(item, Hashable):
                raise InputError(f"structure{here} = {item!r} is not a hashable player id")
            elif item in where:
                raise InputError(
                    f"structure{here}: player {item!r} appears more than once "
                    f"(first at structure{where[item]})"
                )
            else:
                where[item] = here
                children.append(len(found))
                found.append(item)
        return Node(tuple(children))

    root = build(structure, "")
    if players is not None:
        expected = set(players)
        missing = [p for p in players if p not in where]
        extra = [p for p in found if p not in expected]
        if missing:
            raise InputError(f"structure is missing players {missing!r} listed in players")
        if extra:
            raise InputError(f"structure has players {extra!r} that are not in players")
    return tuple(found), root
