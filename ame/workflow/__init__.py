"""The operator workflow: settle epochs, claim, audit, challenge, and the state behind them.

Every step works on a :class:`Workspace` (a chain, a contract, the operator's SQLite
:class:`StateStore`, where documents are published, and optionally a signing account)::

    ws = Workspace(chain, client, StateStore(Path(".ame")), Path(".ame/published"),
                   sender=DurableSender(chain.w3, operator, state))
    settled = settle_epoch(ws, MappingInputs.load(values, registry))
    report = audit_epoch(ws, settled.epoch)          # report.mismatches is empty
    challenge_epoch(ws_of_a_watchdog, settled.epoch)  # action "none": nothing to challenge

``settle_epoch`` is idempotent and resumable (:mod:`._sender` records every signed
transaction before it is broadcast); the ``ame`` command (:mod:`ame.cli`) is a thin
layer over these functions. See ``docs/cli.md``, ``docs/audit.md`` and
``docs/threat-model.md``.
"""

from ame.workflow._actions import (
    ClaimLine,
    ClaimResult,
    EpochSummary,
    claim_leaves,
    epoch_summaries,
    finalize_epoch,
    refund_epoch,
    resolve_dispute,
    sweep_epoch,
    withdraw_credits,
)
from ame.workflow._audit import AuditInputs, AuditReport, Mismatch, audit_epoch
from ame.workflow._challenge import (
    EVIDENCE_FORMAT,
    ChallengeResult,
    challenge_epoch,
    open_dispute,
)
from ame.workflow._epochs import PublishedEpoch, load_published
from ame.workflow._localchain import (
    DevChain,
    LocalChainInfo,
    chain_down,
    chain_up,
    managed_chain,
)
from ame.workflow._owed import (
    OwedEpoch,
    TokenUnits,
    format_date,
    format_duration,
    owed_epochs,
    token_units,
)
from ame.workflow._proofs import (
    PROOFS_FORMAT,
    EpochProofs,
    LeafProof,
    bind_proofs,
    iter_proofs_json,
)
from ame.workflow._publish import FetchPolicy, fetch, keccak_hex
from ame.workflow._recompute import Drift, Recomputation, Recompute
from ame.workflow._sender import DurableSender
from ame.workflow._served import ServedCheck, ServedFile, check_served
from ame.workflow._settle import MappingInputs, SettleResult, settle_epoch
from ame.workflow._state import EpochKey, EpochRow, StateStore, TxRow
from ame.workflow._workspace import Progress, Workspace, quiet_progress
from ame.workflow.exceptions import (
    FetchError,
    ManagedChainError,
    StateError,
    WorkflowError,
)

__all__ = [
    "EVIDENCE_FORMAT",
    "PROOFS_FORMAT",
    "AuditInputs",
    "AuditReport",
    "ChallengeResult",
    "ClaimLine",
    "ClaimResult",
    "DevChain",
    "Drift",
    "DurableSender",
    "EpochKey",
    "EpochProofs",
    "EpochRow",
    "EpochSummary",
    "FetchError",
    "FetchPolicy",
    "LeafProof",
    "LocalChainInfo",
    "ManagedChainError",
    "MappingInputs",
    "Mismatch",
    "OwedEpoch",
    "Progress",
    "PublishedEpoch",
    "Recomputation",
    "Recompute",
    "ServedCheck",
    "ServedFile",
    "SettleResult",
    "StateError",
    "StateStore",
    "TokenUnits",
    "TxRow",
    "WorkflowError",
    "Workspace",
    "audit_epoch",
    "bind_proofs",
    "chain_down",
    "chain_up",
    "challenge_epoch",
    "check_served",
    "claim_leaves",
    "epoch_summaries",
    "fetch",
    "finalize_epoch",
    "format_date",
    "format_duration",
    "iter_proofs_json",
    "keccak_hex",
    "load_published",
    "managed_chain",
    "open_dispute",
    "owed_epochs",
    "quiet_progress",
    "refund_epoch",
    "resolve_dispute",
    "settle_epoch",
    "sweep_epoch",
    "token_units",
    "withdraw_credits",
]
