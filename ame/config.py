"""Operator configuration: one TOML file (``ame.toml``) with ``AME_*`` environment overrides.

Precedence, highest first: command-line options, environment variables, the config
file, defaults. The file is ``--config PATH``, else ``$AME_CONFIG``, else ``./ame.toml``
when it exists; no file at all means defaults and environment only.

```toml
[state]
dir = ".ame"                    # SQLite state, managed chain, published files

[chain]
rpc = "https://rpc.example"     # a node; otherwise the chain `ame chain up` started
timeout = 30                    # seconds per request to the node
receipt_timeout = 120           # seconds to wait for a transaction to be mined

[settlement]
address = "0x..."               # otherwise the last `ame deploy` on this chain
token = "0x..."                 # ERC-20 pools; ETH when absent
from_block = 0                  # where to start reading events

[publish]
dir = ".ame/published"          # where manifests, inputs and evidence are written
base_uri = "https://example.org/ame/"  # their public address; file:// URIs when absent

[fetch]                         # reading documents named on-chain (audit, claim, report)
max_bytes = 134217728           # largest document read (128 MiB)
deadline = 120                  # seconds for all the reads of one audit
allow_local = false             # read file:// URIs named on-chain: development only; unset,
                                # only on a chain the command runs itself (see below)

[account]
keystore = "operator.json"      # eth-account keystore; password from $AME_KEYSTORE_PASSWORD or a prompt

[claim_page]                    # the contributors' claim page (docs/claim-page.md)
url = "https://example.org/claim/"  # where it is published: the report's "how to claim" links it
chain_id = 1                    # `ame serve`: /config.json names this chain and settlement.address
port = 8080                     # `ame serve`: the port on 127.0.0.1
dir = "web/claim/dist"          # `ame serve`: the built page (default: this checkout's, `make web`)

[attribution]                   # `ame attribute` (docs/attribution.md#attribution-on-a-cluster)
scheduler = "tcp://10.0.0.5:8786"  # a Dask scheduler; otherwise local processes
workers = 2                     # local processes (default: one per CPU)
batch_size = 64                 # events per batch
checkpoint_dir = ".ame/attribution"  # finished batches, to resume an interrupted run

[deploy]
challenge_window = 3600         # seconds; also dispute_window, claim_period
operator_bond = 100000000000000000   # wei; also dispute_bond
```

``[fetch] allow_local`` left unset means: local documents are read on the managed chain
(``ame chain up``) and on a chain handed in by an embedding program (tests, demos), where
the operator and the reader share a machine; never on a node given by ``--rpc`` or
``[chain] rpc``, where a ``file://`` URI names a file of the reader's machine chosen by
whoever proposed the epoch. Set it to ``true`` for a development node reached by URL.

Every value is validated here (pydantic), before any work starts; an error names the
field and where the value came from: ``ame.toml: settlement.address: ...`` or
``$AME_SETTLEMENT (settlement.address): ...``. Relative paths in the file are relative
to the file's directory; from the environment, to the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final

from eth_utils.address import to_checksum_address
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ame_chain._addresses import address_problem
from ame_chain.client import MAX_WINDOW, SettlementConfig
from ame_core.documents import parse_toml
from ame_core.exceptions import InputError
from ame_core.validation import error_reason, show_value

__all__ = ["CONFIG_FILE", "ENV_CONFIG", "ENV_OVERRIDES", "AmeConfig", "ConfigError", "load_config"]

CONFIG_FILE: Final = "ame.toml"
ENV_CONFIG: Final = "AME_CONFIG"

#: Environment variable -> ``(section, field)`` it overrides.
ENV_OVERRIDES: Final[dict[str, tuple[str, str]]] = {
    "AME_STATE_DIR": ("state", "dir"),
    "AME_RPC_URL": ("chain", "rpc"),
    "AME_RPC_TIMEOUT": ("chain", "timeout"),
    "AME_RECEIPT_TIMEOUT": ("chain", "receipt_timeout"),
    "AME_SETTLEMENT": ("settlement", "address"),
    "AME_TOKEN": ("settlement", "token"),
    "AME_FROM_BLOCK": ("settlement", "from_block"),
    "AME_PUBLISH_DIR": ("publish", "dir"),
    "AME_PUBLISH_BASE_URI": ("publish", "base_uri"),
    "AME_FETCH_MAX_BYTES": ("fetch", "max_bytes"),
    "AME_FETCH_DEADLINE": ("fetch", "deadline"),
    "AME_FETCH_ALLOW_LOCAL": ("fetch", "allow_local"),
    "AME_KEYSTORE": ("account", "keystore"),
    "AME_CLAIM_PAGE_URL": ("claim_page", "url"),
    "AME_CLAIM_PAGE_CHAIN_ID": ("claim_page", "chain_id"),
    "AME_CLAIM_PAGE_PORT": ("claim_page", "port"),
    "AME_CLAIM_PAGE_DIR": ("claim_page", "dir"),
    "AME_SCHEDULER": ("attribution", "scheduler"),
    "AME_ATTRIBUTION_WORKERS": ("attribution", "workers"),
    "AME_ATTRIBUTION_BATCH_SIZE": ("attribution", "batch_size"),
    "AME_ATTRIBUTION_CHECKPOINT_DIR": ("attribution", "checkpoint_dir"),
    "AME_CHALLENGE_WINDOW": ("deploy", "challenge_window"),
    "AME_DISPUTE_WINDOW": ("deploy", "dispute_window"),
    "AME_CLAIM_PERIOD": ("deploy", "claim_period"),
    "AME_OPERATOR_BOND": ("deploy", "operator_bond"),
    "AME_DISPUTE_BOND": ("deploy", "dispute_bond"),
}


class ConfigError(InputError):
    """A configuration value is invalid (the message names the field and its source).

    Attributes:
        usage: Every problem is in what the caller passed (the ``path`` that does not
            exist, or ``overrides``), not in the environment or a file's content: the CLI
            reports it as bad usage (exit 2), the way it reports a bad option.
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def _address(value: object) -> str:
    problem = address_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return str(to_checksum_address(str(value)))


def _url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"{show_value(value)} is not an http(s) URL")
    return value


def _base_uri(value: object) -> str:
    if not isinstance(value, str) or "://" not in value:
        raise ValueError(f"{show_value(value)} is not a URI (scheme://...)")
    return value if value.endswith("/") else value + "/"


def _integer(value: object) -> object:
    # Environment values arrive as text; TOML integers as int. Floats and bools are refused.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{show_value(value)} is not a whole number")
    return value


Address = Annotated[str, BeforeValidator(_address)]
Url = Annotated[str, BeforeValidator(_url)]
BaseUri = Annotated[str, BeforeValidator(_base_uri)]
Seconds = Annotated[int, BeforeValidator(_integer), Field(ge=1)]
# The contract refuses a zero bond (fraud would cost nothing) and stores bonds in 96 bits,
# and bounds every window by ``MAX_WINDOW`` so no deadline wraps (``SettlementInvalidConfig``).
Bond = Annotated[int, BeforeValidator(_integer), Field(ge=1, le=2**96 - 1)]
Window = Annotated[int, BeforeValidator(_integer), Field(ge=1, le=MAX_WINDOW)]
Block = Annotated[int, BeforeValidator(_integer), Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StateSection(_Section):
    """Where the operator's state lives."""

    dir: Path = Path(".ame")


class ChainSection(_Section):
    """Which node to talk to, and how long to wait for it (seconds)."""

    rpc: Url | None = None
    timeout: Seconds = 30
    receipt_timeout: Seconds = 120


class SettlementSection(_Section):
    """Which settlement contract, token and first block."""

    address: Address | None = None
    token: Address | None = None
    from_block: Block | None = None


class PublishSection(_Section):
    """Where published files are written and the URI they are served at."""

    dir: Path | None = None
    base_uri: BaseUri | None = None


class FetchSection(_Section):
    """How documents named on-chain are read (``ame.workflow.FetchPolicy``; its defaults when unset).

    Attributes:
        max_bytes: The largest document read (default 128 MiB).
        deadline: Seconds for all the reads of one audit (default 120).
        allow_local: Read ``file://`` URIs and local paths named on-chain; unset, only on a
            chain the command runs itself (the module docstring says which).
    """

    max_bytes: Annotated[int, BeforeValidator(_integer), Field(ge=1)] | None = None
    deadline: Seconds | None = None
    allow_local: bool | None = None


class AccountSection(_Section):
    """The signing account's keystore."""

    keystore: Path | None = None


class ClaimPageSection(_Section):
    """The claim page: where contributors find it, and what ``ame serve`` serves.

    Attributes:
        url: Where the page is published (linked from the report's "how to claim").
        chain_id: The chain ``ame serve`` names in ``/config.json``, with ``settlement.address``.
        port: ``ame serve``'s port on 127.0.0.1 (0: a free one).
        dir: The built page ``ame serve`` serves (default: this checkout's ``web/claim/dist``).
    """

    url: Url | None = None
    chain_id: Annotated[int, BeforeValidator(_integer), Field(ge=1)] | None = None
    port: Annotated[int, BeforeValidator(_integer), Field(ge=0, le=65535)] = 8080
    dir: Path | None = None


def _scheduler(value: object) -> str:
    if not isinstance(value, str) or "://" not in value or ":" not in value.split("://", 1)[1]:
        raise ValueError(
            f"{show_value(value)} is not a Dask scheduler address like tcp://HOST:PORT"
        )
    return value


class AttributionSection(_Section):
    """Where ``ame attribute`` runs its batches.

    Attributes:
        scheduler: A Dask scheduler's address; None: local processes.
        workers: Local processes (default: one per CPU).
        batch_size: Events per batch.
        checkpoint_dir: Where finished batches are kept, to resume; None: not kept.
    """

    scheduler: Annotated[str, BeforeValidator(_scheduler)] | None = None
    workers: Annotated[int, BeforeValidator(_integer), Field(ge=1)] | None = None
    batch_size: Annotated[int, BeforeValidator(_integer), Field(ge=1)] = 64
    checkpoint_dir: Path | None = None


_DEFAULTS = SettlementConfig()


class DeploySection(_Section):
    """Parameters of `ame deploy`, in seconds and wei."""

    challenge_window: Window = _DEFAULTS.challenge_window
    dispute_window: Window = _DEFAULTS.dispute_window
    claim_period: Window = _DEFAULTS.claim_period
    operator_bond: Bond = _DEFAULTS.operator_bond
    dispute_bond: Bond = _DEFAULTS.dispute_bond

    def settlement_config(self) -> SettlementConfig:
        """The contract configuration these values describe."""
        return SettlementConfig(
            challenge_window=self.challenge_window,
            dispute_window=self.dispute_window,
            claim_period=self.claim_period,
            operator_bond=self.operator_bond,
            dispute_bond=self.dispute_bond,
        )


class AmeConfig(_Section):
    """The whole configuration; build it with :func:`load_config`.

    Attributes:
        source: The config file read, if any.
    """

    state: StateSection = StateSection()
    chain: ChainSection = ChainSection()
    settlement: SettlementSection = SettlementSection()
    publish: PublishSection = PublishSection()
    fetch: FetchSection = FetchSection()
    account: AccountSection = AccountSection()
    claim_page: ClaimPageSection = ClaimPageSection()
    attribution: AttributionSection = AttributionSection()
    deploy: DeploySection = DeploySection()
    source: Path | None = None

    @property
    def state_dir(self) -> Path:
        """The state directory."""
        return self.state.dir

    @property
    def publish_dir(self) -> Path:
        """Where published files go: ``publish.dir``, else ``<state>/published``."""
        return self.publish.dir if self.publish.dir is not None else self.state.dir / "published"


_PATH_FIELDS = {
    ("state", "dir"),
    ("publish", "dir"),
    ("account", "keystore"),
    ("claim_page", "dir"),
    ("attribution", "checkpoint_dir"),
}


def _read_file(path: Path, *, given: bool = False) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found", usage=given) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None
    try:
        data = parse_toml(text, source=str(path))
    except InputError as err:
        raise ConfigError(str(err)) from None
    for section, fields in data.items():
        if not isinstance(fields, dict):
            raise ConfigError(f"{path}: {section}: must be a [{section}] table")
        for name, value in fields.items():
            if (section, name) in _PATH_FIELDS and isinstance(value, str):
                fields[name] = str((path.parent / value).resolve())
    return data


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[tuple[str, str], object] | None = None,
    cwd: Path | None = None,
    override_names: Mapping[tuple[str, str], str] | None = None,
) -> AmeConfig:
    """Read the config file, apply environment overrides, then ``overrides`` (command-line values).

    Args:
        path: The config file; else ``$AME_CONFIG``; else ``./ame.toml`` if it exists.
        env: The environment (``os.environ`` by default).
        overrides: ``(section, field) -> value`` from the command line; None values are ignored.
        cwd: Where ``ame.toml`` is looked for.
        override_names: How the caller names each override in messages (``--rpc``);
            ``command line (chain.rpc)`` for the others.

    Raises:
        ConfigError: The file cannot be read or parsed, or a value is invalid; the message
            names the field and where the value came from.
    """
    env = os.environ if env is None else env
    given = path is not None
    if path is None and env.get(ENV_CONFIG):
        path = Path(env[ENV_CONFIG])
    if path is None and (candidate := (cwd or Path.cwd()) / CONFIG_FILE).is_file():
        path = candidate
    data: dict[str, Any] = _read_file(path, given=given) if path is not None else {}
    # Where each value came from, as the prefix of its error message.
    sources: dict[tuple[str, str], str] = {
        (section, name): f"{path}: {section}.{name}"
        for section, fields in data.items()
        for name in fields
    }
    layers: list[tuple[str, Mapping[tuple[str, str], object]]] = [
        (f"${var}", {key: env[var]}) for var, key in ENV_OVERRIDES.items() if env.get(var)
    ]
    given_values = {k: v for k, v in (overrides or {}).items() if v is not None}
    layers.append(("command line", given_values))
    for source, values in layers:
        for (section, name), value in values.items():
            data.setdefault(section, {})[name] = value
            sources[(section, name)] = f"{source} ({section}.{name})"
    for key, label in (override_names or {}).items():
        if key in given_values:
            sources[key] = label
    try:
        return AmeConfig.model_validate({**data, "source": path})
    except ValidationError as err:
        message, keys = _describe(err, sources, path)
        usage = bool(keys) and all(key in given_values for key in keys)
        raise ConfigError(message, usage=usage) from None


def _describe(
    err: ValidationError, sources: Mapping[tuple[str, str], str], path: Path | None
) -> tuple[str, list[tuple[str, str] | None]]:
    """The message, and the ``(section, field)`` of each problem (None: the whole document)."""
    lines = []
    keys: list[tuple[str, str] | None] = []
    for item in err.errors():
        loc = [str(part) for part in item["loc"]]
        field = ".".join(loc)
        key = (loc[0], loc[1]) if len(loc) >= 2 else None
        keys.append(key)
        where = sources.get(key) if key is not None else None
        if where is None:
            where = f"{path if path is not None else 'configuration'}: {field}"
        lines.append(f"{where}: {error_reason(item)}")
    return "; ".join(lines), keys
