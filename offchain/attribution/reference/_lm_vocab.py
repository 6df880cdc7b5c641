"""Word vocabulary of the reference language model (torch-free)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["BOS", "EOS", "IGNORE", "PAD", "UNK", "Vocabulary"]

PAD, BOS, EOS, UNK = 0, 1, 2, 3
#: Target id of positions that carry no loss (padding, the prompt).
IGNORE = -100
_SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class Vocabulary:
    """Word tokens to ids: the four specials, then the sorted distinct words.

    Args:
        words: Words to include (duplicates and specials are ignored).
    """

    def __init__(self, words: Iterable[str]) -> None:
        distinct = sorted(set(words) - set(_SPECIALS))
        self._tokens: tuple[str, ...] = (*_SPECIALS, *distinct)
        self._ids = {token: i for i, token in enumerate(self._tokens)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        """The vocabulary of whitespace-separated ``texts``."""
        return cls(word for text in texts for word in text.split())

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every token, indexed by id."""
        return self._tokens

    def encode(self, text: str) -> list[int]:
        """Ids of the whitespace tokens of ``text``; unknown words map to ``<unk>``."""
        return [self._ids.get(word, UNK) for word in text.split()]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``, without the end-of-sequence token."""
        return " ".join(self._tokens[i] for i in ids if i != EOS)
