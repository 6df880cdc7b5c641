"""`ame serve` and ame.web.PageServer: the built page, /config.json and /published/ on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ame.web
from ame.web import PageConfig, PageServer
from ame_core.exceptions import InputError
from tests.cli.conftest import CLEAN_ENV

SETTLEMENT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def get(port: int, path: str) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Cache-Control") or ""
    finally:
        conn.close()


@pytest.fixture
def page(tmp_path: Path) -> Path:
    folder = tmp_path / "page"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>claim</title>")
    return folder


def test_web_exports() -> None:
    assert ame.web.__all__ == ["PageConfig", "PageServer", "built_page_dir"]
    for name in ame.web.__all__:
        assert hasattr(ame.web, name), name


def test_the_server_serves_the_page_its_config_and_the_publish_directory_on_loopback_only(
    tmp_path: Path, page: Path
) -> None:
    published = tmp_path / "published"
    (published / "31337-0xabc" / "epoch-1").mkdir(parents=True)
    (published / "31337-0xabc" / "epoch-1" / "manifest.json").write_text('{"format": 1}')
    (tmp_path / "secret.txt").write_text("not for the page")
    config = PageConfig(31337, SETTLEMENT, "http://127.0.0.1:8545", from_block=7)
    with PageServer(page, published=published, config=config).start() as server:
        assert server.url == f"http://127.0.0.1:{server.port}/"
        status, body, cache = get(server.port, "/")
        assert status == 200 and b"<title>claim</title>" in body and cache == "no-store"
        status, body, _ = get(server.port, "/config.json?x=1")
        assert status == 200 and json.loads(body) == {
            "chainId": 31337,
            "settlement": SETTLEMENT,
            "fromBlock": "7",
            "rpc": "http://127.0.0.1:8545",
        }
        status, body, _ = get(server.port, "/published/31337-0xabc/epoch-1/manifest.json")
        assert (status, body) == (200, b'{"format": 1}')
        for escape in (
            "/published/../secret.txt",
            "/../secret.txt",
            "/published/%2e%2e/secret.txt",
        ):
            assert get(server.port, escape)[0] == 404, escape
        assert (
            get(server.port, "/manifest.json")[0] == 404
        )  # published files only under /published/


def test_without_a_config_the_page_directory_s_own_is_served_and_no_publish_directory(
    page: Path,
) -> None:
    (page / "config.json").write_text('{"chainId": 1}')
    with PageServer(page).start() as server:
        assert get(server.port, "/config.json")[1] == b'{"chainId": 1}'
        assert get(server.port, "/published/x")[0] == 404


def test_an_unbuilt_page_or_a_missing_publish_directory_is_refused_naming_it(
    tmp_path: Path, page: Path
) -> None:
    with pytest.raises(
        InputError, match=r"page: no index.html in .*: build the claim page with `make web`"
    ):
        PageServer(tmp_path)
    with pytest.raises(InputError, match=r"publish directory: .*nowhere is not a directory"):
        PageServer(page, published=tmp_path / "nowhere")


def test_ame_serve_serves_the_page_until_stopped(tmp_path: Path, page: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    args = ["--port", "0", "--page", str(page), "--chain-id", "31337", "--settlement", SETTLEMENT]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ame.cli", "serve", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving the claim page on http://127.0.0.1:"), line
        port = int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        assert get(port, "/")[0] == 200
        assert json.loads(get(port, "/config.json")[1])["settlement"] == SETTLEMENT
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_ame_serve_refuses_a_settlement_without_its_chain(page: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ame.cli", "serve", "--page", str(page), "--settlement", SETTLEMENT],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--chain-id and --settlement go together" in done.stderr


def _serve(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "ame.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
    )


def _served_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("serving the claim page on http://127.0.0.1:"), line
    return int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def test_ame_serve_reads_its_settings_from_ame_toml_and_the_environment(
    tmp_path: Path, page: Path
) -> None:
    published = tmp_path / "pub"
    published.mkdir()
    (published / "hello.json").write_text("{}")
    (tmp_path / "ame.toml").write_text(
        "[claim_page]\nchain_id = 31337\nport = 0\ndir = 'page'\n"
        "[settlement]\naddress = '" + SETTLEMENT + "'\nfrom_block = 5\n"
        "[chain]\nrpc = 'http://127.0.0.1:8545'\n[publish]\ndir = 'pub'\n"
    )
    proc = _serve(tmp_path, env={"AME_RPC_URL": "http://127.0.0.1:9999"})
    try:
        port = _served_port(proc)
        assert json.loads(get(port, "/config.json")[1]) == {
            "chainId": 31337,
            "settlement": SETTLEMENT,
            "fromBlock": "5",
            "rpc": "http://127.0.0.1:9999",  # the environment over the file
        }
        assert get(port, "/published/hello.json")[:2] == (200, b"{}")
        assert get(port, "/")[0] == 200  # [claim_page] dir, relative to the file
    finally:
        _stop(proc)


def test_ame_serve_options_override_the_config(tmp_path: Path, page: Path) -> None:
    other = "0x" + "12" * 20
    (tmp_path / "ame.toml").write_text(
        f"[claim_page]\nchain_id = 1\nport = 1\n[settlement]\naddress = '{SETTLEMENT}'\n"
    )
    proc = _serve(
        tmp_path, "--port", "0", "--page", str(page), "--chain-id", "5", "--settlement", other
    )
    try:
        config = json.loads(get(_served_port(proc), "/config.json")[1])
        assert (config["chainId"], config["settlement"].lower()) == (5, other)
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        (
            "[claim_page]\nport = 0\n",
            {"AME_SETTLEMENT": SETTLEMENT},
            "ConfigError: claim_page.chain_id: not set, but settlement.address is",
        ),
        (
            "[claim_page]\nchain_id = 31337\nport = 0\n",
            {},
            "ConfigError: settlement.address: not set, but claim_page.chain_id is",
        ),
        (
            "[claim_page]\nport = 70000\n",
            {},
            "ConfigError: ame.toml: claim_page.port: ",
        ),
        (
            "[claim_page]\nport = 0\n",
            {"AME_CLAIM_PAGE_URL": "javascript:alert(1)"},
            "ConfigError: $AME_CLAIM_PAGE_URL (claim_page.url): 'javascript:alert(1)' is not an "
            "http(s) URL",
        ),
    ],
)
def test_ame_serve_refuses_a_bad_config_naming_the_field(
    tmp_path: Path, page: Path, toml: str, env: dict[str, str], message: str
) -> None:
    (tmp_path / "ame.toml").write_text(toml)
    base = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "ame.cli", "serve", "--page", str(page)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**base, **env},
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.replace(str(tmp_path) + "/", "").startswith(message), done.stderr
    assert "Traceback" not in done.stderr
