// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @notice Benchmark baseline: the operator pays every recipient directly, in one loop.
contract NaiveDistributor {
    using SafeERC20 for IERC20;

    error NaiveEthTransferFailed(address to, uint256 amount);

    function distribute(IERC20 token, address[] calldata recipients, uint256[] calldata amounts) external {
        for (uint256 i = 0; i < recipients.length; ++i) {
            token.safeTransferFrom(msg.sender, recipients[i], amounts[i]);
        }
    }

    function distributeEth(address payable[] calldata recipients, uint256[] calldata amounts) external payable {
        for (uint256 i = 0; i < recipients.length; ++i) {
            (bool ok,) = recipients[i].call{value: amounts[i]}("");
            if (!ok) revert NaiveEthTransferFailed(recipients[i], amounts[i]);
        }
    }
}
