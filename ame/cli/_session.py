"""What a command works with, resolved once from options, environment and ``ame.toml``.

How the chain is chosen (first that applies):

1. a chain handed in by the embedding program (``main(obj=CliEnv(chain=...))``, used by
   tests that drive the whole CLI on one in-process chain);
2. ``--rpc URL``, ``$AME_RPC_URL`` or ``[chain] rpc``: that node (a development chain
   when it is an Anvil: :func:`ame_chain.chains.connect_url`), else the embedding
   program's default node (:attr:`CliEnv.default_rpc`);
3. the managed chain that ``ame chain up`` started in the state directory, unless the
   embedding program requires a node (:attr:`CliEnv.require_node`).

Otherwise the command stops with a ``ChainError`` saying how to get a chain. Documents
named on-chain as ``file://`` URIs are read on chains 1 and 3 (the operator publishes
into a local folder there) unless ``[fetch] allow_local`` says otherwise, and on a node
(2) only when it says so (``ame.config``). (``ame demo``
keeps its own ``--chain`` choice and runs on the in-process chain by default.)

The signing account, first that applies: ``--dev-account N`` (development chains only),
``--keystore PATH`` (password from ``$AME_KEYSTORE_PASSWORD`` or a hidden prompt),
``$AME_PRIVATE_KEY``, ``[account] keystore`` / ``$AME_KEYSTORE``. Keys are never printed
or logged.

Before the state is read for a chain, what it recorded of another chain of the same id
(another genesis, or a deployment block that is gone) is retired
(:meth:`ame.workflow.StateStore.check_chain`), and said on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from ame.cli._output import ClickProgress
from ame.config import AmeConfig, load_config
from ame.deployment import DeploymentRecord, block_hash
from ame.workflow import DurableSender, FetchPolicy, StateStore, Workspace, managed_chain
from ame.workflow.exceptions import WorkflowError
from ame_chain.chains import Chain, connect_url
from ame_chain.client import SettlementClient
from ame_chain.errors import chain_errors
from ame_chain.exceptions import ChainError
from ame_chain.keys import ENV_KEY, ENV_PASSWORD, account_from_env, account_from_keystore
from ame_core.exceptions import InputError

__all__ = ["NO_ACCOUNT", "CliEnv", "Session"]

#: What a command that must sign says when no account was given: every way to give one.
NO_ACCOUNT = (
    "no account: this command signs a transaction; set $AME_KEYSTORE (and "
    f"${ENV_PASSWORD}) or pass --keystore PATH, set ${ENV_KEY}, or pass --dev-account N on "
    "a development chain"
)


@dataclass
class CliEnv:
    """What an embedding program hands the CLI (``main(obj=CliEnv(...))``).

    Attributes:
        chain: Use this chain for every command instead of connecting to one.
        on_step: Told ``(step, point)`` at each durable point of every transaction a
            command sends (:class:`~ame.workflow.DurableSender`); the crash tests stop the
            process there.
        default_rpc: The node used when neither ``--rpc``, ``$AME_RPC_URL`` nor ``[chain]
            rpc`` names one, instead of the managed chain (``deploy/anvil.py``: the Anvil
            on 127.0.0.1:8545).
        require_node: Without a node named by ``--rpc``, ``$AME_RPC_URL`` or ``[chain]
            rpc``, stop rather than use the managed chain (``deploy/testnet.py``).
    """

    chain: Chain | None = None
    on_step: Callable[[str, str], None] | None = None
    default_rpc: str | None = None
    require_node: bool = False


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (which CliRunner swaps per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _configure_logging(verbose: int) -> None:
    logger = logging.getLogger("ame")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    if verbose:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)


class Session:
    """One command's configuration, state, chain, contract and account, built on first use."""

    def __init__(
        self,
        ctx: click.Context,
        *,
        config: Path | None = None,
        state_dir: Path | None = None,
        verbose: int = 0,
        as_json: bool = False,
        rpc: str | None = None,
        settlement: str | None = None,
        keystore: Path | None = None,
        dev_account: int | None = None,
        read_only: bool = False,
    ) -> None:
        _configure_logging(verbose)
        self.ctx = ctx
        self.env: CliEnv = ctx.find_object(CliEnv) or CliEnv()
        self.as_json = as_json
        self.config: AmeConfig = load_config(
            config,
            overrides={
                ("state", "dir"): state_dir,
                ("chain", "rpc"): rpc,
                ("settlement", "address"): settlement,
                ("account", "keystore"): keystore,
            },
            override_names={
                ("state", "dir"): "--state-dir",
                ("chain", "rpc"): "--rpc",
                ("settlement", "address"): "--settlement",
                ("account", "keystore"): "--keystore",
            },
        )
        self.keystore_given = keystore is not None
        self.dev_account = dev_account
        self.read_only = read_only
        self.progress = ClickProgress(quiet=False)
        self._state: StateStore | None = None
        self._chain: Chain | None = None
        self._local_chain = False
        self._genesis: str | None = None
        self._chain_checked = False

    @property
    def state_dir(self) -> Path:
        """The state directory."""
        return self.config.state_dir

    @property
    def state(self) -> StateStore:
        """The operator state (opened on first use, closed with the command).

        A read-only command reads the state when there is one and otherwise keeps an
        empty one in memory: it creates no state directory.
        """
        if self._state is None:
            if self.read_only:
                self._state = StateStore.for_reading(self.state_dir)
            else:
                self._state = StateStore(self.state_dir)
            self.ctx.call_on_close(self._state.close)
        return self._state

    @property
    def _reader(self) -> bool:
        """A read-only command where no operator works: its errors advise a reader.

        Where a state directory exists, an operator works there, and is told how to
        start a chain or deploy a contract.
        """
        return self.read_only and not self.state_dir.is_dir()

    def chain(self) -> Chain:
        """The chain, chosen as the module docstring says.

        Raises:
            ChainError: No chain is configured or running, or the node cannot be reached.
        """
        if self._chain is not None:
            return self._chain
        if self.env.chain is not None:
            self._chain = self.env.chain
            self._local_chain = True
        elif rpc := self.config.chain.rpc or self.env.default_rpc:
            self._chain = connect_url(rpc, timeout=self.config.chain.timeout)
            self.ctx.call_on_close(self._chain.close)
        elif self.env.require_node:
            raise InputError(
                "--rpc: no node URL (pass --rpc URL, set AME_RPC_URL, or [chain] rpc in ame.toml)"
            )
        else:
            self._chain = managed_chain(self.state_dir)
            self._local_chain = True
            if self._chain is None and self._reader:
                raise ChainError(
                    "no chain to read: pass --rpc URL (or set AME_RPC_URL, or [chain] rpc in "
                    "ame.toml), the node of the chain the settlement contract is on"
                )
            if self._chain is None:
                raise ChainError(
                    f"no chain: start one with `ame chain up` (state {self.state_dir}), or pass "
                    "--rpc URL (or set AME_RPC_URL, or [chain] rpc in ame.toml)"
                )
        return self._chain

    def genesis_hash(self) -> str:
        """The hash of the chain's block 0 (0x-hex), which tells chains of one id apart.

        Raises:
            ChainError: The node has no block 0 or failed.
        """
        if self._genesis is None:
            found = block_hash(self.chain().w3, 0)
            if found is None:
                raise ChainError(f"the node of chain {self.chain().chain_id} has no block 0")
            self._genesis = found
        return self._genesis

    def checked_state(self) -> StateStore:
        """The state, once what it recorded of another chain of this id is retired.

        Done once per command, before the state is read for this chain (see
        :meth:`ame.workflow.StateStore.check_chain`); what is retired is said on stderr.
        """
        if not self._chain_checked:
            self._chain_checked = True
            for line in self.state.check_chain(self.chain().chain_id, self.genesis_hash()):
                click.echo(f"state {self.state_dir}: {line}", err=True)
        return self.state

    def signing_account(self) -> LocalAccount:
        """The signing account; a command that must sign calls this.

        Raises:
            InputError: No account was given, saying every way to give one.
        """
        account = self.account()
        if account is None:
            raise InputError(NO_ACCOUNT)
        return account

    def account(self) -> LocalAccount | None:
        """The signing account, or None when none was given."""
        if self.dev_account is not None:
            accounts = self.chain().dev_accounts
            if not accounts:
                raise InputError(
                    "--dev-account: this chain has no development accounts; use --keystore "
                    f"or ${ENV_KEY}"
                )
            if not 0 <= self.dev_account < len(accounts):
                raise InputError(
                    f"--dev-account: {self.dev_account} is not in 0..{len(accounts) - 1}"
                )
            return accounts[self.dev_account]
        keystore = self.config.account.keystore
        if self.keystore_given and keystore is not None:
            return self._from_keystore(keystore)
        if os.environ.get(ENV_KEY):
            return account_from_env()
        if keystore is not None:
            return self._from_keystore(keystore)
        return None

    def _from_keystore(self, path: Path) -> LocalAccount:
        password = os.environ.get(ENV_PASSWORD)
        if password is None and sys.stdin.isatty():
            password = click.prompt(f"password for {path}", hide_input=True, err=True)
        return account_from_keystore(path, password)

    def client(self) -> SettlementClient:
        """The settlement contract: given, configured, or the last deployed on this chain.

        Raises:
            WorkflowError: No contract is known, or there is no code at the address.
        """
        chain = self.chain()
        address = self.config.settlement.address
        state = self.checked_state()
        if address is None:
            record = state.deployment(chain.chain_id)
            if record is not None and not self._still_deployed(record):
                record = state.deployment(chain.chain_id)
            if record is None and self._reader:
                raise WorkflowError(
                    f"no settlement contract to read on chain {chain.chain_id}: pass "
                    "--settlement ADDRESS (or set AME_SETTLEMENT, or [settlement] address in "
                    "ame.toml), the contract the operator published"
                )
            if record is None:
                raise WorkflowError(
                    f"no settlement contract on chain {chain.chain_id}: run `ame deploy`, or pass "
                    "--settlement ADDRESS (or set AME_SETTLEMENT)"
                )
            address = record.address
        elif (known := state.deployment(chain.chain_id, to_checksum_address(address))) is not None:
            self._still_deployed(known)  # a record of a reset chain is retired, not read
        with chain_errors():
            code = chain.w3.eth.get_code(to_checksum_address(address))
        if not code:
            raise WorkflowError(f"--settlement: no contract at {address} on chain {chain.chain_id}")
        client = SettlementClient(chain.w3, address)
        if not client.is_settlement():
            raise WorkflowError(
                f"--settlement: the contract at {address} on chain {chain.chain_id} is not an "
                "AmeSettlement"
            )
        return client

    def _still_deployed(self, record: DeploymentRecord) -> bool:
        """Whether the chain still holds the block ``record`` was deployed in; else retire it."""
        if record.block_hash is None:
            return True
        found = block_hash(self.chain().w3, record.block)
        if found == record.block_hash:
            return True
        reason = (
            f"block {record.block} of chain {record.chain_id} is "
            f"{found or 'not there'}, not {record.block_hash} (the chain was reset)"
        )
        for line in self.state.retire_contract(record.chain_id, record.address, reason):
            click.echo(f"state {self.state_dir}: {line}", err=True)
        return False

    def fetch_policy(self) -> FetchPolicy:
        """How documents named on-chain are read: ``[fetch]``, local files as it says."""
        fetch = self.config.fetch
        self.chain()  # decides whether the chain is one this command runs itself
        allow = self._local_chain if fetch.allow_local is None else fetch.allow_local
        default = FetchPolicy()
        return FetchPolicy(
            max_bytes=default.max_bytes if fetch.max_bytes is None else fetch.max_bytes,
            deadline=default.deadline if fetch.deadline is None else fetch.deadline,
            allow_local=allow,
        )

    def workspace(self, *, signing: bool) -> Workspace:
        """Everything a workflow step needs; ``signing`` requires an account."""
        client = self.client()
        chain = self.chain()
        sender = None
        account = self.account()
        if account is not None:
            sender = DurableSender(
                chain.w3,
                account,
                self.state,
                on_step=self.env.on_step,
                receipt_timeout=self.config.chain.receipt_timeout,
            )
        elif signing:
            raise InputError(NO_ACCOUNT)
        from_block = self.config.settlement.from_block
        if from_block is None:
            record = self.state.deployment(chain.chain_id, client.address)
            from_block = record.block if record is not None else 0
        return Workspace(
            chain=chain,
            client=client,
            state=self.state,
            publish_dir=self.config.publish_dir,
            base_uri=self.config.publish.base_uri,
            from_block=from_block,
            sender=sender,
            progress=self.progress,
            fetch_policy=self.fetch_policy(),
            no_signer=NO_ACCOUNT,
        )
