"""A corpus of malformed inputs, each run through the real ``ame`` command.

Every case must end with exit status 1, an ``ErrorName: message`` line naming the problem,
no traceback, and no file or state changed: the case's directory (state database compared
row by row, every other file byte by byte) is the same after the command as before. The
one exception is an empty ``settle-*.lock`` file, which holds no data.

Kinds: registry, values, policy, carried ledger, manifest (committed on-chain by a hostile
operator, or tampered with after proposal), config (TOML and environment), keystore and
private key, addresses, amounts, state, output paths; node answers (timeouts, dropped
connections, wrong chain id, malformed results) are in ``test_node_answers.py``; tree
dumps, which no command reads, go through ``StandardMerkleTree.load`` at the end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from eth_account import Account

from ame.cli import CliEnv, main
from ame.workflow import keccak_hex
from ame_chain.chains import InProcessChain
from ame_chain.contracts import load_artifact
from ame_chain.exceptions import MerkleInputError
from ame_chain.merkle import StandardMerkleTree
from ame_chain.tx import Transactor
from tests.cli.conftest import CLEAN_ENV
from tests.workflow._helpers import ADMIN, ARBITER, CONFIG, OPERATOR, write_inputs

CONTRIBUTOR = 5
HUGE = "9" * 5_000
DEEP = "[" * 50_000 + "]" * 50_000


# --------------------------------------------------------------------------- the world the cases run in


@dataclass
class Base:
    """A chain with a deployed contract, a settled and finalised epoch, and hostile epochs."""

    chain: InProcessChain
    root: Path
    settlement: str
    token: str
    hostile: dict[str, int]  # manifest case -> the epoch committed to it


def invoke(chain: InProcessChain, argv: list[object], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        main, [str(a) for a in argv], obj=CliEnv(chain=chain), env={**CLEAN_ENV, **(env or {})}
    )


def _propose_raw(chain: InProcessChain, settlement: str, epoch: int, data: bytes, uri: str) -> None:
    """What a hostile operator can do: commit to any bytes as the manifest, then finalise."""
    contract = chain.w3.eth.contract(address=settlement, abi=load_artifact("AmeSettlement").abi)  # type: ignore[call-overload]
    operator = Transactor(chain.w3, chain.dev_accounts[OPERATOR])
    operator.send(
        contract.functions.propose(
            epoch, b"\1" * 32, "0x" + "00" * 20, 1000, 1, bytes.fromhex(keccak_hex(data)[2:]), uri
        ),
        value=1000 + CONFIG.operator_bond,
    )


HOSTILE_MANIFESTS: dict[str, bytes] = {
    "manifest-nested-50000-deep": DEEP.encode(),
    "manifest-5000-digit-number": ('{"format": "ame.manifest/1", "epoch": ' + HUGE + "}").encode(),
    "manifest-not-json": b"\x89PNG\r\n\x1a\n not a manifest",
    "manifest-other-format": json.dumps({"format": "ame.values/1", "epoch": 1}).encode(),
    "manifest-no-leaves": json.dumps({"format": "ame.manifest/1"}).encode(),
    # A parser keeping the last of two keys would read a manifest other than the one hashed.
    "manifest-repeated-key": b'{"format": "ame.manifest/1", "epoch": 1, "epoch": 2}',
}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    chain = InProcessChain()
    root = tmp_path_factory.mktemp("base")
    state = root / "state"
    accounts = chain.dev_accounts
    deployed = invoke(
        chain,
        ["deploy", "--dev-account", ADMIN, "--operator", accounts[OPERATOR].address,
         "--arbiter", accounts[ARBITER].address, "--challenge-window", CONFIG.challenge_window,
         "--json", "--state-dir", state],
    )  # fmt: skip
    assert deployed.exit_code == 0, deployed.output
    settlement = json.loads(deployed.stdout)["address"]
    values, registry, _ = write_inputs(root / "inputs", chain, 1)
    settled = invoke(
        chain,
        ["settle", "--values", values, "--registry", registry, "--dev-account", OPERATOR,
         "--state-dir", state],
    )  # fmt: skip
    assert settled.exit_code == 0, settled.output
    hostile = {}
    for epoch, (name, data) in enumerate(HOSTILE_MANIFESTS.items(), start=100):
        path = root / "hostile" / f"{name}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        _propose_raw(chain, settlement, epoch, data, path.as_uri())
        hostile[name] = epoch
    _propose_raw(chain, settlement, 200, b"{}", (root / "hostile" / "missing.json").as_uri())
    _propose_raw(chain, settlement, 201, b"{}", "ftp://example.org/manifest.json")
    hostile.update({"manifest-uri-missing-file": 200, "manifest-uri-unsupported-scheme": 201})
    chain.increase_time(CONFIG.challenge_window + 1)
    for epoch in [1, *hostile.values()]:
        finalized = invoke(chain, ["finalize", epoch, "--dev-account", ADMIN, "--state-dir", state])
        assert finalized.exit_code == 0, finalized.output
    artifact = load_artifact("MockERC20")
    made = Transactor(chain.w3, accounts[ADMIN]).send(
        chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor("T", "T")
    )
    token = str(made.receipt["contractAddress"])
    try:
        yield Base(chain, root, settlement, token, hostile)
    finally:
        chain.close()


@dataclass
class Env:
    """One case's directory: a copy of the base state, the valid inputs, and file helpers."""

    base: Base
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def chain(self) -> InProcessChain:
        return self.base.chain

    def file(self, name: str, content: str | bytes | dict[str, Any] | list[Any]) -> Path:
        path = self.root / "inputs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (dict, list)):
            path.write_text(json.dumps(content))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def values(self, epoch: int = 2, revenue: int = 10**18) -> dict[str, Any]:
        values, _, _ = write_inputs(self.root / "valid", self.chain, epoch, revenue)
        return dict(json.loads(values.read_text()))

    def registry(self) -> dict[str, Any]:
        _, registry, _ = write_inputs(self.root / "valid", self.chain, 2)
        return dict(json.loads(registry.read_text()))

    def map(
        self, values: Path | None = None, registry: Path | None = None, *extra: object
    ) -> list[object]:
        return [
            "map",
            values or self.file("values.json", self.values()),
            registry or self.file("registry.json", self.registry()),
            "-o",
            self.root / "out" / "manifest.json",
            *extra,
        ]

    def settle(self, values: Path | None = None, *extra: object) -> list[object]:
        return [
            "settle",
            "--values",
            values or self.file("values.json", self.values()),
            "--registry",
            self.file("registry.json", self.registry()),
            *extra,
        ]

    def keystore(self, content: str | bytes | dict[str, Any] | list[Any]) -> list[object]:
        return [*self.settle(), "--keystore", self.file("key.json", content)]


def _repeat(document: dict[str, Any], key: str, value: object) -> str:
    """``document`` as JSON text with ``key`` given a second time (``value``) at its end."""
    return json.dumps(document)[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}"


def _key_file(password: str = "right", **changes: Any) -> dict[str, Any]:
    keystore = Account.encrypt("0x" + "42" * 32, password, kdf="pbkdf2", iterations=2)
    keystore["crypto"].update(changes)
    return dict(keystore)


def _with(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """``doc`` with the node at ``path`` set to ``value`` (deleted when value is ``...``)."""
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under ``root``: SQLite databases by their rows, others by hash."""
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_dir():
            seen[name] = "dir"
        elif path.suffix == ".lock" and path.stat().st_size == 0:
            continue  # an flock file: no data
        elif path.suffix == ".db":
            try:
                with sqlite3.connect(path) as db:
                    rows = "\n".join(db.iterdump()).encode()
            except sqlite3.DatabaseError:  # not a database (a case planted garbage): its bytes
                rows = path.read_bytes()
            seen[name] = hashlib.sha256(rows).hexdigest()
        else:
            seen[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    """One malformed input: the command that reads it, the error it must give and what it names."""

    id: str
    argv: Callable[[Env], list[object]]
    error: str
    says: str
    env: Callable[[Env], dict[str, str]] = field(default=lambda e: {})
    code: int = 1
    stateless: bool = False  # the command takes no --state-dir (`ame attribute`)


def _op(e: Env) -> list[object]:
    return ["--dev-account", OPERATOR]


def _reg(e: Env, path: tuple[Any, ...], value: Any) -> list[object]:
    return e.map(registry=e.file("registry.json", _with(e.registry(), path, value)))


def _val(e: Env, path: tuple[Any, ...], value: Any) -> list[object]:
    return e.map(values=e.file("values.json", _with(e.values(), path, value)))


def _toml(text: str | bytes) -> Callable[[Env], list[object]]:
    return lambda e: ["status", "--config", e.file("ame.toml", text)]


def _pw(password: str = "right") -> Callable[[Env], dict[str, str]]:
    return lambda e: {"AME_KEYSTORE_PASSWORD": password}


def _garbage_state(e: Env) -> list[object]:
    (e.state / "ame.db").write_bytes(b"garbage" * 100)
    return ["status"]


def _newer_state(e: Env) -> list[object]:
    with sqlite3.connect(e.state / "ame.db") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    return ["status"]


_REFERENCE_SCENARIO = (
    Path(__file__).resolve().parents[2] / "offchain" / "scenario" / "data" / "reference.yaml"
).read_text()


def _scenario(e: Env, text: str, suffix: str) -> list[object]:
    return ["attribute", e.file(f"scenario{suffix}", text), "-o", e.root / "values.json"]


OWNER = ("assets", 0, "owners", 0)
EVENT = ("events", 0)

CASES = [
    # -- registry (ame map VALUES REGISTRY) --------------------------------------------------
    Case("registry-not-json", lambda e: e.map(registry=e.file("r.json", "{")), "InputError", "not valid json"),
    Case("registry-empty-file", lambda e: e.map(registry=e.file("r.json", "")), "InputError", "not valid json"),
    Case("registry-invalid-utf8", lambda e: e.map(registry=e.file("r.json", b"\xff\xfe{}")), "InputError", "cannot read"),
    Case("registry-a-list", lambda e: e.map(registry=e.file("r.json", [])), "RegistryError", "must be a mapping, got list"),
    Case("registry-yaml-tab", lambda e: e.map(registry=e.file("r.yaml", "assets: [\n\t- x")), "InputError", "not valid yaml"),
    Case("registry-nested-50000-deep", lambda e: e.map(registry=e.file("r.json", DEEP)), "InputError", "nested too deeply"),
    Case("registry-yaml-nested-50000-deep", lambda e: e.map(registry=e.file("r.yaml", DEEP)), "InputError", "nested too deeply"),
    Case("registry-5000-digit-revision", lambda e: e.map(registry=e.file("r.json", '{"revision": ' + HUGE + "}")), "InputError", "4300 digits"),
    Case("registry-other-format", lambda e: _reg(e, ("format",), "ame.registry/2"), "RegistryError", "format"),
    Case("registry-no-assets", lambda e: _reg(e, ("assets",), ...), "RegistryError", "assets: required"),
    Case("registry-unknown-field", lambda e: _reg(e, ("owner",), "me"), "RegistryError", "owner: unknown field"),
    Case("registry-owner-not-an-address", lambda e: _reg(e, (*OWNER, "address"), "0x12"), "RegistryError", "'0x12'"),
    Case("registry-owner-bad-checksum", lambda e: _reg(e, (*OWNER, "address"), "0x" + "aB" * 20), "RegistryError", "checksum"),
    Case("registry-share-above-one", lambda e: _reg(e, (*OWNER, "share"), "3/2"), "RegistryError", "share"),
    Case("registry-negative-share", lambda e: _reg(e, (*OWNER, "share"), "-1"), "RegistryError", "share"),
    Case("registry-duplicate-asset", lambda e: _reg(e, ("assets", 1, "id"), "a0"), "RegistryError", "a0"),
    Case("registry-unknown-parent", lambda e: _reg(e, ("assets", 0, "parents"), [{"asset": "zz", "relation": "derived_from", "royalty": "1%"}]), "RegistryError", "zz"),
    Case("registry-royalty-above-100", lambda e: _reg(e, ("assets", 1, "parents"), [{"asset": "a0", "relation": "derived_from", "royalty": "150%"}]), "RegistryError", "royalty"),
    Case("registry-bad-content-hash", lambda e: _reg(e, ("assets", 0, "content_hash"), "md5:x"), "RegistryError", "content_hash"),
    Case("registry-negative-revision", lambda e: _reg(e, ("revision",), -1), "RegistryError", "revision"),
    Case("registry-repeated-key", lambda e: e.map(registry=e.file("r.json", _repeat(e.registry(), "revision", 9))), "InputError", "duplicate key 'revision' at revision"),
    Case("registry-yaml-repeated-key", lambda e: e.map(registry=e.file("r.yaml", "format: ame.registry/1\nassets: []\nassets: []\n")), "InputError", "duplicate key 'assets' at assets (line 3)"),
    # -- values (ame map) ----------------------------------------------------------------------
    Case("values-not-json", lambda e: e.map(values=e.file("v.json", "{'epoch': 1}")), "InputError", "not valid json"),
    Case("values-a-string", lambda e: e.map(values=e.file("v.json", '"values"')), "InputError", "must be a mapping, got str"),
    Case("values-nested-50000-deep", lambda e: e.map(values=e.file("v.json", DEEP)), "InputError", "nested too deeply"),
    Case("values-5000-digit-epoch", lambda e: e.map(values=e.file("v.json", '{"epoch": ' + HUGE + "}")), "InputError", "4300 digits"),
    Case("values-other-format", lambda e: _val(e, ("format",), "ame.values/9"), "InputError", "format"),
    Case("values-negative-epoch", lambda e: _val(e, ("epoch",), -1), "InputError", "epoch"),
    Case("values-epoch-a-word", lambda e: _val(e, ("epoch",), "one"), "InputError", "epoch"),
    Case("values-negative-revenue", lambda e: _val(e, (*EVENT, "revenue"), -5), "InputError", "revenue"),
    Case("values-fractional-revenue", lambda e: _val(e, (*EVENT, "revenue"), 0.5), "InputError", "revenue: amount must be an integer"),
    Case("values-revenue-1e999999", lambda e: e.map(values=e.file("v.json", json.dumps(e.values()).replace('"revenue": 1000000000000000000', '"revenue": 1e999999'))), "InputError", "revenue"),
    Case("values-revenue-true", lambda e: _val(e, (*EVENT, "revenue"), True), "InputError", "revenue"),
    Case("values-value-nan", lambda e: _val(e, (*EVENT, "values", "a0"), "NaN"), "InputError", "finite"),
    Case("values-negative-value", lambda e: _val(e, (*EVENT, "values", "a0"), -1), "InputError", "must not be negative"),
    Case("values-unknown-asset", lambda e: _val(e, (*EVENT, "values", "zz"), 1), "MappingError", "asset 'zz' is not in the registry"),
    Case("values-duplicate-event", lambda e: _val(e, ("events",), [e.values()["events"][0]] * 2), "InputError", "already events[0]"),
    Case("values-impossible-date", lambda e: _val(e, (*EVENT, "date"), "2026-02-30"), "InputError", "is not a date"),
    Case("values-events-a-mapping", lambda e: _val(e, ("events",), {"e1": 1}), "InputError", "events"),
    Case("values-repeated-key", lambda e: e.map(values=e.file("v.json", _repeat(e.values(), "epoch", 7))), "InputError", "duplicate key 'epoch' at epoch"),
    # -- policy and carried ledger (ame map --policy / --carried) -------------------------------
    Case("policy-a-list", lambda e: e.map(None, None, "--policy", e.file("p.json", [])), "InputError", "must be a mapping, got list"),
    Case("policy-other-format", lambda e: e.map(None, None, "--policy", e.file("p.json", {"format": "ame.policy/2"})), "InputError", "format"),
    Case("policy-unknown-withheld", lambda e: e.map(None, None, "--policy", e.file("p.json", {"format": "ame.policy/1", "withheld": "burn"})), "InputError", "withheld"),
    Case("policy-zero-min-payout", lambda e: e.map(None, None, "--policy", e.file("p.json", {"format": "ame.policy/1", "min_payout": "0"})), "InputError", "must be at least 1"),
    Case("carried-negative-balance", lambda e: e.map(None, None, "--carried", e.file("c.json", {"format": "ame.carried/1", "balances": {"0x" + "11" * 20: "-5"}})), "InputError", "balances"),
    Case("carried-key-not-an-address", lambda e: e.map(None, None, "--carried", e.file("c.json", {"format": "ame.carried/1", "balances": {"alice": "5"}})), "InputError", "'alice'"),
    Case("policy-repeated-key", lambda e: e.map(None, None, "--policy", e.file("p.json", '{"format": "ame.policy/1", "min_payout": "1", "min_payout": "9"}')), "InputError", "duplicate key 'min_payout' at min_payout"),
    Case("carried-repeated-key", lambda e: e.map(None, None, "--carried", e.file("c.json", '{"format": "ame.carried/1", "balances": {"0x' + "11" * 20 + '": "5", "0x' + "11" * 20 + '": "6"}}')), "InputError", "duplicate key '0x" + "11" * 20 + "' at balances['0x"),
    Case("carried-manifest-without-carried", lambda e: e.map(None, None, "--carried", e.file("c.json", {"format": "ame.manifest/1"})), "InputError", "carried: must be a mapping"),
    # -- manifests a contributor's claim reads (committed on-chain, or changed after) -----------
    *[
        Case(
            name,
            lambda e, name=name: ["claim", "--epoch", e.base.hostile[name], "--all", "--dev-account", CONTRIBUTOR],
            error,
            says,
        )
        for name, error, says in [
            ("manifest-nested-50000-deep", "InputError", "nested too deeply"),
            ("manifest-5000-digit-number", "InputError", "4300 digits"),
            ("manifest-not-json", "InputError", "not valid JSON"),
            ("manifest-other-format", "InputError", "format"),
            ("manifest-no-leaves", "InputError", "problems"),
            ("manifest-repeated-key", "InputError", "duplicate key 'epoch' at epoch"),
            ("manifest-uri-missing-file", "FetchError", "cannot read"),
            ("manifest-uri-unsupported-scheme", "FetchError", "unsupported URI scheme 'ftp'"),
        ]
    ],
    # -- config (ame status --config FILE, and the environment) --------------------------------
    Case("config-not-toml", _toml("[chain\n"), "ConfigError", "not valid TOML"),
    Case("config-not-utf8", _toml(b"\xff[chain]"), "ConfigError", "cannot read"),
    Case("config-repeated-key", _toml("[chain]\ntimeout = 1\ntimeout = 2"), "ConfigError", "not valid TOML"),
    Case("config-nested-50000-deep", _toml("a = " + DEEP), "ConfigError", "nested too deeply"),
    Case("config-5000-digit-number", _toml("[settlement]\nfrom_block = " + HUGE), "ConfigError", "4300 digits"),
    Case("config-section-not-a-table", _toml("state = 1"), "ConfigError", "state: must be a [state] table"),
    Case("config-unknown-section", _toml("[wallet]\nkey = 1"), "ConfigError", "wallet: unknown field"),
    Case("config-unknown-field", _toml("[chain]\nrcp = 'http://x'"), "ConfigError", "chain.rcp: unknown field"),
    Case("config-rpc-not-http", _toml("[chain]\nrpc = 'ws://127.0.0.1:1'"), "ConfigError", "is not an http(s) URL"),
    Case("config-zero-timeout", _toml("[chain]\ntimeout = 0"), "ConfigError", "chain.timeout"),
    Case("config-settlement-not-an-address", _toml("[settlement]\naddress = '0x12'"), "ConfigError", "settlement.address: '0x12' is not an address"),
    Case("config-settlement-bad-checksum", _toml("[settlement]\naddress = '0x" + "aB" * 20 + "'"), "ConfigError", "is not an address"),
    Case("config-zero-challenge-window", _toml("[deploy]\nchallenge_window = 0"), "ConfigError", "deploy.challenge_window"),
    Case("config-bond-beyond-96-bits", _toml(f"[deploy]\noperator_bond = {2**96}"), "ConfigError", "deploy.operator_bond"),
    Case("config-float-block", _toml("[settlement]\nfrom_block = 1.5"), "ConfigError", "is not a whole number"),
    Case("config-base-uri-without-scheme", _toml("[publish]\nbase_uri = 'example.org'"), "ConfigError", "is not a URI"),
    Case("config-missing-file", lambda e: ["status", "--config", e.root / "none.toml"], "ConfigError", "config file not found", code=2),
    Case("env-settlement-not-an-address", lambda e: ["status"], "ConfigError", "$AME_SETTLEMENT", env=lambda e: {"AME_SETTLEMENT": "0x12"}),
    Case("env-token-not-an-address", lambda e: ["status"], "ConfigError", "$AME_TOKEN", env=lambda e: {"AME_TOKEN": "usdc"}),
    Case("env-bond-beyond-96-bits", lambda e: ["status"], "ConfigError", "$AME_OPERATOR_BOND", env=lambda e: {"AME_OPERATOR_BOND": str(2**96)}),
    Case("env-negative-dispute-bond", lambda e: ["status"], "ConfigError", "$AME_DISPUTE_BOND", env=lambda e: {"AME_DISPUTE_BOND": "-1"}),
    Case("env-zero-claim-period", lambda e: ["status"], "ConfigError", "$AME_CLAIM_PERIOD", env=lambda e: {"AME_CLAIM_PERIOD": "0"}),
    Case("env-timeout-a-word", lambda e: ["status"], "ConfigError", "$AME_RPC_TIMEOUT", env=lambda e: {"AME_RPC_TIMEOUT": "soon"}),
    # -- keystores and keys (ame settle --keystore FILE) ----------------------------------------
    Case("keystore-not-json", lambda e: e.keystore("{not json"), "InputError", "not a JSON keystore", env=_pw()),
    Case("keystore-nested-50000-deep", lambda e: e.keystore(DEEP), "InputError", "not a JSON keystore", env=_pw()),
    Case("keystore-repeated-key", lambda e: e.keystore(_repeat(_key_file(), "version", 3)), "InputError", "not a JSON keystore (duplicate key 'version' at version)", env=_pw()),
    Case("keystore-a-list", lambda e: e.keystore([1, 2]), "InputError", "not an eth-account keystore", env=_pw()),
    Case("keystore-empty-object", lambda e: e.keystore({}), "InputError", "not an eth-account keystore", env=_pw()),
    Case("keystore-wrong-password", lambda e: e.keystore(_key_file()), "InputError", "wrong password or corrupted keystore", env=_pw("wrong")),
    Case("keystore-tampered-ciphertext", lambda e: e.keystore(_key_file(ciphertext="00" * 32)), "InputError", "wrong password or corrupted keystore", env=_pw()),
    Case("keystore-unknown-kdf", lambda e: e.keystore(_key_file(kdf="argon9")), "InputError", "not an eth-account keystore", env=_pw()),
    Case("keystore-version-1", lambda e: e.keystore({"version": 1, "crypto": {}}), "InputError", "not an eth-account keystore", env=_pw()),
    Case("keystore-missing-file", lambda e: [*e.settle(), "--keystore", e.root / "none.json"], "Error", "none.json' does not exist", env=_pw(), code=2),
    Case("keystore-from-env-missing-file", lambda e: e.settle(), "InputError", "file not found", env=lambda e: {**_pw()(e), "AME_KEYSTORE": str(e.root / "none.json")}),
    Case("keystore-without-password", lambda e: e.keystore(_key_file()), "InputError", "no password"),
    Case("private-key-not-hex", lambda e: e.settle(), "InputError", "$AME_PRIVATE_KEY is not a valid private key", env=lambda e: {"AME_PRIVATE_KEY": "zz" * 32}),
    Case("private-key-too-short", lambda e: e.settle(), "InputError", "$AME_PRIVATE_KEY is not a valid private key", env=lambda e: {"AME_PRIVATE_KEY": "0x1234"}),
    Case("dev-account-out-of-range", lambda e: [*e.settle(), "--dev-account", 99], "InputError", "--dev-account: 99 is not in 0..9"),
    # -- addresses ------------------------------------------------------------------------------
    # An address on the command line is checked as click parses it: bad usage, exit 2.
    Case("settlement-too-short", lambda e: ["status", "--settlement", "0x12"], "Error", "'--settlement': '0x12' is not an address", code=2),
    Case("settlement-not-a-contract", lambda e: ["status", "--settlement", e.chain.dev_accounts[9].address], "WorkflowError", "no contract at"),
    Case("settlement-is-a-token", lambda e: ["status", "--settlement", e.base.token], "WorkflowError", "is not an AmeSettlement"),
    Case("claim-account-not-an-address", lambda e: ["claim", "--account", "alice", "--dev-account", CONTRIBUTOR], "Error", "'--account': 'alice' is not an address", code=2),
    Case("claim-account-bad-checksum", lambda e: ["claim", "--account", "0x" + "aB" * 20, "--dev-account", CONTRIBUTOR], "Error", "is not an address (wrong checksum)", code=2),
    Case("withdraw-to-not-an-address", lambda e: ["withdraw", "--to", "0x12", *_op(e)], "Error", "'--to': '0x12' is not an address", code=2),
    Case("settle-token-not-an-address", lambda e: [*e.settle(), "--token", "usdc", *_op(e)], "Error", "'--token': 'usdc' is not an address", code=2),
    Case("deploy-operator-not-an-address", lambda e: ["deploy", "--operator", "0x12", "--dev-account", ADMIN], "Error", "'--operator': '0x12' is not an address", code=2),
    Case("deploy-sweep-recipient-bad-checksum", lambda e: ["deploy", "--sweep-recipient", "0x" + "aB" * 20, "--dev-account", ADMIN], "Error", "'--sweep-recipient': ", code=2),
    # -- amounts --------------------------------------------------------------------------------
    Case("settle-pool-beyond-128-bits", lambda e: [*e.settle(e.file("v.json", e.values(revenue=2**200))), *_op(e)], "WorkflowError", "exceeds the contract's limit of 2^128 - 1"),
    Case("settle-pool-beyond-the-operators-funds", lambda e: [*e.settle(e.file("v.json", e.values(revenue=10**30))), *_op(e)], "WorkflowError", "the pool and bond need"),
    Case("settle-token-pool-beyond-the-operators-tokens", lambda e: [*e.settle(), "--token", e.base.token, *_op(e)], "WorkflowError", "of token"),
    # -- state and outputs ----------------------------------------------------------------------
    Case("state-database-garbage", lambda e: _garbage_state(e), "StateError", "file is not a database"),
    Case("state-database-newer-schema", lambda e: _newer_state(e), "StateError", "schema version 99"),
    Case("map-output-under-a-file", lambda e: [*e.map()[:-2], "-o", e.file("plain", "x") / "manifest.json"], "InputError", "is not a writable directory"),
    Case("deploy-output-under-a-file", lambda e: ["deploy", "--dev-account", ADMIN, "-o", e.file("plain", "x") / "d.json"], "InputError", "is not a writable directory"),
    # -- scenarios (ame attribute SCENARIO -o VALUES), read before anything is trained -------
    *[
        Case(name, lambda e, text=text, suffix=suffix: _scenario(e, text, suffix), "InputError", says, stateless=True)
        for name, text, suffix, says in [
            ("scenario-yaml-tab", "format: ame.scenario/1\nid: [\n\t- x", ".yaml", "not valid yaml"),
            ("scenario-a-list", "[1, 2]", ".json", "a scenario must be a mapping, got list"),
            ("scenario-other-format", "format: ame.scenario/2\nid: x", ".yaml", "format"),
            ("scenario-unknown-field", _REFERENCE_SCENARIO + "\nsecret: 1\n", ".yaml", "secret"),
            ("scenario-no-datasets", _REFERENCE_SCENARIO.replace("datasets:", "unused_datasets:"), ".yaml", "datasets"),
            ("scenario-empty-file", "", ".yaml", "must be a mapping"),
        ]
    ],
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_exits_1_names_the_problem_and_writes_nothing(
    base: Base, tmp_path: Path, case: Case
) -> None:
    env = Env(base, tmp_path)
    shutil.copytree(base.root / "state", env.state)
    argv = case.argv(env)  # writes the case's files
    before = snapshot(tmp_path)
    state = [] if case.stateless else ["--state-dir", env.state]
    result = invoke(base.chain, [*argv, *state], case.env(env))
    assert result.exit_code == case.code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # nothing escaped
    assert "Traceback" not in result.output
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{case.error}: ")]
    assert errors, result.stderr
    assert case.says in result.stderr, result.stderr
    assert snapshot(tmp_path) == before


def test_the_corpus_holds_at_least_fifty_inputs_of_every_kind() -> None:
    kinds = {c.id.split("-")[0] for c in CASES}
    assert len(CASES) >= 50
    assert {
        "registry",
        "values",
        "policy",
        "carried",
        "manifest",
        "config",
        "env",
        "keystore",
    } <= kinds


# --------------------------------------------------------------------------- tree dumps (no command reads one)


def _dump() -> dict[str, Any]:
    tree = StandardMerkleTree.of(
        [["0x" + f"{i + 1:040x}", i] for i in range(4)], ["address", "uint256"]
    )
    return tree.dump()


TREE_DUMPS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("not-a-mapping", lambda d: [d], "expected a mapping"),
    ("other-format", lambda d: {**d, "format": "standard-v2"}, "dump field 'format'"),
    ("no-tree", lambda d: {k: v for k, v in d.items() if k != "tree"}, "dump field 'tree': missing"),
    ("unknown-type", lambda d: {**d, "leafEncoding": ["address", "uint257"]}, "leafEncoding"),
    ("node-not-hex", lambda d: {**d, "tree": ["0xzz", *d["tree"][1:]]}, "dump field 'tree[0]'"),
    ("node-uppercase", lambda d: {**d, "tree": [d["tree"][0].upper().replace("0X", "0x"), *d["tree"][1:]]}, "lowercase"),
    ("one-node-short", lambda d: {**d, "tree": d["tree"][:-1]}, "nodes, but 7 expected"),
    ("wrong-root", lambda d: {**d, "tree": ["0x" + "00" * 32, *d["tree"][1:]]}, "is not the hash of its children"),
    ("value-changed", lambda d: _with(d, ("values", 0, "value", 1), "99"), "the value hashes to"),
    ("index-not-a-leaf", lambda d: _with(d, ("values", 0, "treeIndex"), 0), "is not a leaf"),
    ("index-twice", lambda d: _with(d, ("values", 1, "treeIndex"), d["values"][0]["treeIndex"]), "already taken"),
    ("index-a-string", lambda d: _with(d, ("values", 0, "treeIndex"), "3"), "expected an int"),
    ("no-values", lambda d: {**d, "values": []}, "expected a non-empty list"),
    ("value-5000-digits", lambda d: _with(d, ("values", 0, "value", 1), HUGE), "values[0]"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "says"), TREE_DUMPS, ids=[t[0] for t in TREE_DUMPS])
def test_malformed_tree_dump_is_refused_naming_the_field(
    name: str, change: Callable[[dict[str, Any]], Any], says: str
) -> None:
    with pytest.raises(MerkleInputError) as info:
        StandardMerkleTree.load(change(_dump()))
    assert says in str(info.value)


def test_claims_pass_over_epochs_whose_manifest_cannot_be_read(base: Base, tmp_path: Path) -> None:
    # A hostile epoch must not keep contributors from the honest ones: `ame claim` with no
    # --epoch pays epoch 1 and names every epoch it passed over.
    shutil.copytree(base.root / "state", tmp_path / "state")
    result = invoke(
        base.chain,
        [
            "claim",
            "--all",
            "--dev-account",
            CONTRIBUTOR,
            "--json",
            "--state-dir",
            tmp_path / "state",
        ],
    )
    assert result.exit_code == 0, result.output
    paid = json.loads(result.stdout)
    assert {line["epoch"] for line in paid["claims"]} == {1}
    assert sorted(s["epoch"] for s in paid["skipped"]) == sorted(base.hostile.values())
    for epoch in base.hostile.values():
        assert f"skipped epoch {epoch}: " in result.stderr


# --------------------------------------------------------------------------- the scenario loader (found here, fixed by its owner)


def test_scenario_with_a_5000_digit_number_is_an_input_error(base: Base, tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text('{"format": "ame.scenario/1", "seed": ' + HUGE + "}")
    result = invoke(base.chain, ["attribute", scenario, "-o", tmp_path / "values.json"])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1 and "4300 digits" in result.stderr


def test_scenario_nested_200000_deep_is_an_input_error(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text("[" * 200_000 + "]" * 200_000)
    # In a subprocess, as it once killed the interpreter; the loader alone (no torch to import).
    code = "import sys; from offchain.scenario import load_scenario as f; f(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", code, str(scenario)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.returncode  # was -11: a segfault in the plain parser
    assert "InputError: " in done.stderr and "nested too deeply" in done.stderr
