// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAmeSettlement} from "../interfaces/IAmeSettlement.sol";

/**
 * @title SettlementLeaf
 * @notice Hashing of payout leaves and epoch headers, and the accounting rules a leaf or any
 * pair of leaves must satisfy.
 *
 * The rules are complete for what a claim can take: if no leaf of a tree breaks a single-leaf
 * rule and no two leaves break a pair rule, then every claimable leaf (index below the leaf
 * count, at most one per index) pays a range `[amountBefore, amountBefore + amount)` inside
 * `[0, pool]`, no two of those ranges overlap, and accounts strictly increase with the index:
 * the claimable leaves pay at most the pool in total and each account at most once. A tree
 * that pays less (an index left out) breaks no rule; that is an under-payment, for a dispute.
 *
 * A leaf hash is the OpenZeppelin standard-tree leaf of the tuple
 * `(uint256 chainId, address settlement, uint256 epoch, uint256 index, address account,
 * uint256 amount, uint256 amountBefore)`, so the OpenZeppelin merkle-tree library and
 * `ame_chain.merkle.StandardMerkleTree` build the same tree with that leaf encoding.
 *
 * WARNING: The double hash is what keeps a 64-byte internal node from passing as a leaf;
 * never verify a single-hashed leaf against these roots.
 */
library SettlementLeaf {
    /// @notice The hash of `leaf` of `epoch` under the settlement contract `settlement` on this chain.
    function hash(address settlement, uint256 epoch, IAmeSettlement.Leaf calldata leaf)
        internal
        view
        returns (bytes32)
    {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        block.chainid, settlement, epoch, leaf.index, leaf.account, leaf.amount, leaf.amountBefore
                    )
                )
            )
        );
    }

    /// @notice The commitment stored for an epoch.
    function commitment(IAmeSettlement.EpochHeader calldata header) internal pure returns (bytes32) {
        return keccak256(abi.encode(header));
    }

    /// @notice `amountBefore + amount`, saturating at the largest uint256 (an overflowing leaf is faulty anyway).
    function amountAfter(IAmeSettlement.Leaf calldata leaf) internal pure returns (uint256) {
        unchecked {
            // Overflow is detected by the wrap-around and mapped to the maximum, which no pool reaches.
            uint256 sum = leaf.amountBefore + leaf.amount;
            return sum < leaf.amountBefore ? type(uint256).max : sum;
        }
    }

    /**
     * @notice The fault, if any, that a single leaf shows against its header.
     * @return faulty Whether the leaf is faulty on its own.
     * @return kind The first fault found, in the order of {IAmeSettlement-FraudKind}.
     */
    function singleLeafFault(IAmeSettlement.EpochHeader calldata header, IAmeSettlement.Leaf calldata leaf)
        internal
        pure
        returns (bool faulty, IAmeSettlement.FraudKind kind)
    {
        if (leaf.index >= header.leafCount) return (true, IAmeSettlement.FraudKind.IndexOutOfRange);
        if (leaf.index == 0 && leaf.amountBefore != 0) return (true, IAmeSettlement.FraudKind.FirstLeafNotAtZero);
        uint256 after_ = amountAfter(leaf);
        if (after_ > header.pool) return (true, IAmeSettlement.FraudKind.LeafExceedsPool);
        if (leaf.index == header.leafCount - 1 && after_ != header.pool) {
            return (true, IAmeSettlement.FraudKind.LastLeafPoolMismatch);
        }
        if (leaf.account == address(0)) return (true, IAmeSettlement.FraudKind.ZeroAccount);
        return (false, IAmeSettlement.FraudKind.IndexOutOfRange);
    }

    /**
     * @notice The fault, if any, between two distinct leaves of the same tree, in either order.
     * @dev Two leaves with the same index are a fault (the caller has checked they differ).
     * For leaves `a` and `b` with `a.index < b.index`: adjacent leaves must chain their amounts
     * exactly; any two must keep their amount ranges apart (`a` ends at or before `b` starts)
     * and strictly increase their accounts. The pair rule over any two leaves, not only
     * adjacent ones, is what leaves a missing index nothing to hide behind.
     */
    function pairFault(IAmeSettlement.Leaf calldata first, IAmeSettlement.Leaf calldata second)
        internal
        pure
        returns (bool faulty, IAmeSettlement.FraudKind kind)
    {
        if (first.index == second.index) return (true, IAmeSettlement.FraudKind.DuplicateIndex);
        if (first.index > second.index) return pairFault(second, first);
        uint256 firstAfter = amountAfter(first);
        // `first.index < second.index`, so `first.index + 1` cannot overflow.
        if (second.index == first.index + 1 && second.amountBefore != firstAfter) {
            return (true, IAmeSettlement.FraudKind.BrokenChain);
        }
        if (second.amountBefore < firstAfter) return (true, IAmeSettlement.FraudKind.AmountRangesOverlap);
        if (second.account <= first.account) return (true, IAmeSettlement.FraudKind.AccountsNotIncreasing);
        return (false, IAmeSettlement.FraudKind.IndexOutOfRange);
    }
}
