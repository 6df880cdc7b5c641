// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IAmeSettlement} from "./interfaces/IAmeSettlement.sol";
import {SettlementLeaf} from "./libraries/SettlementLeaf.sol";

/**
 * @title AmeSettlement
 * @notice Optimistic, Merkle-committed settlement of AME payout epochs. See {IAmeSettlement}.
 *
 * Roles: `DEFAULT_ADMIN_ROLE` grants roles and sets the sweep recipient; `OPERATOR_ROLE`
 * proposes epochs; `ARBITER_ROLE` resolves disputes; `GUARDIAN_ROLE` pauses and unpauses
 * proposals, claims and sweeps. Fraud proofs, disputes, finalisation, refunds and credit
 * withdrawals are never paused, so no one can be kept from proving fraud or from their money.
 *
 * Money paths: a pool is escrowed at proposal and leaves only by claims (to leaf accounts),
 * a refund (to the operator, once voided) or a sweep (to the sweep recipient, once
 * expired). Bonds and failed ETH payouts become credits withdrawn by their owner; half of a
 * forfeited operator bond is credited to {BOND_BURN_ADDRESS}, which no one can withdraw from.
 *
 * NOTE: Pools are limited to 2^128 - 1 token units. Fee-on-transfer tokens are refused at
 * proposal, since the pool received would not match the leaves. Rebasing tokens are not
 * supported: the contract's balance could drift from what it owes.
 *
 * NOTE: Only functions that call out (token transfers, ETH sends) take the reentrancy guard;
 * the others only write this contract's storage and credit ETH for later withdrawal.
 *
 * WARNING: An upheld dispute is the arbiter's judgment; the arbiter is trusted for disputes
 * (not for fraud proofs, which need no one). An arbiter that lets a dispute pass its deadline
 * only delays finalisation: anyone may then dismiss it and return the challenger's bond.
 */
contract AmeSettlement is IAmeSettlement, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev The mutable part of an epoch, one slot.
    struct EpochState {
        uint128 remaining; // unclaimed part of the pool, set when finalised
        EpochStatus status;
        uint32 openDisputes;
        uint32 disputeCount;
        uint40 pausedBefore; // seconds paused before the proposal (`_pausedTotal` then)
    }

    /// @dev A dispute, two slots.
    struct Dispute {
        address challenger;
        uint96 bond;
        uint64 deadline;
        DisputeStatus status;
    }

    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice The longest window or claim period a deployment accepts: ten years.
    /// @dev Keeps every deadline far inside 64 bits (and every timestamp sum from wrapping).
    uint256 public constant MAX_WINDOW = 3650 days;
    /// @notice Where the burned half of a forfeited operator bond is credited; no one holds its key.
    address public constant BOND_BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;

    uint256 public immutable CHALLENGE_WINDOW;
    uint256 public immutable DISPUTE_WINDOW;
    uint256 public immutable CLAIM_PERIOD;
    uint256 public immutable OPERATOR_BOND;
    uint256 public immutable DISPUTE_BOND;

    address public sweepRecipient;
    // The pause clock: the claim period of every epoch is extended by the time spent paused.
    // Both fit the slot `Pausable._paused` and `sweepRecipient` share (8 + 160 + 2 x 40 bits),
    // so `whenNotPaused` has already paid for reading them. 40 bits of seconds last 34,000 years.
    uint40 private _pausedAt; // when the pause in progress began (meaningless when not paused)
    uint40 private _pausedTotal; // seconds paused in all finished pauses

    mapping(uint256 epoch => bytes32) private _commitments;
    mapping(uint256 epoch => EpochState) private _states;
    mapping(uint256 epoch => mapping(uint256 word => uint256)) private _claimedWords;
    mapping(uint256 epoch => mapping(uint256 disputeId => Dispute)) private _disputes;
    mapping(address account => uint256) private _credits;

    /**
     * @param admin Receives `DEFAULT_ADMIN_ROLE`.
     * @param config Windows in seconds, each in `[1, MAX_WINDOW]`; bonds in wei, each in `[1, 2^96 - 1]`.
     * @param initialSweepRecipient Receives what is left of expired epochs.
     */
    constructor(address admin, Config memory config, address initialSweepRecipient) {
        if (admin == address(0) || initialSweepRecipient == address(0)) revert SettlementZeroAddress();
        _checkWindow(ConfigField.ChallengeWindow, config.challengeWindow);
        _checkWindow(ConfigField.DisputeWindow, config.disputeWindow);
        _checkWindow(ConfigField.ClaimPeriod, config.claimPeriod);
        // A zero bond would make fraud free and disputes spam-free; a bond must fit a dispute's 96 bits.
        _checkBond(ConfigField.OperatorBond, config.operatorBond);
        _checkBond(ConfigField.DisputeBond, config.disputeBond);
        CHALLENGE_WINDOW = config.challengeWindow;
        DISPUTE_WINDOW = config.disputeWindow;
        CLAIM_PERIOD = config.claimPeriod;
        OPERATOR_BOND = config.operatorBond;
        DISPUTE_BOND = config.disputeBond;
        sweepRecipient = initialSweepRecipient;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        emit SweepRecipientUpdated(address(0), initialSweepRecipient);
    }

    // ----------------------------------------------------------------------------------
    // Proposal and finalisation
    // ----------------------------------------------------------------------------------

    /// @inheritdoc IAmeSettlement
    function propose(
        uint256 epoch,
        bytes32 root,
        address token,
        uint256 pool,
        uint256 leafCount,
        bytes32 manifestHash,
        string calldata manifestURI
    ) external payable onlyRole(OPERATOR_ROLE) whenNotPaused nonReentrant returns (EpochHeader memory header) {
        if (_commitments[epoch] != bytes32(0)) revert SettlementEpochExists(epoch);
        if (leafCount == 0) revert SettlementInvalidLeafCount(leafCount);
        if (pool == 0 || pool > type(uint128).max) revert SettlementInvalidPool(pool);
        uint256 expectedValue = token == address(0) ? pool + OPERATOR_BOND : OPERATOR_BOND;
        if (msg.value != expectedValue) revert SettlementWrongValue(expectedValue, msg.value);

        header = EpochHeader({
            epoch: epoch,
            root: root,
            token: token,
            pool: pool,
            leafCount: leafCount,
            challengeEnd: block.timestamp + CHALLENGE_WINDOW,
            operator: msg.sender,
            bond: OPERATOR_BOND,
            manifestHash: manifestHash
        });
        _commitments[epoch] = keccak256(abi.encode(header));
        // Proposals are never made while paused, so the clock's total is all the pause time so far.
        // Written only when nonzero: a contract never paused pays nothing for the pause clock here.
        uint40 pausedTotal = _pausedTotal;
        if (pausedTotal != 0) _states[epoch].pausedBefore = pausedTotal;
        emit EpochProposed(
            epoch, msg.sender, root, token, pool, leafCount, header.challengeEnd, OPERATOR_BOND, manifestHash, manifestURI
        );

        if (token != address(0)) {
            // Measure what arrived rather than trusting the token's word for it.
            uint256 balanceBefore = IERC20(token).balanceOf(address(this));
            IERC20(token).safeTransferFrom(msg.sender, address(this), pool);
            uint256 received = IERC20(token).balanceOf(address(this)) - balanceBefore;
            if (received != pool) revert SettlementFundingMismatch(token, pool, received);
        }
    }

    /// @inheritdoc IAmeSettlement
    function finalize(EpochHeader calldata header) external {
        _checkHeader(header);
        EpochState storage state = _states[header.epoch];
        if (state.status != EpochStatus.Proposed) revert SettlementWrongStatus(header.epoch, state.status);
        if (block.timestamp < header.challengeEnd) {
            revert SettlementChallengeWindowOpen(header.epoch, header.challengeEnd);
        }
        if (state.openDisputes != 0) revert SettlementOpenDisputes(header.epoch, state.openDisputes);

        state.status = EpochStatus.Finalized;
        // The pool fits 128 bits: checked at proposal, and the header is bound by the commitment.
        state.remaining = uint128(header.pool);
        // NOTE: No `Credited` event here: `EpochFinalized` and the header's bond imply it, as
        // OpenZeppelin 5's `transferFrom` leaves allowance changes to be inferred from `Transfer`.
        _credits[header.operator] += header.bond;
        emit EpochFinalized(header.epoch);
    }

    // ----------------------------------------------------------------------------------
    // Fraud proofs and disputes
    // ----------------------------------------------------------------------------------

    /// @inheritdoc IAmeSettlement
    function proveLeafFraud(EpochHeader calldata header, Leaf calldata leaf, bytes32[] calldata proof)
        external
        returns (FraudKind kind)
    {
        _checkChallengeable(header);
        _checkProof(header, leaf, proof);
        bool faulty;
        (faulty, kind) = SettlementLeaf.singleLeafFault(header, leaf);
        if (!faulty) revert SettlementNoFraud(header.epoch);
        _voidForFraud(header, kind, leaf.index);
    }

    /// @inheritdoc IAmeSettlement
    function provePairFraud(
        EpochHeader calldata header,
        Leaf calldata first,
        bytes32[] calldata firstProof,
        Leaf calldata second,
        bytes32[] calldata secondProof
    ) external returns (FraudKind kind) {
        _checkChallengeable(header);
        bytes32 firstHash = _checkProof(header, first, firstProof);
        bytes32 secondHash = _checkProof(header, second, secondProof);
        bool faulty;
        // The same leaf twice proves nothing; a leaf and a different one at its index is a fault.
        if (firstHash != secondHash) (faulty, kind) = SettlementLeaf.pairFault(first, second);
        if (!faulty) revert SettlementNoFraud(header.epoch);
        _voidForFraud(header, kind, first.index);
    }

    /// @inheritdoc IAmeSettlement
    function openDispute(EpochHeader calldata header, bytes32 evidenceHash, string calldata evidenceURI)
        external
        payable
        returns (uint256 disputeId)
    {
        _checkHeader(header);
        EpochState storage state = _states[header.epoch];
        if (state.status != EpochStatus.Proposed) revert SettlementWrongStatus(header.epoch, state.status);
        if (block.timestamp >= header.challengeEnd) {
            revert SettlementChallengeWindowClosed(header.epoch, header.challengeEnd);
        }
        if (msg.value != DISPUTE_BOND) revert SettlementWrongValue(DISPUTE_BOND, msg.value);

        disputeId = state.disputeCount;
        state.disputeCount += 1;
        state.openDisputes += 1;
        uint256 deadline = block.timestamp + DISPUTE_WINDOW;
        // The bond fits 96 bits (checked at deployment); the window is bounded at deployment, so
        // the deadline fits 64 bits, and SafeCast would revert rather than wrap if it ever did not.
        _disputes[header.epoch][disputeId] = Dispute({
            challenger: msg.sender,
            bond: uint96(msg.value),
            deadline: SafeCast.toUint64(deadline),
            status: DisputeStatus.Open
        });
        emit DisputeOpened(header.epoch, disputeId, msg.sender, msg.value, deadline, evidenceHash, evidenceURI);
    }

    /// @inheritdoc IAmeSettlement
    function resolveDispute(EpochHeader calldata header, uint256 disputeId, bool upheld)
        external
        onlyRole(ARBITER_ROLE)
    {
        _checkHeader(header);
        EpochState storage state = _states[header.epoch];
        if (state.status != EpochStatus.Proposed) revert SettlementWrongStatus(header.epoch, state.status);
        Dispute storage dispute = _openDispute(header.epoch, disputeId);
        if (block.timestamp >= dispute.deadline) {
            revert SettlementDisputeDeadlinePassed(header.epoch, disputeId, dispute.deadline);
        }

        state.openDisputes -= 1;
        if (upheld) {
            dispute.status = DisputeStatus.Upheld;
            state.status = EpochStatus.Voided;
            emit DisputeClosed(header.epoch, disputeId, DisputeStatus.Upheld);
            emit EpochVoided(header.epoch);
            _credit(dispute.challenger, dispute.bond);
            _forfeitBond(header, dispute.challenger);
        } else {
            dispute.status = DisputeStatus.Rejected;
            emit DisputeClosed(header.epoch, disputeId, DisputeStatus.Rejected);
            _credit(header.operator, dispute.bond);
        }
    }

    /// @inheritdoc IAmeSettlement
    function dismissDispute(EpochHeader calldata header, uint256 disputeId) external {
        _checkHeader(header);
        EpochState storage state = _states[header.epoch];
        Dispute storage dispute = _openDispute(header.epoch, disputeId);
        bool voided = state.status == EpochStatus.Voided || state.status == EpochStatus.Refunded;
        if (!voided && block.timestamp < dispute.deadline) {
            revert SettlementDisputeNotDismissable(header.epoch, disputeId, dispute.deadline);
        }

        state.openDisputes -= 1;
        dispute.status = DisputeStatus.Dismissed;
        emit DisputeClosed(header.epoch, disputeId, DisputeStatus.Dismissed);
        _credit(dispute.challenger, dispute.bond);
    }

    // ----------------------------------------------------------------------------------
    // Claims
    // ----------------------------------------------------------------------------------

    /// @inheritdoc IAmeSettlement
    function claim(EpochHeader calldata header, Leaf calldata leaf, bytes32[] calldata proof)
        external
        whenNotPaused
        nonReentrant
    {
        _checkHeader(header);
        EpochState storage state = _states[header.epoch];
        if (state.status != EpochStatus.Finalized) revert SettlementWrongStatus(header.epoch, state.status);
        uint256 remaining = _claimLeaf(header, leaf, proof, state.remaining);
        // Lossless: `remaining` only decreased from a 128-bit value.
        state.remaining = uint128(remaining);
        _pay(header.token, leaf.account, leaf.amount);
    }

    /// @inheritdoc IAmeSettlement
    function claimMany(EpochHeader[] calldata headers, BatchClaim[] calldata claims)
        external
        whenNotPaused
        nonReentrant
    {
        uint256 headerCount = headers.length;
        uint256[] memory remaining = new uint256[](headerCount);
        for (uint256 h = 0; h < headerCount; ++h) {
            EpochHeader calldata header = headers[h];
            // Strictly increasing epochs: one in-memory pool balance per epoch, never two copies.
            if (h != 0 && header.epoch <= headers[h - 1].epoch) revert SettlementBatchHeadersUnordered(h);
            _checkHeader(header);
            EpochState storage state = _states[header.epoch];
            if (state.status != EpochStatus.Finalized) revert SettlementWrongStatus(header.epoch, state.status);
            remaining[h] = state.remaining;
        }

        // Effects first: every leaf is marked and every pool debited before any transfer.
        uint256 claimCount = claims.length;
        for (uint256 c = 0; c < claimCount; ++c) {
            BatchClaim calldata batchClaim = claims[c];
            uint256 h = batchClaim.header;
            if (h >= headerCount) revert SettlementBatchHeaderOutOfRange(h, headerCount);
            remaining[h] = _claimLeaf(headers[h], batchClaim.leaf, batchClaim.proof, remaining[h]);
        }
        for (uint256 h = 0; h < headerCount; ++h) {
            // Lossless: each value only decreased from a 128-bit one.
            _states[headers[h].epoch].remaining = uint128(remaining[h]);
        }
        for (uint256 c = 0; c < claimCount; ++c) {
            BatchClaim calldata batchClaim = claims[c];
            _pay(headers[batchClaim.header].token, batchClaim.leaf.account, batchClaim.leaf.amount);
        }
    }

    // ----------------------------------------------------------------------------------
    // Refunds, sweeps and credits
    // ----------------------------------------------------------------------------------

    /// @inheritdoc IAmeSettlement
    function refund(EpochHeader calldata header) external nonReentrant {
        _checkHeader(header);
        EpochState storage state = _states[header.epoch];
        if (state.status != EpochStatus.Voided) revert SettlementWrongStatus(header.epoch, state.status);
        state.status = EpochStatus.Refunded;
        emit Refunded(header.epoch, header.operator, header.pool);
        _pay(header.token, header.operator, header.pool);
    }

    /// @inheritdoc IAmeSettlement
    function sweep(EpochHeader calldata header) external whenNotPaused nonReentrant {
        _checkHeader(header);
        EpochState storage state = _states[header.epoch];
        if (state.status != EpochStatus.Finalized) revert SettlementWrongStatus(header.epoch, state.status);
        uint256 expiry = _expiry(header);
        if (block.timestamp < expiry) revert SettlementNotExpired(header.epoch, expiry);
        uint256 amount = state.remaining;
        if (amount == 0) revert SettlementNothingToSweep(header.epoch);

        state.remaining = 0;
        state.status = EpochStatus.Swept;
        address recipient = sweepRecipient;
        emit Swept(header.epoch, recipient, amount);
        _pay(header.token, recipient, amount);
    }

    /// @inheritdoc IAmeSettlement
    function withdrawCredits(address payable to) external nonReentrant {
        if (to == address(0)) revert SettlementZeroAddress();
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert SettlementNoCredit(msg.sender);
        _credits[msg.sender] = 0;
        emit CreditsWithdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert SettlementEthTransferFailed(to, amount);
    }

    // ----------------------------------------------------------------------------------
    // Administration
    // ----------------------------------------------------------------------------------

    /// @notice Sets where expired epochs are swept.
    function setSweepRecipient(address recipient) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (recipient == address(0)) revert SettlementZeroAddress();
        emit SweepRecipientUpdated(sweepRecipient, recipient);
        sweepRecipient = recipient;
    }

    /// @notice Pauses proposals, claims and sweeps; the claim period of every epoch stops running.
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
        _pausedAt = SafeCast.toUint40(block.timestamp);
    }

    /// @notice Resumes proposals, claims and sweeps; every expiry has moved by the time paused.
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        _unpause();
        _pausedTotal = SafeCast.toUint40(_pausedTotal + (block.timestamp - _pausedAt));
    }

    // ----------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------

    /// @inheritdoc IAmeSettlement
    function epochStatus(uint256 epoch) external view returns (EpochStatus) {
        if (_commitments[epoch] == bytes32(0)) revert SettlementUnknownEpoch(epoch);
        return _states[epoch].status;
    }

    /// @inheritdoc IAmeSettlement
    function isClaimed(uint256 epoch, uint256 index) external view returns (bool) {
        return _claimedWords[epoch][index >> 8] & (1 << (index & 0xff)) != 0;
    }

    /// @notice The stored commitment of an epoch (zero when never proposed).
    function commitmentOf(uint256 epoch) external view returns (bytes32) {
        return _commitments[epoch];
    }

    /// @notice The unclaimed part of a finalised epoch's pool, open disputes and disputes ever opened.
    function epochState(uint256 epoch)
        external
        view
        returns (EpochStatus status, uint256 remaining, uint256 openDisputes, uint256 disputeCount)
    {
        EpochState memory state = _states[epoch];
        return (state.status, state.remaining, state.openDisputes, state.disputeCount);
    }

    /// @notice A dispute of an epoch.
    function disputeOf(uint256 epoch, uint256 disputeId)
        external
        view
        returns (address challenger, uint256 bond, uint256 deadline, DisputeStatus status)
    {
        Dispute memory dispute = _disputes[epoch][disputeId];
        return (dispute.challenger, dispute.bond, dispute.deadline, dispute.status);
    }

    /// @notice ETH credited to `account` and not yet withdrawn.
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @inheritdoc IAmeSettlement
    function expiryOf(EpochHeader calldata header) external view returns (uint256) {
        return _expiry(header);
    }

    /// @notice The leaf hash the contract verifies for `leaf` of `epoch`.
    function leafHash(uint256 epoch, Leaf calldata leaf) external view returns (bytes32) {
        return SettlementLeaf.hash(address(this), epoch, leaf);
    }

    // ----------------------------------------------------------------------------------
    // Internal
    // ----------------------------------------------------------------------------------

    function _checkHeader(EpochHeader calldata header) private view {
        bytes32 stored = _commitments[header.epoch];
        if (stored == bytes32(0)) revert SettlementUnknownEpoch(header.epoch);
        if (stored != SettlementLeaf.commitment(header)) revert SettlementHeaderMismatch(header.epoch);
    }

    /// @dev Fraud can be proven while the epoch is proposed: in its window, or after it while
    /// disputes keep it from being finalised.
    function _checkChallengeable(EpochHeader calldata header) private view {
        _checkHeader(header);
        EpochStatus status = _states[header.epoch].status;
        if (status != EpochStatus.Proposed) revert SettlementWrongStatus(header.epoch, status);
    }

    function _checkProof(EpochHeader calldata header, Leaf calldata leaf, bytes32[] calldata proof)
        private
        view
        returns (bytes32 leafHash_)
    {
        leafHash_ = SettlementLeaf.hash(address(this), header.epoch, leaf);
        if (!MerkleProof.verifyCalldata(proof, header.root, leafHash_)) {
            revert SettlementInvalidProof(header.epoch, leaf.index);
        }
    }

    function _voidForFraud(EpochHeader calldata header, FraudKind kind, uint256 index) private {
        _states[header.epoch].status = EpochStatus.Voided;
        emit FraudProven(header.epoch, msg.sender, kind, index);
        emit EpochVoided(header.epoch);
        _forfeitBond(header, msg.sender);
    }

    /// @dev Half the operator's bond to `winner`, the rest burned. Whoever proves the fault
    /// first wins, the operator included (it can always front-run a watcher's proof), so only
    /// the burned half is sure to deter fraud; the other half rewards the watchers.
    function _forfeitBond(EpochHeader calldata header, address winner) private {
        uint256 burned = header.bond - header.bond / 2;
        _credit(winner, header.bond / 2);
        _credit(BOND_BURN_ADDRESS, burned);
    }

    /// @dev Marks one leaf claimed and returns the pool left after it; pays nothing.
    function _claimLeaf(EpochHeader calldata header, Leaf calldata leaf, bytes32[] calldata proof, uint256 remaining)
        private
        returns (uint256)
    {
        uint256 epoch = header.epoch;
        uint256 index = leaf.index;
        if (index >= header.leafCount) revert SettlementLeafIndexOutOfRange(epoch, index, header.leafCount);
        uint256 word = index >> 8;
        uint256 bit = 1 << (index & 0xff);
        uint256 claimedWord = _claimedWords[epoch][word];
        if (claimedWord & bit != 0) revert SettlementAlreadyClaimed(epoch, index);
        _checkProof(header, leaf, proof);
        // Defence in depth: even an unchallenged faulty tree cannot pay past its pool.
        if (leaf.amount > remaining) revert SettlementPoolExceeded(epoch, leaf.amount, remaining);

        _claimedWords[epoch][word] = claimedWord | bit;
        emit Claimed(epoch, index, leaf.account, leaf.amount);
        unchecked {
            // Cannot underflow: checked just above.
            return remaining - leaf.amount;
        }
    }

    /// @dev Pays `amount` of `token` to `to`; ETH a receiver refuses is credited to it instead,
    /// so one refusing account cannot block a batch, and the money still belongs to it alone.
    function _pay(address token, address to, uint256 amount) private {
        if (token == address(0)) {
            (bool ok,) = payable(to).call{value: amount}("");
            if (!ok) _credit(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        _credits[account] += amount;
        emit Credited(account, amount);
    }

    function _openDispute(uint256 epoch, uint256 disputeId) private view returns (Dispute storage dispute) {
        dispute = _disputes[epoch][disputeId];
        if (dispute.status == DisputeStatus.None) revert SettlementUnknownDispute(epoch, disputeId);
        if (dispute.status != DisputeStatus.Open) {
            revert SettlementDisputeNotOpen(epoch, disputeId, dispute.status);
        }
    }

    /// @dev Disputes open until the window closes and get `DISPUTE_WINDOW` each, so every epoch
    /// can be finalised by `challengeEnd + DISPUTE_WINDOW` and gets a full claim period after it,
    /// plus every second paused since its proposal, during which no one could claim.
    function _expiry(EpochHeader calldata header) private view returns (uint256) {
        uint256 pausedNow = _pausedTotal;
        if (paused()) pausedNow += block.timestamp - _pausedAt;
        return header.challengeEnd + DISPUTE_WINDOW + CLAIM_PERIOD + (pausedNow - _states[header.epoch].pausedBefore);
    }

    function _checkWindow(ConfigField field, uint256 value) private pure {
        if (value == 0 || value > MAX_WINDOW) revert SettlementInvalidConfig(field, value);
    }

    function _checkBond(ConfigField field, uint256 value) private pure {
        if (value == 0 || value > type(uint96).max) revert SettlementInvalidConfig(field, value);
    }
}
