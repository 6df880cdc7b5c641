"""``ame_core.files.atomic_write``: all or nothing, fsynced, parents created."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ame_core.files import atomic_write


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
