// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Reverts on every ETH transfer; can still act on the settlement through `execute`.
contract RevertingReceiver {
    error NoEthAccepted();

    receive() external payable {
        revert NoEthAccepted();
    }

    function execute(address target, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }
}

/// @notice On receiving ETH, calls back into a target once and records whether it got through.
contract ReentrantReceiver {
    address public target;
    bytes public data;
    bool public attempted;
    bool public reentrySucceeded;
    bytes public reentryReturn;

    function arm(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
        attempted = false;
    }

    receive() external payable {
        if (target != address(0) && !attempted) {
            attempted = true;
            (reentrySucceeded, reentryReturn) = target.call(data);
        }
    }
}
