"""Sending transactions: locally signed, EIP-1559 fees, managed nonces, checked receipts.

A :class:`Transactor` owns one signing account on one chain. Before sending it estimates
gas, which runs the call and surfaces a revert as the contract's own exception (decoded by
:mod:`ame_chain.errors`) without spending anything; after sending it waits for the receipt
and raises if the transaction failed anyway.

It is the one sender: the client, the operator workflow and the demos all send through it.
A subclass that must keep a journal (the workflow's crash-safe
:class:`~ame.workflow.DurableSender`) overrides the points the path passes through:
:meth:`Transactor._signed` (before anything leaves the process), :meth:`Transactor._refused`,
:meth:`Transactor._sent` and :meth:`Transactor._mined`; it never signs or decodes on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3
from web3.types import TxParams, TxReceipt, Wei

from ame_chain.errors import chain_errors, decode_revert, revert_data, revert_error
from ame_chain.exceptions import ChainError, FundingError, SettlementError, TransactionError

__all__ = ["Transactor", "TxResult"]

# How nodes word a refusal for want of funds (geth and Anvil; eth-tester, two ways).
_UNFUNDED = re.compile(r"insufficient funds|cannot afford|not have enough balance", re.IGNORECASE)


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
        account: The signing account (never logged).
        gas_margin: Multiplier on estimated gas, to absorb state changes between estimate and mining.
        receipt_timeout: Seconds to wait for a receipt.

    Raises:
        ChainError: The node cannot tell its chain id.
    """

    #: Appended to the error when no receipt comes in time (a journaling sender says how to resume).
    _no_receipt_hint: ClassVar[str] = ""

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
        with chain_errors():
            self.chain_id: int = w3.eth.chain_id
        self._nonce: int | None = None

    @property
    def address(self) -> str:
        """The checksummed address of the signing account."""
        return str(self.account.address)

    # ------------------------------------------------------------------ sending

    def send(self, call: Any, *, value: int = 0, gas: int | None = None) -> TxResult:
        """Send a contract function call (or constructor) built by web3 and wait for it.

        Args:
            call: A bound ``contract.functions.f(...)`` or ``Contract.constructor(...)``.
            value: Wei to send along.
            gas: Gas limit; estimated (with :attr:`gas_margin`) when omitted.

        Raises:
            SettlementError: The contract reverted with one of its custom errors.
            FundingError: The account cannot pay ``value`` plus the gas.
            TransactionError: The transaction failed for another reason.
            ChainError: The node refused the transaction or no receipt came in time.
        """
        params: TxParams = {"from": self.address, "value": Wei(value), "chainId": self.chain_id}
        if gas is not None:
            # A given limit is used as is: web3 would otherwise estimate (run the call) anyway.
            params["gas"] = gas
        try:
            tx: dict[str, Any] = dict(call.build_transaction(params))
        except SettlementError:
            raise
        except Exception as err:
            raise self._failed(err, value) from err
        if gas is None:
            estimated = tx.get("gas")
            if estimated is None:
                try:
                    estimated = self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
                except Exception as err:
                    raise self._failed(err, value) from err
            gas = int(int(estimated) * self.gas_margin)
        tx.pop("gasPrice", None)
        tx.update(self._fees())
        tx.update({"gas": gas, "type": 2})
        return self._submit(tx)

    def _failed(self, err: Exception, value: int) -> SettlementError | TransactionError:
        """Why building or estimating a transaction failed: the contract's error, or no funds.

        A node that refuses for want of funds says so in its own words (Anvil and geth:
        ``insufficient funds``; eth-tester: ``cannot afford``, ``does not have enough
        balance``); the balance is read to say
        by how much.
        """
        decoded = revert_error(err)
        if isinstance(decoded, SettlementError) or not _UNFUNDED.search(str(err)):
            return decoded
        with chain_errors():
            balance = int(self.w3.eth.get_balance(self.account.address))
        return FundingError(
            f"{self.address} has {balance} wei: not enough for a transaction carrying "
            f"{value} wei plus its gas",
            account=self.address,
            balance=balance,
            value=value,
        )

    def transfer(self, to: str, value: int) -> TxResult:
        """Send ``value`` wei to ``to`` with no call data (gas estimated, as for ``send``).

        Raises:
            TransactionError: The transfer failed (e.g. a contract that refuses ETH).
            ChainError: The node refused it or no receipt came in time.
        """
        tx: dict[str, Any] = {
            "from": self.address,
            "to": self.w3.to_checksum_address(to),
            "value": value,
            "chainId": self.chain_id,
        }
        try:
            estimated = self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        except Exception as err:
            raise TransactionError(f"a transfer of {value} wei to {to} would fail: {err}") from err
        tx.update(self._fees())
        tx.update({"gas": int(estimated * self.gas_margin), "type": 2})
        return self._submit(tx)

    # ------------------------------------------------------------------ the path every transaction takes

    def _submit(self, tx: dict[str, Any]) -> TxResult:
        """Sign, broadcast, wait for and check ``tx`` (gas and fees set, no nonce yet)."""
        tx_hash = self._sign_and_send(tx)
        receipt = self._wait(tx_hash)
        self._mined(tx_hash, receipt)
        return self._result(tx_hash, receipt)

    def _sign_and_send(self, tx: dict[str, Any]) -> str:
        """Sign with the next nonce and broadcast; resync the nonce once if the node disagrees.

        A node refuses a nonce only before accepting the transaction, so resending with the
        node's count cannot send it twice. Our count runs ahead when the chain went back
        (a reorg, a restarted or reverted development chain).

        Returns:
            The transaction's hash (0x-hex).
        """
        for attempt in (1, 2):
            tx["nonce"] = self._next_nonce()
            signed = self.account.sign_transaction(tx)
            tx_hash = "0x" + bytes(signed.hash).hex()
            raw = "0x" + bytes(signed.raw_transaction).hex()
            self._signed(tx_hash, tx["nonce"], raw)
            try:
                self.w3.eth.send_raw_transaction(HexStr(raw))
            except Exception as err:
                self._nonce = None  # resync from the node next time
                self._refused(tx_hash)
                data = revert_data(err)
                if data and decode_revert(data) is not None:
                    raise revert_error(err) from err
                if attempt == 1 and "nonce" in str(err).lower():
                    continue
                raise ChainError(f"the node refused the transaction: {err}") from err
            self._nonce = tx["nonce"] + 1
            self._sent(tx_hash)
            return tx_hash
        raise AssertionError("unreachable")  # pragma: no cover

    def _next_nonce(self) -> int:
        # The node's pending count catches transactions sent by other clients of this account;
        # the local count covers ours that the node has not listed as pending yet.
        with chain_errors():
            pending = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
        self._nonce = max(pending, self._nonce or 0)
        return self._nonce

    def _fees(self) -> dict[str, int]:
        with chain_errors():
            base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:  # nodes without eth_maxPriorityFeePerGas
            tip = 10**9
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip}

    def _wait(self, tx_hash: str) -> TxReceipt:
        """The receipt of a broadcast transaction.

        Raises:
            ChainError: No receipt came within :attr:`receipt_timeout`.
        """
        try:
            return self.w3.eth.wait_for_transaction_receipt(
                HexStr(tx_hash), timeout=self.receipt_timeout
            )
        except Exception as err:
            raise ChainError(
                f"no receipt for {tx_hash} within {self.receipt_timeout}s{self._no_receipt_hint}"
            ) from err

    def _result(self, tx_hash: str, receipt: TxReceipt) -> TxResult:
        """The mined transaction, or why it failed: its call replayed at its block, decoded.

        Raises:
            SettlementError: It reverted with one of the contract's errors.
            TransactionError: It failed for another reason (out of gas, say).
        """
        if receipt["status"] == 1:
            return TxResult(tx_hash=tx_hash, receipt=receipt)
        with chain_errors():
            sent: dict[str, Any] = dict(self.w3.eth.get_transaction(HexStr(tx_hash)))
        replay: dict[str, Any] = {k: sent[k] for k in ("from", "to", "value") if sent.get(k)}
        replay["data"] = sent.get("input", b"")
        try:
            self.w3.eth.call(replay, int(receipt["blockNumber"]) - 1)  # type: ignore[arg-type]
        except Exception as err:
            raise revert_error(err, tx_hash) from err
        raise TransactionError(f"transaction {tx_hash} failed (out of gas at {sent.get('gas')}?)")

    # ------------------------------------------------------------------ points a journal hooks into

    def _signed(self, tx_hash: str, nonce: int, raw: str) -> None:
        """Called once a transaction is signed, before it is broadcast (nothing by default)."""

    def _refused(self, tx_hash: str) -> None:
        """Called when the node refused to take a signed transaction (nothing by default)."""

    def _sent(self, tx_hash: str) -> None:
        """Called once the node took a transaction (nothing by default)."""

    def _mined(self, tx_hash: str, receipt: TxReceipt) -> None:
        """Called with the receipt, before its status is checked (nothing by default)."""
