"""Sending that survives a crash: record the signed transaction, broadcast it, record the receipt.

Every transaction goes through three durable points:

1. **signed**: the raw signed transaction and its hash are written to the state (one
   SQLite transaction) *before* anything is broadcast;
2. **sent**: the raw bytes go to the node;
3. **mined**: the receipt is recorded.

A process killed anywhere leaves a ``signed`` row at worst. :meth:`DurableSender.resume`
reconciles it with the chain: a receipt by hash settles it; a transaction the node still
holds is waited for; one the node never saw is broadcast again (same bytes, same nonce, so
it can never be mined twice); one whose nonce was used by another transaction is marked
``dropped``, and the caller decides from the chain's state whether to send anew.

For tests, ``AME_CRASH_AT=<step>:<point>`` makes the process exit at once (``os._exit``,
status :data:`CRASH_EXIT_CODE`) at ``before-send``, ``after-send`` or ``after-mined`` of
the named step; a hook can be passed instead when driving the API in-process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxParams, TxReceipt, Wei

from ame.workflow._state import StateStore, TxRow, TxScope
from ame_chain.errors import decode_revert, revert_data
from ame_chain.exceptions import ChainError, SettlementError, TransactionError
from ame_chain.tx import Transactor, TxResult

__all__ = [
    "CRASH_ENV",
    "CRASH_EXIT_CODE",
    "CRASH_POINTS",
    "DurableSender",
    "RecordingTransactor",
    "crash_from_env",
]

log = logging.getLogger("ame.sender")

CRASH_ENV: Final = "AME_CRASH_AT"
CRASH_EXIT_CODE: Final = 86
CRASH_POINTS: Final = ("before-send", "after-send", "after-mined")

#: Called with ``(step, point)`` at each durable point.
Hook = Callable[[str, str], None]


def crash_from_env(step: str, point: str) -> None:
    """Exit the process at once when ``$AME_CRASH_AT`` names this step and point (tests only)."""
    if os.environ.get(CRASH_ENV) == f"{step}:{point}":
        log.warning("AME_CRASH_AT=%s:%s: exiting now", step, point)
        logging.shutdown()
        os._exit(CRASH_EXIT_CODE)


def _raise_revert(err: BaseException, tx_hash: str | None = None) -> None:
    data = revert_data(err)
    decoded = decode_revert(data, tx_hash) if data else None
    if decoded is not None:
        raise decoded from err
    raise TransactionError(f"transaction reverted: {err}") from err


class DurableSender:
    """Signs, records, sends and reconciles transactions of one account.

    Args:
        w3: The connected chain.
        account: The signing account (never logged).
        state: Where every transaction is recorded.
        hook: Called at each durable point; exits the process when ``$AME_CRASH_AT`` says so.
        gas_margin: Multiplier on the estimated gas.
        receipt_timeout: Seconds to wait for a receipt.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        state: StateStore,
        *,
        hook: Hook = crash_from_env,
        gas_margin: float = 1.25,
        receipt_timeout: float = 120.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.state = state
        self.hook = hook
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self.chain_id: int = w3.eth.chain_id

    @property
    def address(self) -> str:
        """The signing account's checksummed address."""
        return str(self.account.address)

    # ------------------------------------------------------------------ sending

    def send(
        self,
        scope: TxScope,
        step: str,
        call: Any,
        *,
        value: int = 0,
        detail: dict[str, Any] | None = None,
    ) -> TxResult:
        """Estimate, sign, record, broadcast and wait for ``call``.

        Callers of a step that must happen once call :meth:`resume` first, then check the
        chain, then send.

        Raises:
            SettlementError: The contract reverted with one of its errors (at estimation or mined).
            TransactionError: The transaction failed for another reason.
            ChainError: The node refused it or no receipt came in time.
        """
        params: TxParams = {"from": self.address, "value": Wei(value), "chainId": self.chain_id}
        try:
            tx: dict[str, Any] = dict(call.build_transaction(params))
        except SettlementError:
            raise
        except Exception as err:
            _raise_revert(err)
            raise  # unreachable
        estimated = tx.get("gas")
        if estimated is None:
            try:
                estimated = self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
            except Exception as err:
                _raise_revert(err)
        tx.pop("gasPrice", None)
        tx.update(self._fees())
        nonce = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
        tx.update(
            {"gas": int(int(estimated) * self.gas_margin), "nonce": nonce, "type": 2}  # type: ignore[arg-type]
        )
        signed = self.account.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        raw = "0x" + bytes(signed.raw_transaction).hex()
        self.state.record_signed(
            scope, step, sender=self.address, nonce=nonce, tx_hash=tx_hash, raw=raw, detail=detail
        )
        log.info("%s: signed %s (nonce %d), recorded before sending", step, tx_hash, nonce)
        self.hook(step, "before-send")
        try:
            self.w3.eth.send_raw_transaction(HexStr(raw))
        except Exception as err:
            self.state.mark_tx(tx_hash, "dropped")
            data = revert_data(err)
            if data and decode_revert(data) is not None:
                _raise_revert(err)
            raise ChainError(f"the node refused the transaction: {err}") from err
        log.info("%s: sent %s", step, tx_hash)
        self.hook(step, "after-send")
        receipt = self._wait(tx_hash)
        self.hook(step, "after-mined")
        return self._finish(tx_hash, receipt)

    def resume(self, scope: TxScope, step: str) -> TxResult | None:
        """Reconcile the last recorded transaction of ``step`` with the chain.

        Returns:
            The mined transaction; None when there is none, or it was dropped (its nonce
            went to another transaction) and the step must be decided afresh.

        Raises:
            SettlementError: It was mined and reverted.
            ChainError: The node refuses it for a reason other than a used nonce.
        """
        row = self.state.open_tx(scope, step)
        if row is None:
            return None
        receipt = self._receipt(row.tx_hash)
        if row.status == "mined":
            if receipt is not None:
                return TxResult(row.tx_hash, receipt)
            if not self._target_exists(row):
                raise ChainError(
                    f"{step}: transaction {row.tx_hash} is recorded as mined but the node has "
                    "no receipt for it and no contract where it went: is this the same chain?"
                )
            # A reorganisation took it out of the chain: reconcile it like one never answered
            # (resend the same bytes while its nonce is free; else it is dropped).
            log.warning("%s: %s was mined, then reorganised out of the chain", step, row.tx_hash)
            self.state.mark_tx(row.tx_hash, "signed")
        if receipt is None and not self._pending(row.tx_hash) and not self._rebroadcast(row):
            return None
        if receipt is None:
            log.info("%s: waiting for %s, sent before the last run stopped", step, row.tx_hash)
            receipt = self._wait(row.tx_hash)
        else:
            log.info("%s: %s was mined before the last run stopped", step, row.tx_hash)
        return self._finish(row.tx_hash, receipt)

    # ------------------------------------------------------------------ helpers

    def _target_exists(self, row: TxRow) -> bool:
        """Whether the contract the recorded transaction calls has code on this chain."""
        try:
            to = TypedTransaction.from_bytes(HexBytes(row.raw)).as_dict().get("to")
        except Exception:  # not a typed transaction this version can read
            return False
        if not isinstance(to, bytes) or len(to) != 20:
            return False
        return bool(self.w3.eth.get_code(to_checksum_address(to)))

    def _rebroadcast(self, row: TxRow) -> bool:
        confirmed = int(self.w3.eth.get_transaction_count(self.account.address, "latest"))
        if confirmed > row.nonce:
            log.info("%s: %s was never mined and its nonce is used: dropped", row.step, row.tx_hash)
            self.state.mark_tx(row.tx_hash, "dropped")
            return False
        try:
            self.w3.eth.send_raw_transaction(HexStr(row.raw))
        except Exception as err:
            text = str(err).lower()
            if "already known" in text or "already imported" in text:
                return True
            if "nonce too low" in text:
                self.state.mark_tx(row.tx_hash, "dropped")
                return False
            raise ChainError(f"{row.step}: rebroadcasting {row.tx_hash} failed: {err}") from err
        log.info("%s: %s was recorded but never sent: sent it now", row.step, row.tx_hash)
        return True

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def _pending(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    def _wait(self, tx_hash: str) -> TxReceipt:
        try:
            return self.w3.eth.wait_for_transaction_receipt(
                tx_hash,  # type: ignore[arg-type]
                timeout=self.receipt_timeout,
            )
        except Exception as err:
            raise ChainError(
                f"no receipt for {tx_hash} within {self.receipt_timeout}s; "
                "run the command again to keep waiting"
            ) from err

    def _finish(self, tx_hash: str, receipt: TxReceipt) -> TxResult:
        block, gas_used = int(receipt["blockNumber"]), int(receipt["gasUsed"])
        if receipt["status"] == 1:
            self.state.mark_tx(tx_hash, "mined", block=block, gas_used=gas_used)
            return TxResult(tx_hash=tx_hash, receipt=receipt)
        self.state.mark_tx(tx_hash, "failed", block=block, gas_used=gas_used)
        sent: dict[str, Any] = dict(self.w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        replay: dict[str, Any] = {k: sent[k] for k in ("from", "to", "value") if k in sent}
        replay["data"] = sent.get("input", b"")
        try:
            self.w3.eth.call(replay, block - 1)  # type: ignore[arg-type]
        except Exception as err:
            _raise_revert(err, tx_hash)
        raise TransactionError(f"transaction {tx_hash} failed (out of gas?)")

    def _fees(self) -> dict[str, int]:
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:  # nodes without eth_maxPriorityFeePerGas
            tip = 10**9
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip}


class RecordingTransactor(Transactor):
    """A :class:`Transactor` whose sends go through a :class:`DurableSender`, so that
    :class:`~ame_chain.client.SettlementClient` calls are recorded in the state too.

    Set what the next transactions are about with :meth:`recording`.
    """

    def __init__(self, sender: DurableSender) -> None:
        super().__init__(sender.w3, sender.account)
        self.sender = sender
        self._scope: TxScope = (sender.chain_id, "", None)
        self._step = "tx"

    @contextmanager
    def recording(self, scope: TxScope, step: str) -> Iterator[None]:
        """Record the transactions sent inside the block under ``scope`` and ``step``."""
        previous = self._scope, self._step
        self._scope, self._step = scope, step
        try:
            yield
        finally:
            self._scope, self._step = previous

    def send(self, call: Any, *, value: int = 0, gas: int | None = None) -> TxResult:
        """Send through the durable sender (``gas`` is always estimated)."""
        return self.sender.send(self._scope, self._step, call, value=value)
