"""The datasets of the Hugging Face pipeline: local files of training examples.

A data-stage asset of :class:`~offchain.attribution.hf.pipeline.HFPipeline` is a
:class:`TrainingSet`: one local file or directory of text examples, in one of three
formats:

* ``"text"``: plain UTF-8 text, one example per non-empty line (surrounding white
  space stripped);
* ``"jsonl"``: one JSON object per non-empty line, the example in its ``text_field``
  (a non-empty string);
* ``"disk"``: a ``datasets`` ``Dataset`` saved with ``save_to_disk`` (a directory,
  read with ``load_from_disk``), the example in the column ``text_field``.

``format="auto"`` picks ``"disk"`` for a directory, ``"jsonl"`` for a ``.jsonl`` or
``.ndjson`` file and ``"text"`` otherwise. Reading is bounded: at most ``max_examples``
examples are read (the first ones, in file order), and the pipeline truncates each
example to its ``max_length`` tokens (the first ones; the truncation is the same for
every run, so it is part of the cache key). An error names the dataset id, the file,
the line (or row) and the reason, and nothing is read past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from ame_core.documents import parse_json
from ame_core.exceptions import InputError
from ame_core.files import content_digest
from ame_core.validation import show_value

__all__ = ["FORMATS", "Format", "TrainingSet", "dataset_digest", "read_examples"]

#: How a training set's file is read.
Format = Literal["auto", "text", "jsonl", "disk"]
#: The formats :class:`TrainingSet` accepts.
FORMATS: Final[tuple[Format, ...]] = ("auto", "text", "jsonl", "disk")
#: Default bound on the examples read from one dataset.
DEFAULT_MAX_EXAMPLES: Final = 100_000


@dataclass(frozen=True)
class TrainingSet:
    """A local file (or saved ``datasets`` directory) of training examples.

    Attributes:
        path: The file (``"text"``, ``"jsonl"``) or directory (``"disk"``).
        format: ``"auto"`` (from the path, see the module), ``"text"``, ``"jsonl"``
            or ``"disk"``.
        text_field: The JSON key (``"jsonl"``) or column (``"disk"``) holding the text.
        max_examples: At most this many examples are read (the first ones).

    Raises:
        InputError: If a field has the wrong type or is out of range (the path is
            checked when the examples are read).
    """

    path: Path
    format: Format = "auto"
    text_field: str = "text"
    max_examples: int = DEFAULT_MAX_EXAMPLES

    def __post_init__(self) -> None:
        if not isinstance(self.path, (str, Path)):
            raise InputError(f"path: expected a path, got {self.path!r}")
        object.__setattr__(self, "path", Path(self.path))
        if self.format not in FORMATS:
            raise InputError(f"format: must be one of {list(FORMATS)}, got {self.format!r}")
        if not isinstance(self.text_field, str) or not self.text_field:
            raise InputError(f"text_field: must be a non-empty string, got {self.text_field!r}")
        value = self.max_examples
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"max_examples: must be an int >= 1, got {value!r}")

    @property
    def resolved_format(self) -> Literal["text", "jsonl", "disk"]:
        """The format read: ``format``, or the one ``"auto"`` picks for the path."""
        if self.format != "auto":
            return self.format
        if self.path.is_dir():
            return "disk"
        if self.path.suffix.lower() in (".jsonl", ".ndjson"):
            return "jsonl"
        return "text"


def read_examples(dataset_id: str, spec: TrainingSet) -> list[str]:
    """The training examples of one dataset, in file order, at most ``max_examples``.

    Args:
        dataset_id: The dataset's asset id (named in errors).
        spec: Where and how to read it.

    Returns:
        At least one example, each a non-empty string.

    Raises:
        InputError: If the file is missing or unreadable, a line is not UTF-8, not JSON
            or lacks the text field, or the dataset holds no example; the message names
            the dataset id, the file and the line or row.
    """
    where = f"dataset {dataset_id!r}: {str(spec.path)!r}"
    fmt = spec.resolved_format
    if fmt == "disk":
        examples = _read_disk(where, spec)
    else:
        if not spec.path.is_file():
            raise InputError(f"{where}: not a file (format {fmt!r})")
        examples = []
        for number, line in _lines(where, spec.path):
            if len(examples) == spec.max_examples:
                break
            if not line.strip():
                continue
            if fmt == "text":
                examples.append(line.strip())
            else:
                examples.append(_json_text(f"{where} line {number}", line, spec.text_field))
    if not examples:
        raise InputError(f"{where}: no examples")
    return examples


def _lines(where: str, path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open("rb") as file:
            for number, raw in enumerate(file, start=1):
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise InputError(f"{where} line {number}: not UTF-8 text") from None
    except OSError as err:
        raise InputError(f"{where}: cannot read ({err.strerror or err})") from None


def _json_text(where: str, line: str, field: str) -> str:
    try:
        value = parse_json(line, source=where, decimals=False, unique_keys=True)
    except InputError as err:  # not JSON, nested too deeply, or a key repeated
        why = str(err).removeprefix(f"{where}: not valid JSON: ")
        raise InputError(f"{where}: not JSON ({why})") from None
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(value).__name__}")
    if field not in value:
        raise InputError(f"{where}: {field}: field required")
    return _text(where, field, value[field])


def _text(where: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: {field}: expected a non-empty string, got {show_value(value)}")
    return value.strip()


def _read_disk(where: str, spec: TrainingSet) -> list[str]:
    if not spec.path.is_dir():
        raise InputError(f"{where}: not a directory (format 'disk')")
    # Imported here: the datasets library is only needed for this format.
    from datasets import Dataset, load_from_disk

    try:
        data = load_from_disk(str(spec.path))
    except (OSError, ValueError) as err:
        raise InputError(f"{where}: not a dataset saved with save_to_disk ({err})") from None
    if not isinstance(data, Dataset):
        raise InputError(f"{where}: holds a {type(data).__name__} (several splits); save one split")
    if spec.text_field not in data.column_names:
        raise InputError(
            f"{where}: {spec.text_field}: no such column (columns {data.column_names})"
        )
    rows = data.select(range(min(spec.max_examples, len(data))))[spec.text_field]
    return [_text(f"{where} row {i}", spec.text_field, v) for i, v in enumerate(rows)]


def dataset_digest(spec: TrainingSet) -> str:
    """SHA-256 of a dataset's bytes: the file, or every file of a saved directory.

    A directory's files are hashed in sorted order of their relative paths, each with
    its path and length, so renaming or moving bytes between files changes the digest.

    Raises:
        InputError: If a file cannot be read.
    """
    try:
        return content_digest(spec.path)
    except OSError as err:
        raise InputError(f"{str(spec.path)!r}: cannot read ({err.strerror or err})") from None
