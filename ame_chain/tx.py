"""Sending transactions: locally signed, EIP-1559 fees, managed nonces, checked receipts.

A :class:`Transactor` owns one signing account on one chain. Before sending it estimates
gas, which runs the call and surfaces a revert as the contract's own exception (decoded by
:mod:`ame_chain.errors`) without spending anything; after sending it waits for the receipt
and raises if the transaction failed anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxParams, TxReceipt, Wei

from ame_chain.errors import decode_revert, revert_data
from ame_chain.exceptions import ChainError, SettlementError, TransactionError

__all__ = ["Transactor", "TxResult"]


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction."""

    tx_hash: str
    receipt: TxReceipt

    @property
    def gas_used(self) -> int:
        """Gas the transaction used."""
        return int(self.receipt["gasUsed"])


class Transactor:
    """Signs and sends transactions for one account.

    Args:
        w3: The connected chain.
        account: The signing account.
        gas_margin: Multiplier on estimated gas, to absorb state changes between estimate and mining.
        receipt_timeout: Seconds to wait for a receipt.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        gas_margin: float = 1.25,
        receipt_timeout: float = 120.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self._chain_id: int = w3.eth.chain_id
        self._nonce: int | None = None

    @property
    def address(self) -> str:
        """The checksummed address of the signing account."""
        return str(self.account.address)

    def _next_nonce(self) -> int:
        # The node's pending count catches transactions sent by other clients of this account;
        # the local count covers ours that the node has not listed as pending yet.
        pending = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
        self._nonce = max(pending, self._nonce or 0)
        return self._nonce

    def _fees(self) -> dict[str, int]:
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:  # nodes without eth_maxPriorityFeePerGas
            tip = 10**9
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip}

    def _sign_and_send(self, tx: dict[str, Any]) -> Any:
        """Sign with the next nonce and broadcast; resync the nonce once if the node disagrees.

        A node refuses a nonce only before accepting the transaction, so resending with the
        node's count cannot send it twice. Our count runs ahead when the chain went back
        (a reorg, a restarted or reverted development chain).
        """
        for attempt in (1, 2):
            tx["nonce"] = self._next_nonce()
            signed = self.account.sign_transaction(tx)
            try:
                raw_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except Exception as err:
                self._nonce = None  # resync from the node next time
                data = revert_data(err)
                if data and decode_revert(data) is not None:
                    self._raise_revert(err)
                if attempt == 1 and "nonce" in str(err).lower():
                    continue
                raise ChainError(f"the node refused the transaction: {err}") from err
            self._nonce = tx["nonce"] + 1
            return raw_hash
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_revert(self, err: BaseException, tx_hash: str | None = None) -> None:
        data = revert_data(err)
        decoded = decode_revert(data, tx_hash) if data else None
        if decoded is not None:
            raise decoded from err
        raise TransactionError(f"transaction reverted: {err}") from err

    def send(self, call: Any, *, value: int = 0, gas: int | None = None) -> TxResult:
        """Send a contract function call (or constructor) built by web3 and wait for it.

        Args:
            call: A bound ``contract.functions.f(...)`` or ``Contract.constructor(...)``.
            value: Wei to send along.
            gas: Gas limit; estimated (with :attr:`gas_margin`) when omitted.

        Raises:
            SettlementError: The contract reverted with one of its custom errors.
            TransactionError: The transaction failed for another reason.
            ChainError: The node refused the transaction or no receipt came in time.
        """
        params: TxParams = {
            "from": self.account.address,
            "value": Wei(value),
            "chainId": self._chain_id,
        }
        if gas is not None:
            # A given limit is used as is: web3 would otherwise estimate (run the call) anyway.
            params["gas"] = gas
        try:
            tx: dict[str, Any] = dict(call.build_transaction(params))
        except SettlementError:
            raise
        except Exception as err:
            self._raise_revert(err)
            raise  # unreachable: _raise_revert always raises
        if gas is None:
            estimated = tx.get("gas")
            if estimated is None:
                try:
                    estimated = self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
                except Exception as err:
                    self._raise_revert(err)
            gas = int(int(estimated) * self.gas_margin)  # type: ignore[arg-type]
        tx.update(self._fees())
        tx.update({"gas": gas, "type": 2})
        tx.pop("gasPrice", None)
        return self._await(self._sign_and_send(tx), tx)

    def transfer(self, to: str, value: int) -> TxResult:
        """Send ``value`` wei to ``to`` with no call data (gas estimated, as for ``send``).

        Raises:
            TransactionError: The transfer failed (e.g. a contract that refuses ETH).
            ChainError: The node refused it or no receipt came in time.
        """
        tx: dict[str, Any] = {
            "from": self.account.address,
            "to": self.w3.to_checksum_address(to),
            "value": value,
            "chainId": self._chain_id,
        }
        try:
            estimated = self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        except Exception as err:
            raise TransactionError(f"a transfer of {value} wei to {to} would fail: {err}") from err
        tx.update(self._fees())
        tx.update({"gas": int(estimated * self.gas_margin), "type": 2})
        return self._await(self._sign_and_send(tx), tx)

    def _await(self, raw_hash: Any, tx: dict[str, Any]) -> TxResult:
        """Wait for the receipt of a broadcast transaction; raise why it failed if it did."""
        gas = tx["gas"]
        tx_hash = "0x" + bytes(raw_hash).hex()
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                raw_hash, timeout=self.receipt_timeout
            )
        except Exception as err:
            raise ChainError(f"no receipt for {tx_hash} within {self.receipt_timeout}s") from err
        if receipt["status"] != 1:
            # Replay the call at its block to learn why it failed.
            replay = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
            try:
                self.w3.eth.call(replay, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
            except Exception as err:
                self._raise_revert(err, tx_hash)
            raise TransactionError(f"transaction {tx_hash} failed (out of gas at {gas}?)")
        return TxResult(tx_hash=tx_hash, receipt=receipt)
