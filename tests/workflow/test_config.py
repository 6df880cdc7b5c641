"""ame.toml and AME_* overrides: precedence, path resolution, and errors naming field and source."""

from __future__ import annotations

from pathlib import Path

import pytest

from ame.config import ConfigError, load_config

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ame.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(env={}, cwd=tmp_path)
    assert config.source is None
    assert config.state_dir == Path(".ame")
    assert config.publish_dir == Path(".ame") / "published"
    assert config.deploy.settlement_config().challenge_window == 3600


def test_file_then_environment_then_command_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[state]\ndir = "st"\n[chain]\nrpc = "http://127.0.0.1:1"\n'
        f'[settlement]\naddress = "{ADDRESS.lower()}"\n[deploy]\nchallenge_window = 60\n',
    )
    config = load_config(env={}, cwd=tmp_path)
    assert config.source == path
    assert config.state_dir == (tmp_path / "st").resolve()  # relative to the file
    assert config.settlement.address == ADDRESS  # checksummed
    assert config.deploy.challenge_window == 60
    env = {"AME_RPC_URL": "http://127.0.0.1:2", "AME_CHALLENGE_WINDOW": "90"}
    config = load_config(env=env, cwd=tmp_path)
    assert (config.chain.rpc, config.deploy.challenge_window) == ("http://127.0.0.1:2", 90)
    config = load_config(env=env, cwd=tmp_path, overrides={("chain", "rpc"): "https://node"})
    assert config.chain.rpc == "https://node"


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[publish]\nbase_uri = "https://example.org/ame"\n')
    config = load_config(env={"AME_CONFIG": str(path)}, cwd=Path("/"))
    assert config.publish.base_uri == "https://example.org/ame/"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (
            '[settlement]\naddress = "0x12"\n',
            {},
            "ame.toml: settlement.address: '0x12' is not an address",
        ),
        ('[chain]\nrcp = "x"\n', {}, "ame.toml: chain.rcp: unknown field"),
        (
            "[deploy]\nchallenge_window = 0\n",
            {},
            "ame.toml: deploy.challenge_window: must be greater than or equal to 1",
        ),
        (
            "[deploy]\noperator_bond = 1.5\n",
            {},
            "ame.toml: deploy.operator_bond: 1.5 is not a whole number",
        ),
        (
            "",
            {"AME_RPC_URL": "localhost:8545"},
            "$AME_RPC_URL (chain.rpc): 'localhost:8545' is not an http(s) URL",
        ),
        (
            "",
            {"AME_DISPUTE_WINDOW": "a day"},
            "$AME_DISPUTE_WINDOW (deploy.dispute_window): 'a day' is not a whole number",
        ),
        (
            '[attribution]\nscheduler = "localhost"\n',
            {},
            "ame.toml: attribution.scheduler: 'localhost' is not a Dask scheduler address",
        ),
        (
            "",
            {"AME_ATTRIBUTION_WORKERS": "0"},
            "$AME_ATTRIBUTION_WORKERS (attribution.workers): must be greater than or equal to "
            "1, got '0'",
        ),
        ("chain = 1\n", {}, "ame.toml: chain: must be a [chain] table"),
        ("[chain\n", {}, "ame.toml: not valid TOML"),
    ],
)
def test_bad_values_name_the_field_and_the_source(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(env=env, cwd=tmp_path)
    assert message in str(caught.value).replace(str(tmp_path) + "/", "")


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_command_line_values_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"command line \(settlement.address\): 'x' is not an address"
    ):
        load_config(env={}, cwd=tmp_path, overrides={("settlement", "address"): "x"})


def test_fetch_settings_from_the_file_and_the_environment(tmp_path: Path) -> None:
    assert load_config(env={}, cwd=tmp_path).fetch.allow_local is None  # decided by the chain
    write(tmp_path, "[fetch]\nmax_bytes = 1024\ndeadline = 5\nallow_local = true\n")
    fetch = load_config(env={}, cwd=tmp_path).fetch
    assert (fetch.max_bytes, fetch.deadline, fetch.allow_local) == (1024, 5, True)
    env = {"AME_FETCH_ALLOW_LOCAL": "false", "AME_FETCH_DEADLINE": "30"}
    fetch = load_config(env=env, cwd=tmp_path).fetch
    assert (fetch.deadline, fetch.allow_local) == (30, False)
    write(tmp_path, "[fetch]\nmax_bytes = 0\n")
    with pytest.raises(
        ConfigError, match=r"ame.toml: fetch.max_bytes: .*greater than or equal to 1"
    ):
        load_config(env={}, cwd=tmp_path)


def test_attribution_settings_from_the_file_and_the_environment(tmp_path: Path) -> None:
    assert load_config(env={}, cwd=tmp_path).attribution.batch_size == 64
    write(tmp_path, '[attribution]\nbatch_size = 8\ncheckpoint_dir = "kept"\n')
    env = {"AME_SCHEDULER": "tcp://127.0.0.1:8786", "AME_ATTRIBUTION_WORKERS": "3"}
    section = load_config(env=env, cwd=tmp_path).attribution
    assert (section.scheduler, section.workers, section.batch_size) == (
        "tcp://127.0.0.1:8786",
        3,
        8,
    )
    assert section.checkpoint_dir == (tmp_path / "kept").resolve()
