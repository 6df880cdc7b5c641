"""A fork server for the ``ame`` console script: a test's many ``ame`` runs skip start-up.

Python plus web3 and click take about 1.5 s to import on this machine, and a test that runs
a README walkthrough command by command pays it some thirty times. The server imports
:func:`ame.cli.main` once; :func:`install_shim` writes an ``ame`` executable that hands its
command to the server instead of starting Python's site and AME's imports. For each
command the server forks a worker that takes the shim's stdin, stdout and stderr (passed
over the socket as file descriptors), its working directory, environment and arguments,
runs ``main`` as the console script does, and the shim exits with the worker's status. So
what a command sees (arguments, directory, environment, streams, exit status) is what the
real script would see; only the import is shared. Nothing is imported before the fork that
reads the environment at import time (``transformers``, for one, reads ``HF_HUB_OFFLINE``
then): those load in the worker, under the command's own environment.

Loopback only: the socket is a Unix socket in a directory of the caller's.

Usage::

    with ame_fork_server(tmp_path) as bin_dir:
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ame_fork_server", "install_shim", "serve"]

_HEADER = struct.Struct("!I")
_MAX_REQUEST = 4 * 1024 * 1024

# The client: stdlib only and run with -S, so it starts in milliseconds.
_SHIM = """#!{python} -S
import json, os, socket, struct, sys
request = json.dumps({{"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}}).encode()
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
    conn.connect({socket_path!r})
    socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
    status = b""
    while len(status) < 4:
        chunk = conn.recv(4 - len(status))
        if not chunk:
            sys.stderr.write("ame (test fork server): the worker vanished\\n")
            sys.exit(70)
        status += chunk
sys.exit(struct.unpack("!i", status)[0])
"""


def install_shim(bin_dir: Path, socket_path: Path) -> Path:
    """Write the ``ame`` client for the server at ``socket_path`` into ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "ame"
    shim.write_text(_SHIM.format(python=sys.executable, socket_path=str(socket_path)))
    shim.chmod(0o755)
    return shim


def _receive(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, _MAX_REQUEST, 3)
    (size,) = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("the client closed the connection mid-request")
        body += chunk
    return json.loads(body), fds


def _run_command(request: dict[str, object], fds: list[int]) -> None:
    """In the worker: become the command's process, run ``ame``, and exit with its status."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
    argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
    sys.argv = argv
    from ame.cli import main

    code: int
    try:
        main(args=argv[1:], prog_name="ame")
        code = 0
    except SystemExit as exit_:
        if exit_.code is None:
            code = 0
        elif isinstance(exit_.code, int):
            code = exit_.code
        else:  # sys.exit("message"), as Python itself prints it
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code & 0xFF)


def _handle(conn: socket.socket) -> None:
    """In a handler process: fork the command's worker, wait, and send its status."""
    request, fds = _receive(conn)
    worker = os.fork()
    if worker == 0:
        conn.close()
        _run_command(request, fds)
    for fd in fds:
        os.close(fd)
    _, status = os.waitpid(worker, 0)
    code = os.waitstatus_to_exitcode(status)
    conn.sendall(struct.pack("!i", code if code >= 0 else 128 - code))


def serve(socket_path: Path) -> None:
    """Import ``ame``'s CLI, listen on ``socket_path``, and run each command in a fork."""
    import ame.cli  # noqa: F401  the import every command shares

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(socket_path))
        server.listen(16)
        print("ready", flush=True)
        while True:
            conn, _ = server.accept()
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                server.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the handler waits for its worker
                try:
                    _handle(conn)
                finally:
                    os._exit(0)
            conn.close()


@contextlib.contextmanager
def ame_fork_server(directory: Path, env: dict[str, str] | None = None) -> Iterator[Path]:
    """Run a fork server in a subprocess; yield a directory whose ``ame`` uses it.

    Args:
        directory: Where the socket and the ``bin/ame`` shim are made.
        env: The server's environment (its ``PYTHONPATH`` decides which checkout's code
            every command runs).
    """
    socket_path = directory / "ame.sock"
    server = subprocess.Popen(
        [sys.executable, "-c", f"from tests._ame_zygote import serve; serve({str(socket_path)!r})"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline()
        assert ready.strip() == "ready", f"the ame fork server did not start: {ready!r}"
        yield install_shim(directory / "bin", socket_path).parent
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
