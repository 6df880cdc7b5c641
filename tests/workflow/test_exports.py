"""The public API of ame.workflow and ame.cli is pinned: changing it is a deliberate act."""

import ame.cli
import ame.workflow

WORKFLOW = [
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


def test_workflow_exports() -> None:
    assert ame.workflow.__all__ == WORKFLOW
    for name in WORKFLOW:
        assert hasattr(ame.workflow, name), name


def test_cli_exports() -> None:
    assert ame.cli.__all__ == ["EXIT_AUDIT_MISMATCH", "EXIT_ERROR", "EXIT_USAGE", "CliEnv", "main"]
    assert (ame.cli.EXIT_ERROR, ame.cli.EXIT_USAGE, ame.cli.EXIT_AUDIT_MISMATCH) == (1, 2, 3)
