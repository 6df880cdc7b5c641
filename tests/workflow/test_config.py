"""ame.toml and AME_* overrides: precedence, path resolution, and errors naming field and source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ame.config import ENV_OVERRIDES, AmeConfig, ConfigError, load_config
from tests._messages import assert_plain

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


# Every class of value a TOML file can hold, written as TOML, for any field of any section.
_TOML_VALUES = st.one_of(
    st.booleans().map(lambda b: "true" if b else "false"),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: (
            "nan" if f != f else ("inf" if f > 0 else "-inf") if abs(f) == float("inf") else repr(f)
        )
    ),
    st.text(st.characters(codec="utf-8"), max_size=20).map(
        lambda s: json.dumps(s, ensure_ascii=False)
    ),
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.lists(st.integers(-5, 5), max_size=3).map(lambda xs: "[" + ", ".join(map(str, xs)) + "]"),
    st.just("{ a = 1 }"),
)
_FIELDS = sorted(
    (section, name)
    for section, info in AmeConfig.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
    for name in info.annotation.model_fields
)


@seed(15)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(_FIELDS), _TOML_VALUES)
def test_any_value_of_any_config_field_loads_or_is_refused_naming_the_field_plainly(
    tmp_path: Path, field: tuple[str, str], value: str
) -> None:
    section, name = field
    write(tmp_path, f"[{section}]\n{name} = {value}\n")
    try:
        load_config(env={}, cwd=tmp_path)
    except ConfigError as err:
        assert f"{section}.{name}" in str(err)
        assert_plain(str(err))


@seed(15)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(sorted(ENV_OVERRIDES)), st.text(max_size=20).filter(lambda s: "\0" not in s))
def test_any_value_of_any_environment_setting_loads_or_is_refused_naming_it_plainly(
    tmp_path: Path, variable: str, value: str
) -> None:
    try:
        load_config(env={variable: value}, cwd=tmp_path)
    except ConfigError as err:
        assert f"${variable}" in str(err)
        assert_plain(str(err))
