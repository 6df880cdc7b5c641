"""The conventions `ame` shares with cast/forge, ape and the web3 tools (docs/cli.md).

`--version`; `--json` before or after the command, errors as one JSON object under it;
camelCase keys in every JSON result; exit 2 for bad usage (a bad option value, an invalid
address, a path that does not exist), 1 for an error while running; no pydantic wording
or Python repr in any message.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ame.cli import main
from ame_chain._addresses import is_valid_address
from ame_chain.chains import InProcessChain
from tests._messages import assert_plain
from tests.cli.conftest import CLEAN_ENV, Ame
from tests.cli.test_cli_workflow import deploy, settle
from tests.workflow._helpers import CONFIG, OPERATOR, WATCHDOG, write_inputs

_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_GOOD = "0x" + "11" * 20


def _error(result: Result, code: int) -> dict[str, Any]:
    """The one JSON error object a `--json` command printed, checked against its shape."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    assert list(document) == ["error"]
    error: dict[str, Any] = document["error"]
    assert sorted(error) == ["code", "message", "name"]
    assert error["code"] == code and re.fullmatch(r"[A-Z]\w+", error["name"])
    assert_plain(error["message"])
    assert "Error:" not in result.stderr  # not also printed for people
    return error


def _bare(*args: str) -> Result:
    """`ame ARGS` as typed: no state directory added (`serve` and `--version` take none)."""
    return CliRunner().invoke(main, list(args), env=CLEAN_ENV)


def test_version_prints_the_package_version() -> None:
    result = _bare("--version")
    assert result.exit_code == 0
    assert result.stdout == f"ame {importlib.metadata.version('ame')}\n"


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_runtime_error_under_json_is_one_json_object_exit_1(tmp_path: Path, where: str) -> None:
    ame = Ame(None, tmp_path / "state")
    args = ["--json", "status"] if where == "before" else ["status", "--json"]
    error = _error(ame(*args), 1)
    assert error["name"] == "ChainError"
    assert error["message"].startswith("no chain to read: pass --rpc URL")


@pytest.mark.parametrize(
    ("args", "name", "message"),
    [
        (
            ("--json", "owed", "0x12"),
            "UsageError",
            "Invalid value for 'ADDRESS': '0x12' is not an address",
        ),
        (("--json", "status", "--bogus"), "UsageError", "No such option '--bogus'"),
        (("status", "--bogus", "--json"), "UsageError", "No such option '--bogus'"),
        (("--json", "finalize"), "UsageError", "Missing argument 'EPOCH'"),
        (
            ("--json", "status", "--rpc", "localhost:8545"),
            "ConfigError",
            "--rpc: 'localhost:8545' is not an http(s) URL",
        ),
        (
            ("--json", "map", "nope.json", "nope.yaml", "-o", "x"),
            "UsageError",
            "'nope.json' does not exist",
        ),
    ],
)
def test_bad_usage_under_json_is_one_json_object_exit_2(
    tmp_path: Path, args: tuple[str, ...], name: str, message: str
) -> None:
    error = _error(Ame(None, tmp_path / "state")(*args), 2)
    assert error["name"] == name and message in error["message"]


def test_the_group_level_json_reaches_the_command(ame: Ame, chain: InProcessChain) -> None:
    deploy(ame, chain)
    before, after = ame("--json", "status"), ame("status", "--json")
    assert before.exit_code == after.exit_code == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)


# -- exit 2 for every bad value, with a plain message ---------------------------------------

_NOT_ADDRESSES = st.one_of(
    st.text(max_size=50).filter(lambda s: not s.startswith("-")),
    st.integers(0, 2**160 - 1).map(lambda n: f"0x{n:x}").filter(lambda s: len(s) != 42),
    # Right length, one letter's case flipped: a typo the checksum catches.
    st.integers(1, 2**160 - 1)
    .map(lambda n: to_checksum_address(f"0x{n:040x}"))
    .filter(lambda a: any(c.isalpha() for c in a[2:]))
    .map(
        lambda a: (
            a[:2]
            + next(a[2:i] + a[i].swapcase() + a[i + 1 :] for i in range(2, 42) if a[i].isalpha())
        )
    ),
)

_ADDRESS_USES = [
    ("owed", "{}"),
    ("proof", "{}", "--epoch", "1"),
    ("status", "--settlement", "{}"),
    ("claim", "--account", "{}"),
    ("settle", "--token", "{}", "--values", "v.json"),
    ("withdraw", "--to", "{}"),
    ("serve", "--chain-id", "1", "--settlement", "{}"),
]


@seed(15)
@_SETTINGS
@given(st.sampled_from(_ADDRESS_USES), _NOT_ADDRESSES.filter(lambda s: not is_valid_address(s)))
def test_any_invalid_address_is_bad_usage_with_a_plain_message(
    tmp_path: Path, use: tuple[str, ...], value: str
) -> None:
    argv = [value if part == "{}" else part for part in use]
    result = _bare(*argv) if use[0] == "serve" else Ame(None, tmp_path / "state")(*argv)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "is not an address" in result.stderr
    assert_plain(result.stderr)


_BAD_INTEGERS = st.one_of(
    st.integers(max_value=-1).map(str),
    st.text(min_size=1, max_size=12).filter(
        lambda s: not s.strip().lstrip("+").isdigit() and not s.startswith("-")
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=3)
    .filter(lambda d: d != d.to_integral_value())
    .map(str),
)

_INTEGER_USES = [
    ("finalize", "{}"),
    ("status", "{}"),
    ("owed", _GOOD, "--epoch", "{}"),
    ("claim", "--epoch", "{}"),
    ("claim", "--batch", "{}"),
    ("settle", "--dev-account", "{}"),
    ("chain", "up", "--port", "{}"),
    ("chain", "advance", "{}"),
    ("serve", "--port", "{}"),
    ("deploy", "--challenge-window", "{}"),
]


@seed(15)
@_SETTINGS
@given(st.sampled_from(_INTEGER_USES), _BAD_INTEGERS)
def test_any_bad_number_is_bad_usage_with_a_plain_message(
    tmp_path: Path, use: tuple[str, ...], value: str
) -> None:
    ame = Ame(None, tmp_path / "state")
    argv = [value if part == "{}" else part for part in use]
    # A value that looks like an option would be read as one: give it as --opt=value.
    if (
        value.startswith("-")
        and argv.index(value) > 0
        and argv[argv.index(value) - 1].startswith("--")
    ):
        at = argv.index(value)
        argv[at - 1 : at + 1] = [f"{argv[at - 1]}={value}"]
    elif value.startswith("-"):
        argv.insert(argv.index(value), "--")
    result = _bare(*argv) if use[0] == "serve" else ame(*argv)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert_plain(result.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ("settle", "--values", "missing.json", "--registry", "missing.yaml"),
        ("map", "missing.json", "missing.yaml", "-o", "out.json"),
        ("attribute", "missing.yaml", "-o", "out.json"),
        ("audit", "1", "--values", "missing.json"),
        ("dispute", "1", "missing.json"),
        ("serve", "--page", "missing-dir"),
        ("status", "--config", "missing.toml"),
    ],
)
def test_a_path_that_does_not_exist_is_bad_usage(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = _bare(*args) if args[0] == "serve" else Ame(None, tmp_path / "state")(*args)
    assert result.exit_code == 2, result.output
    assert "missing" in result.stderr and "Traceback" not in result.output


# -- inputs: a key given twice is refused ---------------------------------------------------


def test_an_input_with_a_repeated_key_is_refused_naming_the_key(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    values, registry, _ = write_inputs(tmp_path, chain, 1)
    text = values.read_text()
    values.write_text(text.replace('"format":', '"epoch": 7, "format":', 1))
    result = ame("map", values, registry, "-o", tmp_path / "m.json")
    assert result.exit_code == 1, result.output
    assert (
        result.stderr == f"InputError: {values}: not valid json: duplicate key 'epoch' at epoch\n"
    )
    assert not (tmp_path / "m.json").exists()


# -- one key style in every JSON result -----------------------------------------------------

_CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")


# Mappings whose keys are data (step names, stage and asset ids, accounts), not names.
_DATA_MAPS = {"gas", "stages", "values", "totals", "names", "roles", "balances", "amounts"}


def _keys(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (path, key) of a JSON document whose key is a name, not data."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        data = path.rsplit(".", 1)[-1].removesuffix("[]") in _DATA_MAPS
        for key, item in value.items():
            # Addresses, asset ids (`dataset:x`), epochs are data wherever they are keys.
            if not (data or key.startswith("0x") or ":" in key or key.isdigit()):
                found.append((path, key))
            found.extend(_keys(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for item in value:
            found.extend(_keys(item, f"{path}[]"))
    return found


def test_every_json_result_uses_camel_case_keys(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    results: dict[str, Any] = {}
    contributor = chain.dev_accounts[5].address

    def run(name: str, *args: object) -> None:
        result = ame(*args, "--json")
        assert result.exit_code in (0, 3), (name, result.output)
        results[name] = json.loads(result.stdout)

    deploy(ame, chain)
    results["settle"] = settle(ame, chain, tmp_path)
    values, registry, _ = write_inputs(tmp_path / "map", chain, 2)
    run("map", "map", values, registry, "-o", tmp_path / "m.json")
    run("status", "status")
    run("owed", "owed", contributor)
    run("proof", "proof", contributor, "--epoch", 1)
    run("audit", "audit")
    run("challenge", "challenge", 1, "--dev-account", WATCHDOG)
    run("advance", "chain", "advance", CONFIG.challenge_window)
    run("finalize", "finalize", 1, "--dev-account", OPERATOR)
    run("claim", "claim", "--all", "--dev-account", WATCHDOG)
    run("withdraw", "withdraw", "--dev-account", OPERATOR)
    run("report", "report", "-o", tmp_path / "r.html")
    run("deploy", "deploy", "--dev-account", 0)
    run("demo", "demo", "--settlement-only")
    assert set(results) == {
        "settle",
        "map",
        "status",
        "owed",
        "proof",
        "audit",
        "challenge",
        "advance",
        "finalize",
        "claim",
        "withdraw",
        "report",
        "deploy",
        "demo",
    }
    wrong = [
        f"{name}: {path}.{key}"
        for name, document in results.items()
        for path, key in _keys(document)
        if not _CAMEL.fullmatch(key)
    ]
    assert wrong == []
