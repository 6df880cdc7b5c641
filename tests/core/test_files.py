"""``ame_core.files``: atomic writes (all or nothing, fsynced, parents created) and content digests."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ame_core.files import atomic_write, content_digest


def test_write_atomic_leaves_the_old_file_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "values.json"
    atomic_write(path, b"old")
    assert path.read_bytes() == b"old"

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["values.json"]


def test_atomic_write_syncs_the_file_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(tmp_path / "f", b"x")
    assert events[:2] == ["fsync", "replace"]


def test_atomic_write_creates_parents_and_encodes_text(tmp_path: Path) -> None:
    path = atomic_write(tmp_path / "a" / "b" / "c.txt", "grüße\n")
    assert path.read_bytes() == "grüße\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_atomic_write_refuses_a_folder_in_the_way_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(OSError):
        atomic_write(tmp_path / "blocker" / "out.json", b"{}")
    assert os.listdir(tmp_path) == ["blocker"]


@given(st.binary(max_size=4096), st.binary(max_size=4096))
def test_atomic_write_replaces_any_content_exactly(first: bytes, second: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out"
        atomic_write(path, first)
        atomic_write(path, second)
        assert path.read_bytes() == second
        assert os.listdir(folder) == ["out"]


_NAMES = st.text("abc", min_size=1, max_size=3)
_TREES = st.dictionaries(_NAMES, st.binary(max_size=16), min_size=1, max_size=4)


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


@given(files=_TREES, other=_TREES)
def test_content_digest_of_a_directory_is_a_function_of_its_files(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], other: dict[str, bytes]
) -> None:
    a = _write_tree(tmp_path_factory.mktemp("d") / "a", files)
    b = _write_tree(tmp_path_factory.mktemp("d") / "b", other)
    # Same names and bytes, wherever they live: same digest; anything else differs.
    assert (content_digest(a) == content_digest(b)) == (files == other)


def test_content_digest_tells_moved_bytes_renames_and_a_lone_file_apart(tmp_path: Path) -> None:
    digests = {
        content_digest(_write_tree(tmp_path / "one", {"x": b"ab", "y": b"c"})),
        content_digest(_write_tree(tmp_path / "moved", {"x": b"a", "y": b"bc"})),
        content_digest(_write_tree(tmp_path / "renamed", {"x": b"ab", "z": b"c"})),
        content_digest(_write_tree(tmp_path / "lone", {"x": b"abc"})),
    }
    (tmp_path / "file").write_bytes(b"abc")
    digests.add(content_digest(tmp_path / "file"))
    assert len(digests) == 5
    # A file's digest is of its bytes under the empty name, not of its own name.
    (tmp_path / "copy").write_bytes(b"abc")
    assert content_digest(tmp_path / "copy") == content_digest(tmp_path / "file")


def test_content_digest_raises_oserror_for_what_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        content_digest(tmp_path / "missing")


@given(st.lists(st.binary(max_size=64), max_size=8))
def test_atomic_write_of_chunks_writes_them_joined(chunks: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file"
        atomic_write(path, iter(chunks))
        assert path.read_bytes() == b"".join(chunks)


def test_atomic_write_of_chunks_leaves_the_old_file_when_a_chunk_fails(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"old")

    def chunks() -> Iterator[bytes]:
        yield b"new"
        raise RuntimeError("the generator broke")

    with pytest.raises(RuntimeError, match="broke"):
        atomic_write(path, chunks())
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
