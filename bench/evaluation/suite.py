"""A reference-judgment suite: scenario files grouped by family, one folder per family.

A suite is a directory whose sub-directories are families (``planted_facts/``,
``co_owned/``, ...), each holding ``ame.scenario/1`` files (``.yaml``, ``.yml`` or
``.json``). Every scenario must carry a top-level ``reference`` with a ranking of at
least two contributors (``docs/scenario.md``): that is what the evaluation scores
against. The suite AME ships is ``bench/judgments/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ame_core.exceptions import InputError
from offchain.scenario import Reference, Scenario, load_scenario

__all__ = ["JudgmentScenario", "load_suite"]

_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class JudgmentScenario:
    """One scenario of a suite and the family it belongs to.

    Attributes:
        family: Name of the family (the folder holding the file).
        path: The scenario file.
        scenario: The validated scenario.
    """

    family: str
    path: Path
    scenario: Scenario

    @property
    def id(self) -> str:
        """The scenario's id."""
        return self.scenario.id

    @property
    def reference(self) -> Reference:
        """The scenario's top-level reference judgment."""
        assert self.scenario.reference is not None  # load_suite checked it
        return self.scenario.reference

    @property
    def level(self) -> str:
        """``"payees"`` if the reference judges who is paid, else ``"assets"``."""
        return "payees" if self.reference.payees is not None else "assets"

    @property
    def ranking(self) -> tuple[str, ...]:
        """The reference ranking at :attr:`level`."""
        ref = self.reference
        return ref.payees.ranking if ref.payees is not None else ref.ranking

    @property
    def shares(self) -> dict[str, float]:
        """The reference shares at :attr:`level`."""
        ref = self.reference
        return dict(ref.payees.shares if ref.payees is not None else ref.shares)


def _check(path: Path, scenario: Scenario) -> None:
    ref = scenario.reference
    if ref is None:
        raise InputError(f"{path}: reference: a judgment scenario needs a top-level reference")
    ranking = ref.payees.ranking if ref.payees is not None else ref.ranking
    field = "reference.payees.ranking" if ref.payees is not None else "reference.ranking"
    if len(ranking) < 2:
        raise InputError(f"{path}: {field}: needs at least two contributors, got {list(ranking)}")


def load_suite(
    root: str | Path,
    *,
    families: Iterable[str] | None = None,
    names: Iterable[str] | None = None,
) -> tuple[JudgmentScenario, ...]:
    """Load and validate every scenario of a suite, sorted by family then file name.

    Args:
        root: The suite directory (one sub-directory per family).
        families: Only these families (default: all).
        names: Only scenarios whose ``<family>/<file stem>`` is listed (default: all).

    Returns:
        The scenarios, in a fixed order.

    Raises:
        InputError: If ``root`` is not a directory, a family or name asked for does not
            exist, a scenario file is invalid, or a scenario lacks a usable reference.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"suite: {base} is not a directory")
    found = {
        p.name: sorted(f for f in p.iterdir() if f.suffix in _SUFFIXES)
        for p in sorted(base.iterdir())
        if p.is_dir() and any(f.suffix in _SUFFIXES for f in p.iterdir())
    }
    wanted = sorted(found) if families is None else list(families)
    unknown = [f for f in wanted if f not in found]
    if unknown:
        raise InputError(f"families: unknown {unknown}, have {sorted(found)}")
    chosen = {f"{family}/{path.stem}": path for family in wanted for path in found[family]}
    if names is not None:
        names = list(names)
        missing = [n for n in names if n not in chosen]
        if missing:
            raise InputError(f"names: unknown scenarios {missing}, have {sorted(chosen)}")
        chosen = {n: chosen[n] for n in sorted(names)}
    out = []
    for name, path in chosen.items():
        scenario = load_scenario(path)
        _check(path, scenario)
        out.append(JudgmentScenario(name.split("/")[0], path, scenario))
    if not out:
        raise InputError(f"suite: no scenario files under {base}")
    return tuple(out)
