"""Whether an epoch's published files are served at their public URIs, byte for byte.

With a base URI (``[publish] base_uri``) the operator writes an epoch's files into a local
folder, ``<publish dir>/<chain id>-<contract>/epoch-<n>/``, and proposes URIs under the
base; copying the folder to where the base URI points is the operator's job. Auditors read
those URIs during the challenge window, and an epoch whose files they cannot read is one
they dispute. So after settling, each file of the folder is fetched back from its URI
(under a :class:`~ame.workflow.FetchPolicy`: each bounded in size by twice the local file's
length, and all of them in time by one deadline) and compared with the local bytes; what is not
served, or served different, is named, with the folder to upload, where, and by when (the
end of the challenge window).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ame.workflow._owed import format_date
from ame.workflow._publish import FetchPolicy, epoch_folder, fetch_into, published_uri
from ame.workflow._workspace import Workspace
from ame.workflow.exceptions import FetchError, WorkflowError

__all__ = ["ServedCheck", "ServedFile", "check_served"]


@dataclass(frozen=True)
class ServedFile:
    """One published file and what its URI serves.

    Attributes:
        path: The file as published locally.
        uri: Where auditors read it.
        problem: Why the URI does not serve the same bytes; None when it does.
    """

    path: Path
    uri: str
    problem: str | None = None

    def to_json(self) -> dict[str, object]:
        """JSON form."""
        return {"path": str(self.path), "uri": self.uri, "problem": self.problem}


@dataclass(frozen=True)
class ServedCheck:
    """The files of one epoch's folder, checked at their URIs.

    Attributes:
        folder: The local folder that must be served.
        base: The URI the folder must be served at.
        deadline: When the challenge window ends (Unix time): auditors read the files
            before then.
    """

    epoch: int
    folder: Path
    base: str
    deadline: int
    files: tuple[ServedFile, ...]

    @property
    def ok(self) -> bool:
        """Whether every file is served, byte for byte."""
        return all(f.problem is None for f in self.files)

    @property
    def problems(self) -> list[ServedFile]:
        """The files not served as published."""
        return [f for f in self.files if f.problem is not None]

    def advice(self) -> str:
        """What to upload, where, and by when (empty when every file is served)."""
        if self.ok:
            return ""
        return (
            f"upload the folder {self.folder} to {self.base} (each file under that URI by "
            f"the same name) before {format_date(self.deadline)}, when epoch {self.epoch}'s "
            "challenge window ends: auditors read the files there, and dispute an epoch they "
            "cannot check"
        )

    def to_json(self) -> dict[str, object]:
        """JSON form."""
        return {
            "ok": self.ok,
            "folder": str(self.folder),
            "base": self.base,
            "deadline": self.deadline,
            "files": [f.to_json() for f in self.files],
            "advice": self.advice(),
        }


def check_served(
    ws: Workspace, epoch: int, deadline: int, *, policy: FetchPolicy | None = None
) -> ServedCheck | None:
    """Fetch each file of the epoch's published folder from its URI and compare the bytes.

    Args:
        ws: The operator's workspace (its ``publish_dir`` and ``base_uri``).
        epoch: The epoch settled.
        deadline: When its challenge window ends (Unix time), for the advice.
        policy: Limits of the reads (one deadline for all; each read bounded by twice its
            file's length); :class:`~ame.workflow.FetchPolicy`'s defaults when None.

    Returns:
        The check; None without a base URI (the files are their own ``file://`` URIs).

    Raises:
        WorkflowError: The epoch's folder holds no file (nothing was published).
    """
    if not ws.base_uri:
        return None
    relative = epoch_folder(ws.client.chain_id, ws.client.address, epoch)
    folder = ws.publish_dir.joinpath(*relative.parts)
    paths = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    if not paths:
        raise WorkflowError(f"epoch {epoch}: nothing is published in {folder}")
    policy = policy or FetchPolicy()
    until = policy.until()
    files = []
    for path in paths:
        uri = published_uri(
            ws.publish_dir, ws.base_uri, relative / path.relative_to(folder).as_posix()
        )
        files.append(ServedFile(path, uri, _compare(path, uri, policy, until)))
    base = published_uri(ws.publish_dir, ws.base_uri, relative) + "/"
    return ServedCheck(epoch, folder, base, deadline, tuple(files))


def _compare(path: Path, uri: str, policy: FetchPolicy, until: float) -> str | None:
    """Why ``uri`` does not serve ``path``'s bytes, or None when it does."""
    local = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            local.update(chunk)
            size += len(chunk)
    served = hashlib.sha256()
    received = 0

    def sink(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)
        served.update(chunk)

    try:
        # The operator's own base URI: a file:// one is read like a file named by the caller.
        # Bounded, yet long enough that a file served a little longer is told apart.
        fetch_into(uri, sink, policy=policy, until=until, local=True, max_bytes=2 * size + 1024)
    except FetchError as err:
        return f"not served: {err}"
    if received != size or served.digest() != local.digest():
        return f"serves other bytes ({received} bytes, the published file has {size})"
    return None
