// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @notice Benchmark floor: the least a Merkle claim can cost. One immutable root and token,
 * a claimed bitmap, OpenZeppelin standard leaves of the settlement's own tuple (so both
 * contracts verify proofs of one tree, of the same depth), and nothing else: no epochs, no
 * header, no pause, no pool cap. bench/gas.py compares a settlement claim with this one.
 */
contract FloorDistributor {
    using SafeERC20 for IERC20;

    error FloorAlreadyClaimed(uint256 index);
    error FloorInvalidProof(uint256 index);

    IERC20 public immutable TOKEN;
    bytes32 public immutable ROOT;
    // The settlement and epoch the tree's leaves are bound to: the floor verifies the same leaves.
    address public immutable SETTLEMENT;
    uint256 public immutable EPOCH;

    mapping(uint256 word => uint256) private _claimedWords;

    constructor(IERC20 token, bytes32 root, address settlement, uint256 epoch) {
        TOKEN = token;
        ROOT = root;
        SETTLEMENT = settlement;
        EPOCH = epoch;
    }

    function claim(uint256 index, address account, uint256 amount, uint256 amountBefore, bytes32[] calldata proof)
        external
    {
        uint256 word = index >> 8;
        uint256 bit = 1 << (index & 0xff);
        uint256 claimedWord = _claimedWords[word];
        if (claimedWord & bit != 0) revert FloorAlreadyClaimed(index);
        bytes32 leaf = keccak256(
            bytes.concat(keccak256(abi.encode(block.chainid, SETTLEMENT, EPOCH, index, account, amount, amountBefore)))
        );
        if (!MerkleProof.verifyCalldata(proof, ROOT, leaf)) revert FloorInvalidProof(index);
        _claimedWords[word] = claimedWord | bit;
        TOKEN.safeTransfer(account, amount);
    }
}
