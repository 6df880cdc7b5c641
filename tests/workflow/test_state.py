"""The operator's SQLite state: where an epoch's manifest is kept, and states of schema 1."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from ame.workflow import StateStore
from ame.workflow._state import STATE_FILE, EpochKey
from ame_chain.leaves import EpochHeader

REPO = Path(__file__).resolve().parents[2]
SETTLEMENT = "0x" + "11" * 20


def _fields() -> dict[str, Any]:
    return {
        "manifest_hash": "0x" + "33" * 32,
        "manifest_uri": "file:///m.json",
        "token": "0x" + "00" * 20,
        "root": "0x" + "22" * 32,
        "pool": 5,
        "leaf_count": 1,
        "tree": {"format": "standard-v1"},
    }


def _schema_1_state(directory: Path, key: EpochKey, manifest: bytes) -> None:
    """A state as schema 1 wrote it: the manifest in ``epochs.manifest``, no manifest table."""
    StateStore(directory).close()
    db = sqlite3.connect(directory / STATE_FILE, isolation_level=None)
    fields = _fields()
    db.execute(
        "INSERT INTO epochs VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,'published',0)",
        (
            *key,
            manifest,
            fields["manifest_hash"],
            fields["manifest_uri"],
            fields["token"],
            fields["root"],
            str(fields["pool"]),
            fields["leaf_count"],
            json.dumps(fields["tree"]),
        ),
    )
    db.execute("DROP TABLE epoch_manifests")
    db.execute("DROP TABLE retired_epoch_manifests")
    db.execute("UPDATE meta SET value='1' WHERE key='schema'")
    db.close()


def test_a_schema_1_state_is_upgraded_and_its_epochs_read_as_recorded(tmp_path: Path) -> None:
    old, new = EpochKey(1, SETTLEMENT, 1), EpochKey(1, SETTLEMENT, 2)
    _schema_1_state(tmp_path, old, b'{"old":1}')
    with StateStore(tmp_path) as state:
        row = state.epoch(old)
        assert row is not None and row.manifest == b'{"old":1}'
        state.save_epoch(new, manifest=b'{"new":2}', **_fields())
        assert [r.manifest for r in state.epochs(1, SETTLEMENT)] == [b'{"old":1}', b'{"new":2}']
        previous = state.previous_epoch(EpochKey(1, SETTLEMENT, 3))
        assert previous is not None and previous.manifest == b'{"new":2}'
        # The manifests of a retired contract go with its epochs, counted with them.
        (line,) = state.retire_contract(1, SETTLEMENT, "test")
        assert line.startswith(f"retired 2 epochs of chain 1, contract {SETTLEMENT}")
        assert state.epochs(1, SETTLEMENT) == []
    db = sqlite3.connect(tmp_path / STATE_FILE)
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)
    assert db.execute("SELECT count(*) FROM epoch_manifests").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM retired_epoch_manifests").fetchone() == (1,)
    db.close()


def test_saving_a_large_manifest_and_updating_its_epoch_do_not_hold_it_in_memory(
    tmp_path: Path,
) -> None:
    # SQLite builds a record whole in memory unless its large blob is the last field:
    # with the manifest in the middle of the epoch's row, saving 64 MB took 128 MB more
    # peak memory and recording the header read it all back. Measured in a process of
    # its own (VmHWM), since SQLite's allocations are not Python's.
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from ame.workflow import StateStore
        from ame.workflow._publish import spool
        from ame.workflow._state import EpochKey
        from ame_chain.leaves import EpochHeader

        def hwm():
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024

        key = EpochKey(1, {SETTLEMENT!r}, 1)
        fields = json.loads(sys.argv[2])
        header = EpochHeader.from_json(json.loads(sys.argv[3]))
        chunk = b"x" * (1 << 20)
        with StateStore(Path(sys.argv[1])) as state, spool(chunk for _ in range(64)) as written:
            before = hwm()
            state.save_epoch(key, manifest=written, **fields)
            state.set_header(key, header)
            state.set_status(key, "Finalized")
            print(hwm() - before)
        """
    )
    header = EpochHeader(
        epoch=1,
        root="0x" + "22" * 32,
        token="0x" + "00" * 20,
        pool=5,
        leaf_count=1,
        challenge_end=0,
        operator="0x" + "00" * 20,
        bond=0,
        manifest_hash="0x" + "33" * 32,
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(tmp_path),
            json.dumps(_fields()),
            json.dumps(header.to_json()),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    grown = int(done.stdout.split()[-1])
    assert grown < 16 << 20, f"peak memory grew by {grown / 2**20:.0f} MB for a 64 MB manifest"
    with StateStore(tmp_path) as state:
        row = state.epoch(EpochKey(1, SETTLEMENT, 1))
        assert row is not None and row.manifest == b"x" * (64 << 20)
        assert row.header == header and row.status == "Finalized"
