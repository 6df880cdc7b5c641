// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IAmeSettlement
 * @notice Optimistic settlement of AME payout epochs.
 *
 * An operator proposes an epoch: the Merkle root of its payout leaves, the payout token,
 * the pool (escrowed in the same transaction), the number of leaves and the hash and URI
 * of the allocation manifest. During the challenge window anyone can void the epoch with
 * a fraud proof built from leaves and their Merkle proofs alone, or open a dispute that an
 * arbiter resolves. Once the window has passed with no open dispute, anyone finalises the
 * epoch and every leaf can be claimed once, always to the leaf's account. After the claim
 * period, what is left can be swept to the configured recipient.
 *
 * Every epoch is stored as one hash of its {EpochHeader}; functions that act on an epoch
 * take the header and check it against that commitment (as Uniswap v4 does with its pool
 * keys), which keeps a proposal to a single new storage slot.
 *
 * Leaves use the OpenZeppelin standard encoding
 * `keccak256(bytes.concat(keccak256(abi.encode(chainId, settlement, epoch, index, account, amount, amountBefore))))`
 * so that a leaf cannot be replayed on another chain, contract or epoch. `amountBefore` is
 * the sum of the amounts of all leaves with a smaller index and accounts strictly increase
 * with the index, which makes the conservation of the pool provable leaf by leaf: if no
 * fault can be proven during the window, the leaves that can ever be claimed pay at most the
 * pool in total and each account at most once (see {SettlementLeaf}).
 *
 * A proven fault voids the epoch and forfeits the operator's bond: half to whoever proved it,
 * half burned (credited to an address no one controls), so an operator that proves its own
 * fraud first still loses half its bond. Windows are bounded at deployment so no deadline
 * wraps, and an epoch's claim period is extended by every second the contract spends paused.
 */
interface IAmeSettlement {
    /// @notice Where an epoch is in its life.
    /// NOTE: `Proposed` is the zero value; whether an epoch exists at all is told by its commitment.
    enum EpochStatus {
        Proposed,
        Finalized,
        Voided,
        Refunded,
        Swept
    }

    /// @notice The fault a fraud proof established.
    enum FraudKind {
        IndexOutOfRange,
        FirstLeafNotAtZero,
        LeafExceedsPool,
        LastLeafPoolMismatch,
        ZeroAccount,
        BrokenChain,
        AccountsNotIncreasing,
        DuplicateIndex,
        AmountRangesOverlap
    }

    /// @notice A field of {Config} (same order), named by {SettlementInvalidConfig}.
    enum ConfigField {
        ChallengeWindow,
        DisputeWindow,
        ClaimPeriod,
        OperatorBond,
        DisputeBond
    }

    /// @notice The state of a dispute.
    enum DisputeStatus {
        None,
        Open,
        Upheld,
        Rejected,
        Dismissed
    }

    /// @notice Everything that identifies an epoch; its hash is the epoch's on-chain commitment.
    struct EpochHeader {
        uint256 epoch;
        bytes32 root;
        address token; // address(0) pays in ETH
        uint256 pool;
        uint256 leafCount;
        uint256 challengeEnd; // timestamp at which the challenge window closes
        address operator;
        uint256 bond; // operator bond in wei; forfeited, half to whoever proves the epoch wrong and half burned
        bytes32 manifestHash;
    }

    /// @notice One payout leaf (the chain id, contract and epoch are bound by the leaf hash).
    struct Leaf {
        uint256 index;
        address account;
        uint256 amount;
        uint256 amountBefore;
    }

    /// @notice One claim of a batch: `header` indexes the headers passed alongside.
    struct BatchClaim {
        uint256 header;
        Leaf leaf;
        bytes32[] proof;
    }

    /// @notice The parameters fixed at deployment.
    struct Config {
        uint64 challengeWindow;
        uint64 disputeWindow;
        uint64 claimPeriod;
        uint128 operatorBond;
        uint128 disputeBond;
    }

    /// @notice An epoch with this number was already proposed (voided epochs are never reused).
    error SettlementEpochExists(uint256 epoch);
    /// @notice No epoch with this number was proposed.
    error SettlementUnknownEpoch(uint256 epoch);
    /// @notice The header passed does not hash to the epoch's commitment.
    error SettlementHeaderMismatch(uint256 epoch);
    /// @notice A proposal must have at least one leaf.
    error SettlementInvalidLeafCount(uint256 leafCount);
    /// @notice A pool must be positive and fit in 128 bits.
    error SettlementInvalidPool(uint256 pool);
    /// @notice The ETH sent does not match what the call requires.
    error SettlementWrongValue(uint256 expected, uint256 received);
    /// @notice The token transfer delivered a different amount than the pool (fee-on-transfer tokens).
    error SettlementFundingMismatch(address token, uint256 expected, uint256 received);
    /// @notice The epoch is not in the status this call requires.
    error SettlementWrongStatus(uint256 epoch, EpochStatus status);
    /// @notice The challenge window of the epoch has closed.
    error SettlementChallengeWindowClosed(uint256 epoch, uint256 challengeEnd);
    /// @notice The challenge window of the epoch is still open.
    error SettlementChallengeWindowOpen(uint256 epoch, uint256 challengeEnd);
    /// @notice The epoch still has open disputes.
    error SettlementOpenDisputes(uint256 epoch, uint256 openDisputes);
    /// @notice The leaf was claimed already.
    error SettlementAlreadyClaimed(uint256 epoch, uint256 index);
    /// @notice The Merkle proof does not prove the leaf under the epoch's root.
    error SettlementInvalidProof(uint256 epoch, uint256 index);
    /// @notice The leaf index is not below the epoch's leaf count.
    error SettlementLeafIndexOutOfRange(uint256 epoch, uint256 index, uint256 leafCount);
    /// @notice Paying the leaf would take the epoch past its pool.
    error SettlementPoolExceeded(uint256 epoch, uint256 amount, uint256 remaining);
    /// @notice The leaves given are consistent: there is no fraud to prove.
    error SettlementNoFraud(uint256 epoch);
    /// @notice No such dispute on the epoch.
    error SettlementUnknownDispute(uint256 epoch, uint256 disputeId);
    /// @notice The dispute is not open.
    error SettlementDisputeNotOpen(uint256 epoch, uint256 disputeId, DisputeStatus status);
    /// @notice The arbiter's deadline for this dispute has passed.
    error SettlementDisputeDeadlinePassed(uint256 epoch, uint256 disputeId, uint256 deadline);
    /// @notice The dispute can be dismissed only after its deadline or once its epoch is voided.
    error SettlementDisputeNotDismissable(uint256 epoch, uint256 disputeId, uint256 deadline);
    /// @notice The claim period has not ended yet.
    error SettlementNotExpired(uint256 epoch, uint256 expiry);
    /// @notice Nothing is left to sweep.
    error SettlementNothingToSweep(uint256 epoch);
    /// @notice The account has no credit to withdraw.
    error SettlementNoCredit(address account);
    /// @notice Sending ETH failed.
    error SettlementEthTransferFailed(address to, uint256 amount);
    /// @notice A batch claim named a header index that was not passed.
    error SettlementBatchHeaderOutOfRange(uint256 header, uint256 headers);
    /// @notice Batch headers must name strictly increasing epochs; `position` breaks the order.
    error SettlementBatchHeadersUnordered(uint256 position);
    /// @notice An address parameter was the zero address.
    error SettlementZeroAddress();
    /// @notice A deployment parameter is out of range: `field` says which, `value` is what was given.
    error SettlementInvalidConfig(ConfigField field, uint256 value);

    /// @notice An operator proposed and funded an epoch; with `epoch` and `operator`, the fields make its header.
    event EpochProposed(
        uint256 indexed epoch,
        address indexed operator,
        bytes32 root,
        address token,
        uint256 pool,
        uint256 leafCount,
        uint256 challengeEnd,
        uint256 bond,
        bytes32 manifestHash,
        string manifestURI
    );
    /// @notice An epoch became claimable; the operator's bond (in the header) was credited back to it.
    event EpochFinalized(uint256 indexed epoch);
    /// @notice An epoch was voided, by a fraud proof or an upheld dispute.
    event EpochVoided(uint256 indexed epoch);
    /// @notice Someone proved a fault in the epoch (`index` is the first leaf involved).
    event FraudProven(uint256 indexed epoch, address indexed prover, FraudKind kind, uint256 index);
    /// @notice Someone opened a dispute on the epoch.
    event DisputeOpened(
        uint256 indexed epoch,
        uint256 indexed disputeId,
        address indexed challenger,
        uint256 bond,
        uint256 deadline,
        bytes32 evidenceHash,
        string evidenceURI
    );
    /// @notice A dispute was closed: upheld or rejected by the arbiter, or dismissed.
    event DisputeClosed(uint256 indexed epoch, uint256 indexed disputeId, DisputeStatus outcome);
    /// @notice A leaf was paid.
    event Claimed(uint256 indexed epoch, uint256 index, address indexed account, uint256 amount);
    /// @notice ETH was credited to an account, to be withdrawn with {withdrawCredits}.
    /// NOTE: Bond returns at finalisation are implied by {EpochFinalized} and emit no `Credited`.
    event Credited(address indexed account, uint256 amount);
    /// @notice An account withdrew its credit.
    event CreditsWithdrawn(address indexed account, address indexed to, uint256 amount);
    /// @notice The pool of a voided epoch went back to its operator.
    event Refunded(uint256 indexed epoch, address indexed operator, uint256 amount);
    /// @notice What was left of an expired epoch went to the sweep recipient.
    event Swept(uint256 indexed epoch, address indexed recipient, uint256 amount);
    /// @notice The sweep recipient changed.
    event SweepRecipientUpdated(address indexed previous, address indexed current);

    /**
     * @notice Proposes epoch `epoch` and escrows its pool and the operator bond.
     * @dev ETH pools: send `pool + operatorBond`. ERC-20 pools: approve `pool` first and send
     * `operatorBond`; the balance actually received must equal `pool`.
     * @return header The epoch's header, to pass to every later call on this epoch.
     */
    function propose(
        uint256 epoch,
        bytes32 root,
        address token,
        uint256 pool,
        uint256 leafCount,
        bytes32 manifestHash,
        string calldata manifestURI
    ) external payable returns (EpochHeader memory header);

    /// @notice Makes the epoch claimable once its window has passed with no open dispute.
    function finalize(EpochHeader calldata header) external;

    /// @notice Proves a fault visible in a single leaf; voids the epoch and credits half the bond to the caller.
    function proveLeafFraud(EpochHeader calldata header, Leaf calldata leaf, bytes32[] calldata proof)
        external
        returns (FraudKind kind);

    /// @notice Proves a fault between any two leaves (in either order); voids the epoch and credits half the bond to the caller.
    function provePairFraud(
        EpochHeader calldata header,
        Leaf calldata first,
        bytes32[] calldata firstProof,
        Leaf calldata second,
        bytes32[] calldata secondProof
    ) external returns (FraudKind kind);

    /// @notice Opens a dispute during the challenge window; send exactly the dispute bond.
    function openDispute(EpochHeader calldata header, bytes32 evidenceHash, string calldata evidenceURI)
        external
        payable
        returns (uint256 disputeId);

    /// @notice The arbiter's verdict: upheld voids the epoch (the challenger gets its bond and half
    /// the operator's, the other half is burned), rejected forfeits the challenger's bond.
    function resolveDispute(EpochHeader calldata header, uint256 disputeId, bool upheld) external;

    /// @notice Closes a dispute the arbiter left past its deadline, or one on a voided epoch; the bond goes back.
    function dismissDispute(EpochHeader calldata header, uint256 disputeId) external;

    /// @notice Pays one leaf of a finalised epoch to its account.
    function claim(EpochHeader calldata header, Leaf calldata leaf, bytes32[] calldata proof) external;

    /// @notice Pays many leaves, across accounts and epochs, in one transaction.
    function claimMany(EpochHeader[] calldata headers, BatchClaim[] calldata claims) external;

    /// @notice Sends the pool of a voided epoch back to its operator.
    function refund(EpochHeader calldata header) external;

    /// @notice Sends what is left of an expired epoch (see {expiryOf}) to the sweep recipient.
    function sweep(EpochHeader calldata header) external;

    /// @notice Sends the caller's ETH credit (bonds, failed ETH payouts) to `to`.
    function withdrawCredits(address payable to) external;

    /// @notice The status of an epoch; reverts for an unknown epoch.
    function epochStatus(uint256 epoch) external view returns (EpochStatus);

    /// @notice Whether the leaf at `index` of `epoch` has been paid.
    function isClaimed(uint256 epoch, uint256 index) external view returns (bool);

    /**
     * @notice When what is left of the epoch can be swept: `challengeEnd + disputeWindow +
     * claimPeriod`, plus every second the contract has been paused since the epoch was proposed
     * (a pause in progress included, so the expiry keeps moving while paused).
     * NOTE: Pauses during the challenge window also count: they only ever delay a sweep, which
     * is the side to err on, since a pause keeps owners from claiming but never from waiting.
     */
    function expiryOf(EpochHeader calldata header) external view returns (uint256);
}
