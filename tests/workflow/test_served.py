"""After settling, each published file is fetched back from its URI and compared byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ame.workflow import (
    DurableSender,
    FetchPolicy,
    MappingInputs,
    StateStore,
    WorkflowError,
    Workspace,
    check_served,
    format_date,
    settle_epoch,
)
from ame_chain.chains import InProcessChain, free_port
from ame_chain.client import SettlementClient
from tests.workflow._helpers import LOCAL_FETCH, OPERATOR, write_inputs

#: What the server does with one published file.
CLASSES = ("same", "missing", "flipped", "longer", "shorter")


def _settled(
    chain: InProcessChain, client: SettlementClient, root: Path, base: str
) -> tuple[Workspace, int]:
    state = StateStore(root / "state")
    ws = Workspace(
        chain,
        client,
        state,
        root / "published",
        base_uri=base,
        sender=DurableSender(chain.w3, chain.dev_accounts[OPERATOR], state),
        fetch_policy=LOCAL_FETCH,
    )
    result = settle_epoch(ws, MappingInputs.load(*write_inputs(root / "in", chain, 1)))  # type: ignore[arg-type]
    return ws, result.header.challenge_end


@seed(16)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_check_served_names_exactly_the_files_not_served_as_published(
    chain: InProcessChain,
    client: SettlementClient,
    tmp_path: Path,
    www: tuple[Path, str],
    data: st.DataObject,
) -> None:
    root, base = www
    # Settled on the first example; the others resume it (settle is idempotent).
    ws, end = _settled(chain, client, tmp_path, base)
    try:
        _check_one_layout(ws, end, root, base, data)
    finally:
        ws.state.close()


def _check_one_layout(ws: Workspace, end: int, root: Path, base: str, data: st.DataObject) -> None:
    published = ws.publish_dir
    files = sorted(p for p in published.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"manifest.json", "values.json", "registry.json"}
    shutil.rmtree(root)
    root.mkdir()
    chosen = {}
    for path in files:
        kind = data.draw(st.sampled_from(CLASSES), label=path.name)
        chosen[path.name] = kind
        served = root / path.relative_to(published)
        served.parent.mkdir(parents=True, exist_ok=True)
        body = path.read_bytes()
        if kind == "missing":
            continue
        if kind == "flipped":
            body = bytes([body[0] ^ 1]) + body[1:]
        elif kind == "longer":
            body += b"\n"
        elif kind == "shorter":
            body = body[:-1]
        served.write_bytes(body)

    check = check_served(ws, 1, end, policy=FetchPolicy(deadline=30))
    assert check is not None
    assert {f.path.name for f in check.problems} == {n for n, k in chosen.items() if k != "same"}
    assert check.ok == all(k == "same" for k in chosen.values())
    for file in check.files:
        assert file.uri.startswith(base) and file.uri.endswith(file.path.name)
        kind = chosen[file.path.name]
        if kind == "missing":
            assert file.problem is not None and file.problem.startswith("not served: ")
            assert "HTTP 404" in file.problem
        elif kind != "same":
            assert file.problem is not None and file.problem.startswith("serves other bytes")
    if check.ok:
        assert check.advice() == ""
    else:
        assert check.advice().startswith(f"upload the folder {check.folder} to {check.base} ")
        assert f"before {format_date(end)}, when epoch 1's challenge window ends" in check.advice()
        assert check.folder == files[0].parent and check.base.startswith(base)


def test_check_served_says_so_when_no_server_answers_and_skips_file_uris(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path
) -> None:
    ws, end = _settled(chain, client, tmp_path, f"http://127.0.0.1:{free_port()}/ame/")
    check = check_served(ws, 1, end, policy=FetchPolicy(deadline=10))
    assert check is not None and not check.ok
    assert all("cannot fetch" in (f.problem or "") for f in check.files)
    ws.base_uri = None
    assert check_served(ws, 1, end) is None
    ws.base_uri = "http://127.0.0.1:9/"
    with pytest.raises(WorkflowError, match="epoch 2: nothing is published in "):
        check_served(ws, 2, end)
    ws.state.close()
