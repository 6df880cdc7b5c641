"""Atomic file writes: a reader sees the old file or the new one, never a part.

Every file AME writes for someone else to read (published manifests, values documents,
deployment records, reports, artifacts) goes through :func:`atomic_write`: the bytes go
to a temporary file beside the target, are flushed to disk (``fsync``), and only then
replace the target by a rename, which POSIX makes atomic within one file system. The
directory is synced after the rename so the new name itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["atomic_write", "content_digest"]


def atomic_write(
    path: Path | str, data: bytes | str | Iterable[bytes], *, mode: int = 0o644
) -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent folders.

    Args:
        path: The file to write; replaced if it exists.
        data: The content; a ``str`` is written as UTF-8, and an iterable of ``bytes``
            chunk by chunk (a large file is never whole in memory).
        mode: Permission bits of the new file (a temporary file is created ``0o600``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: The folder or the file cannot be written. Nothing is left behind: the
            target keeps its old content and the temporary file is removed. Callers
            translate this into their own error, naming what they were writing.
    """
    path = Path(path)
    chunks: Iterable[bytes] = (
        (data.encode(),) if isinstance(data, str) else (data,) if isinstance(data, bytes) else data
    )
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)
    return path


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk. Some file systems
    # refuse to open or sync a directory; the write has still happened, so that is fine.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def content_digest(path: Path | str) -> str:
    """Hex SHA-256 of what ``path`` holds: a file's bytes, or every file under a directory.

    A directory's files are hashed in the sorted order of their relative paths, each
    preceded by its path and length, so renaming a file or moving bytes from one file to
    another changes the digest; empty directories are not content. A file is hashed
    the same way under the empty name, so a file and a directory holding only that
    file under another name differ.

    Raises:
        OSError: If a file cannot be read.
    """
    root = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for file in files:
        data = file.read_bytes()
        name = file.relative_to(root).as_posix() if root.is_dir() else ""
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
