"""Sending that survives a crash: record the signed transaction, broadcast it, record the receipt.

:class:`DurableSender` is the chain layer's :class:`~ame_chain.tx.Transactor` (the one
path that signs, sends and decodes reverts) plus a journal in the operator's state. Every
transaction goes through three durable points:

1. **signed**: the raw signed transaction and its hash are written to the state (one
   SQLite transaction) *before* anything is broadcast;
2. **sent**: the raw bytes go to the node;
3. **mined**: the receipt is recorded.

A process killed anywhere leaves a ``signed`` row at worst. :meth:`DurableSender.resume`
reconciles it with the chain: a receipt by hash settles it; a transaction the node still
holds is waited for; one the node never saw is broadcast again (same bytes, same nonce, so
it can never be mined twice) when it was signed by this sender's account, and never when
by another; one whose nonce was used by another transaction is marked
``dropped``, and the caller decides from the chain's state whether to send anew.

``on_step`` is told of each point as ``(step, point)``, with ``point`` one of
``before-send``, ``after-send`` and ``after-mined``: the tests stand a crash in there
(``tests/workflow/test_settle.py`` in-process, ``tests/cli/_crashing.py`` for a whole
``ame`` process).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from ame.workflow._state import StateStore, TxRow, TxScope
from ame.workflow.exceptions import StateError
from ame_chain.errors import chain_errors
from ame_chain.exceptions import ChainError
from ame_chain.tx import Transactor, TxResult

__all__ = ["DurableSender", "StepHook"]

log = logging.getLogger("ame.sender")

#: Told ``(step, point)`` at each durable point of a transaction.
StepHook = Callable[[str, str], None]


class DurableSender(Transactor):
    """A :class:`~ame_chain.tx.Transactor` that records every transaction in the state.

    What the next transactions are about (the epoch's scope and the step) is set with
    :meth:`recording`; a client given this sender (``client.with_transactor(sender)``)
    records its calls under it too.

    Args:
        w3: The connected chain.
        account: The signing account (never logged).
        state: Where every transaction is recorded.
        on_step: Told ``(step, point)`` at each durable point (see the module docstring);
            nothing is done there by default.
        gas_margin: Multiplier on the estimated gas.
        receipt_timeout: Seconds to wait for a receipt.
    """

    _no_receipt_hint = "; run the command again to keep waiting"

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        state: StateStore,
        *,
        on_step: StepHook | None = None,
        gas_margin: float = 1.25,
        receipt_timeout: float = 120.0,
    ) -> None:
        super().__init__(w3, account, gas_margin=gas_margin, receipt_timeout=receipt_timeout)
        self.state = state
        self.on_step = on_step or (lambda step, point: None)
        self._scope: TxScope = (self.chain_id, "", None)
        self._step = "tx"
        self._detail: dict[str, Any] | None = None

    @contextmanager
    def recording(
        self, scope: TxScope, step: str, detail: dict[str, Any] | None = None
    ) -> Iterator[DurableSender]:
        """Record the transactions sent inside the block under ``scope`` and ``step``.

        Callers of a step that must happen once call :meth:`resume` first, then check the
        chain, then send.

        Args:
            scope: ``(chain id, settlement, epoch)`` of the transactions.
            step: What they do (``propose``, ``approve``, ``claim``...).
            detail: Kept with each record (the proposal's root, say).
        """
        previous = self._scope, self._step, self._detail
        self._scope, self._step, self._detail = scope, step, detail
        try:
            yield self
        finally:
            self._scope, self._step, self._detail = previous

    # ------------------------------------------------------------------ the journal

    def _signed(self, tx_hash: str, nonce: int, raw: str) -> None:
        self.state.record_signed(
            self._scope,
            self._step,
            sender=self.address,
            nonce=nonce,
            tx_hash=tx_hash,
            raw=raw,
            detail=self._detail,
        )
        log.info("%s: signed %s (nonce %d), recorded before sending", self._step, tx_hash, nonce)
        self.on_step(self._step, "before-send")

    def _refused(self, tx_hash: str) -> None:
        self.state.mark_tx(tx_hash, "dropped")

    def _sent(self, tx_hash: str) -> None:
        log.info("%s: sent %s", self._step, tx_hash)
        self.on_step(self._step, "after-send")

    def _mined(self, tx_hash: str, receipt: TxReceipt) -> None:
        self.on_step(self._step, "after-mined")
        self._record_receipt(tx_hash, receipt)

    # ------------------------------------------------------------------ after a crash

    def resume(self, scope: TxScope, step: str) -> TxResult | None:
        """Reconcile the last recorded transaction of ``step`` with the chain.

        Returns:
            The mined transaction; None when there is none, or it was dropped (its nonce
            went to another transaction) and the step must be decided afresh.

        Raises:
            SettlementError: It was mined and reverted.
            ChainError: The node refuses it for a reason other than a used nonce.
            StateError: It was signed by another account and is neither mined nor
                pending: it is never broadcast under an account not asked for.
        """
        row = self.state.open_tx(scope, step)
        if row is None:
            return None
        receipt = self._receipt(row.tx_hash)
        if receipt is None and row.sender != self.address and not self._pending(row.tx_hash):
            # Its bytes are signed by another account: broadcasting them would act as an
            # account nobody asked for, and its nonce is no business of this one.
            raise StateError(
                f"{step}: transaction {row.tx_hash} was signed by {row.sender} and is not on "
                f"the chain; this run signs as {self.address}, and a transaction is never "
                f"sent again under another account: run it as {row.sender}"
            )
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
        self._record_receipt(row.tx_hash, receipt)
        return self._result(row.tx_hash, receipt)

    def _target_exists(self, row: TxRow) -> bool:
        """Whether the contract the recorded transaction calls has code on this chain."""
        try:
            to = TypedTransaction.from_bytes(HexBytes(row.raw)).as_dict().get("to")
        except Exception:  # not a typed transaction this version can read
            return False
        if not isinstance(to, bytes) or len(to) != 20:
            return False
        with chain_errors():
            return bool(self.w3.eth.get_code(to_checksum_address(to)))

    def _rebroadcast(self, row: TxRow) -> bool:
        with chain_errors():
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
        with chain_errors():
            try:
                return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                return None

    def _pending(self, tx_hash: str) -> bool:
        with chain_errors():
            try:
                self.w3.eth.get_transaction(HexStr(tx_hash))
            except TransactionNotFound:
                return False
        return True

    def _record_receipt(self, tx_hash: str, receipt: TxReceipt) -> None:
        block, gas_used = int(receipt["blockNumber"]), int(receipt["gasUsed"])
        status = "mined" if receipt["status"] == 1 else "failed"
        self.state.mark_tx(tx_hash, status, block=block, gas_used=gas_used)
