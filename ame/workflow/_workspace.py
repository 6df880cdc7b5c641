"""What every workflow step works with: a chain, a contract, the state, and where to publish."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ame.workflow._publish import FetchPolicy
from ame.workflow._sender import DurableSender
from ame.workflow._state import EpochKey, StateStore, TxScope
from ame.workflow.exceptions import WorkflowError
from ame_chain.chains import Chain
from ame_chain.client import SettlementClient
from ame_core.progress import Progress, quiet_progress

__all__ = ["Progress", "Workspace", "quiet_progress"]


@dataclass
class Workspace:
    """One contract on one chain, the operator's state, and where documents are published.

    Attributes:
        chain: The connected chain.
        client: The settlement contract (with a signing account when ``sender`` is set).
        state: The operator's SQLite state.
        publish_dir: Where manifests, inputs and evidence are written.
        base_uri: Their public base URI; ``file://`` URIs when None.
        from_block: First block to read events from (the deployment block when known).
        sender: Records and sends transactions; None for read-only work (audit, status).
        progress: Where long steps are reported.
        fetch_policy: How documents named on-chain are read (size limit, deadline, and
            whether ``file://`` URIs are: by default they are not, see
            :class:`~ame.workflow.FetchPolicy`).
        no_signer: What a step that must sign says when no sender was given (the CLI
            names its options and variables here).
    """

    chain: Chain
    client: SettlementClient
    state: StateStore
    publish_dir: Path
    base_uri: str | None = None
    from_block: int = 0
    sender: DurableSender | None = None
    progress: Progress = field(default=quiet_progress)
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)
    no_signer: str = (
        "this step sends a transaction: give an account (the workspace's sender, a "
        "DurableSender for the signing account)"
    )

    def key(self, epoch: int) -> EpochKey:
        """The state key of ``epoch`` of this contract on this chain."""
        return EpochKey(self.client.chain_id, self.client.address, epoch)

    def signer(self) -> DurableSender:
        """The sender, or an error naming what is missing.

        Raises:
            WorkflowError: No signing account was given.
        """
        if self.sender is None:
            raise WorkflowError(self.no_signer)
        return self.sender

    @contextlib.contextmanager
    def acting(self, step: str, epoch: int | None = None) -> Iterator[SettlementClient]:
        """The contract acting as the signing account; its transactions are recorded as ``step``.

        Raises:
            WorkflowError: No signing account was given.
        """
        scope: TxScope = (self.client.chain_id, self.client.address, epoch)
        with self.signer().recording(scope, step) as sender:
            yield self.client.with_transactor(sender)
