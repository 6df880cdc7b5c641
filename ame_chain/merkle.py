"""OpenZeppelin standard Merkle trees, interchangeable with ``@openzeppelin/merkle-tree``.

A tree commits to ``n`` leaf values, each a tuple of Solidity values typed by the tree's
``leaf_encoding``. Following the JS library (``StandardMerkleTree``, format
``standard-v1``) and OpenZeppelin's ``MerkleProof``::

    leaf(v)    = keccak256(keccak256(abi.encode(leaf_encoding, v)))
    node(a, b) = keccak256(min(a, b) ‖ max(a, b))          (a commutative pair hash)

The leaf is hashed twice so that no leaf can be the 64-byte preimage of an internal node
(the second-preimage attack on Merkle trees); the pair is sorted so a proof needs no
left/right bits. The ``2n - 1`` nodes are stored as a complete binary tree in one array:
the children of node ``i`` are ``2i + 1`` and ``2i + 2``, the root is node 0, and the
leaves fill the last ``n`` slots in reverse order of their hashes (sorted ascending when
``sort_leaves``, the default, which lets multiproofs be verified on-chain). Roots,
proofs, multiproofs and dumps are the JS library's, byte for byte; the tests compare them.

Speed: a tree of one million settlement leaves and all their proofs costs about 7 s of
CPU (``bench/merkle.py``; the JS library needs over two minutes for 100,000). Encoding is
batched column by column (:mod:`ame_chain._abi_fast`), hashing runs in tight loops over
one buffer with ``safe-pysha3`` (:mod:`ame_chain._keccak`), and
:meth:`StandardMerkleTree.get_all_proofs` derives every proof from its parent's instead
of walking up from each leaf.

Example:
    >>> tree = StandardMerkleTree.of(
    ...     [["0x1111111111111111111111111111111111111111", 5000]],
    ...     ["address", "uint256"],
    ... )
    >>> tree.verify(0, tree.get_proof(0))
    True
"""

from __future__ import annotations

import gc
import itertools
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypedDict

import numpy as np
import numpy.typing as npt

from ame_chain._abi_fast import Json, LeafCodec
from ame_chain._keccak import keccak256, keccak256_each, leaf_hash_each, leaf_hash_list
from ame_chain.exceptions import MerkleError, MerkleInputError
from ame_core.validation import show_value

__all__ = ["FORMAT", "MultiProof", "StandardMerkleTree"]

#: The ``format`` field of a dump, as the JS library writes it.
FORMAT: Final = "standard-v1"

# Values are encoded and hashed in batches of this many: large enough to amortise numpy
# calls, small enough that a batch's encodings (224 bytes a leaf) stay in cache.
_BATCH = 1 << 14
_NODE_HEX = re.compile(r"0x[0-9a-fA-F]{64}", re.ASCII)

Nodes = npt.NDArray[np.uint8]
# A node in a JSON array of nodes: 64 hex digits and the '","0x' before the next one.
_HEX_NODE_JSON: Final = 69


class MultiProof(TypedDict):
    """A proof of several leaves at once, as the JS library returns and takes it.

    ``leaves`` are values (or, given to ``verify_multi_proof``, value indices) in the
    order the proof consumes them; ``proof`` are ``0x`` hex nodes; ``proofFlags[i]``
    says whether hashing step ``i`` takes its second operand from the queue of leaves
    and computed nodes (``True``) or from ``proof`` (``False``), as in OpenZeppelin's
    ``MerkleProof.processMultiProof``.
    """

    leaves: list[Any]
    proof: list[str]
    proofFlags: list[bool]  # the JS library's field name, kept for JSON interop


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building millions of acyclic lists and tuples.

    Each collection walks every tracked object, and building a million proofs triggers
    hundreds of them: without this, building all proofs of a million leaves is 4x slower.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _node_bytes(node: object, where: str) -> bytes:
    """A 32-byte node given as ``0x`` hex or bytes."""
    if isinstance(node, str) and _NODE_HEX.fullmatch(node):
        return bytes.fromhex(node[2:])
    if isinstance(node, (bytes, bytearray)) and len(node) == 32:
        return bytes(node)
    raise MerkleInputError(
        f"{where}: expected a 32-byte node as 0x and 64 hex digits, or 32 bytes; "
        f"got {show_value(node)}"
    )


def _node_list(nodes: object, where: str) -> list[bytes]:
    if not isinstance(nodes, (list, tuple)):
        raise MerkleInputError(
            f"{where}: expected a list of 32-byte nodes, got {show_value(nodes)}"
        )
    return [_node_bytes(node, f"{where}[{i}]") for i, node in enumerate(nodes)]


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b if a <= b else b + a)


def _process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = _hash_pair(node, sibling)
    return node


def _process_multi_proof(leaves: list[bytes], proof: list[bytes], flags: list[bool]) -> bytes:
    """The root a multiproof leads to, as ``MerkleProof.processMultiProof`` computes it.

    Raises:
        MerkleInputError: If the lengths of leaves, proof and flags do not fit together
            (the checks whose absence made OpenZeppelin 4.7.0-4.7.2 multiproofs forgeable).
    """
    takes_from_proof = flags.count(False)
    if len(proof) < takes_from_proof:
        raise MerkleInputError(
            f"invalid multiproof: {takes_from_proof} proofFlags are false but the proof "
            f"has only {len(proof)} nodes"
        )
    if len(leaves) + len(proof) != len(flags) + 1:
        raise MerkleInputError(
            f"invalid multiproof: {len(leaves)} leaves + {len(proof)} proof nodes must be "
            f"{len(flags)} proofFlags + 1"
        )
    queue = deque(leaves)
    pending = deque(proof)
    for step, flag in enumerate(flags):
        if not queue or (flag and len(queue) < 2):
            # Given the checks above, only flags out of order get here.
            raise MerkleInputError(
                f"invalid multiproof: proofFlags[{step}] needs a node the queue does not hold yet"
            )
        a = queue.popleft()
        b = queue.popleft() if flag else pending.popleft()
        queue.append(_hash_pair(a, b))
    return queue.pop() if queue else pending.popleft()


def _gt_rows(left: Nodes, right: Nodes) -> npt.NDArray[np.bool_]:
    """Whether each 32-byte row of ``left`` is greater than ``right``'s, as unsigned numbers."""
    a = np.ascontiguousarray(left).view(">u8")
    b = np.ascontiguousarray(right).view(">u8")
    greater = a[:, 3] > b[:, 3]
    for column in (2, 1, 0):
        greater = (a[:, column] > b[:, column]) | ((a[:, column] == b[:, column]) & greater)
    return greater


def _hash_pairs(left: Nodes, right: Nodes) -> Nodes:
    """``node(left[i], right[i])`` for every row."""
    swap = _gt_rows(left, right)[:, None]
    pairs = np.concatenate((np.where(swap, right, left), np.where(swap, left, right)), axis=1)
    digests = keccak256_each(pairs.tobytes(), 64)
    return np.frombuffer(digests, dtype=np.uint8).reshape(-1, 32)


def _fill_internal_nodes(nodes: Nodes) -> None:
    """Hash the internal nodes of ``nodes`` (``2n - 1`` rows, the last ``n`` the leaves).

    Level by level from the deepest: within a level the nodes are a contiguous range and
    so are their children, so a level is one vectorised step.
    """
    last_internal = (len(nodes) + 1) // 2 - 2
    level = (last_internal + 1).bit_length() - 1
    while level >= 0:
        low = (1 << level) - 1
        high = min((1 << (level + 1)) - 2, last_internal)
        nodes[low : high + 1] = _hash_pairs(
            nodes[2 * low + 1 : 2 * high + 2 : 2], nodes[2 * low + 2 : 2 * high + 3 : 2]
        )
        level -= 1


def _sibling(index: int) -> int:
    return index + 1 if index & 1 else index - 1


def _as_index(leaf: object) -> int | None:
    """``leaf`` as a value index when it is an integer (not a bool), else ``None``."""
    if isinstance(leaf, bool):
        return None
    if isinstance(leaf, (int, np.integer)):
        return int(leaf)
    return None


class StandardMerkleTree:
    """A Merkle tree of ABI-encoded values, compatible with OpenZeppelin's JS library.

    Build one with :meth:`of` or :meth:`load`; the constructor is internal. Values are
    kept in their canonical form (integers as ``int``, bytes as ``bytes``; see
    :mod:`ame_chain._abi_fast`) and numbered in the order given, which is also the order
    of :meth:`dump`'s ``values`` and of iteration.
    """

    def __init__(
        self,
        codec: LeafCodec,
        leaf_encoding: Sequence[str],
        tree: bytes,
        values: list[tuple[Any, ...]],
        tree_index: npt.NDArray[np.int64],
        raw_values: list[Json] | None = None,
    ) -> None:
        self._codec = codec
        self._leaf_encoding = list(leaf_encoding)
        self._tree = tree
        self._values = values
        self._tree_index = tree_index
        self._tree_index_list: list[int] = tree_index.tolist()
        self._raw_values = raw_values
        self._hex: list[str] | None = None
        self._lookup: dict[bytes, int] | None = None
        self._value_at: npt.NDArray[np.int64] | None = None
        # Internal nodes get_proof has checked against their children (one byte each).
        self._checked: bytearray | None = None

    # -- construction -------------------------------------------------------------------

    @classmethod
    def of(
        cls,
        values: Sequence[Sequence[Any]],
        leaf_encoding: Sequence[str],
        *,
        sort_leaves: bool = True,
    ) -> StandardMerkleTree:
        """Build the tree of ``values``.

        Args:
            values: The leaf values, each a list or tuple with one field per type.
                Duplicates are allowed (each gets its own leaf), as in the JS library.
            leaf_encoding: Solidity types of the fields, e.g. ``["address", "uint256"]``.
            sort_leaves: Sort the leaves by hash (the default, and the JS default);
                multiproofs verify on-chain only for sorted trees.

        Returns:
            The tree; ``tree.root`` is what a contract stores.

        Raises:
            MerkleInputError: If there are no values, the encoding is not a list of
                supported types, or a value does not fit it (the message names it).
        """
        codec = LeafCodec(leaf_encoding)
        if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
            raise MerkleInputError(
                f"values: expected a list of leaf values, got {type(values).__name__}"
            )
        if len(values) == 0:
            raise MerkleInputError("values: expected at least one value, got none")
        with _gc_paused():
            canonical, hashes = _hash_values(codec, values, lambda i: f"values[{i}]")
            count = len(canonical)
            digests = np.frombuffer(hashes, dtype=np.uint8).reshape(count, 32)
            if sort_leaves:
                words = digests.view(">u8")
                # lexsort is stable, as JS's Array.prototype.sort: equal hashes keep their order.
                order = np.lexsort((words[:, 3], words[:, 2], words[:, 1], words[:, 0]))
            else:
                order = np.arange(count)
            size = 2 * count - 1
            nodes = np.empty((size, 32), dtype=np.uint8)
            nodes[count - 1 :] = digests[order[::-1]]
            _fill_internal_nodes(nodes)
            tree_index = np.empty(count, dtype=np.int64)
            tree_index[order] = size - 1 - np.arange(count)
        return cls(codec, codec.types, nodes.tobytes(), canonical, tree_index)

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Rebuild a tree from a ``standard-v1`` dump (:meth:`dump`, or the JS ``dump()``).

        Every field is checked before the tree is used: the format, the leaf encoding,
        each node's form, each value against its leaf, each internal node against its
        children. Stricter than the JS library, the dump must hold exactly one value per
        leaf, so a dump cannot hide leaves its values do not show.

        Args:
            data: The dump, as parsed from JSON.

        Returns:
            The tree; its :meth:`dump` returns the values exactly as they were loaded.

        Raises:
            MerkleInputError: Naming the malformed field (``dump field 'tree[3]'``).
        """
        if not isinstance(data, Mapping):
            raise MerkleInputError(
                f"dump: expected a mapping with format, leafEncoding, tree and values; "
                f"got {type(data).__name__}"
            )
        for key in ("format", "leafEncoding", "tree", "values"):
            if key not in data:
                raise MerkleInputError(f"dump field '{key}': missing")
        if data["format"] != FORMAT:
            raise MerkleInputError(
                f"dump field 'format': expected {FORMAT!r}, got {show_value(data['format'])}"
            )
        codec = LeafCodec(data["leafEncoding"], "dump field 'leafEncoding'")
        entries = data["values"]
        if not isinstance(entries, list) or not entries:
            raise MerkleInputError(
                f"dump field 'values': expected a non-empty list, got {show_value(entries)}"
            )
        count = len(entries)
        nodes = _parse_tree(data["tree"], 2 * count - 1)
        raw_values, tree_index = _parse_entries(entries, count)
        with _gc_paused():
            canonical, hashes = _hash_values(
                codec, raw_values, lambda i: f"dump field 'values[{i}].value'"
            )
        leaves = np.frombuffer(hashes, dtype=np.uint8).reshape(count, 32)
        mismatched = np.flatnonzero((leaves != nodes[tree_index]).any(axis=1))
        if mismatched.size:
            i = int(mismatched[0])
            raise MerkleInputError(
                f"dump field 'values[{i}]': the value hashes to 0x{leaves[i].tobytes().hex()}, "
                f"but tree[{tree_index[i]}] is 0x{nodes[tree_index[i]].tobytes().hex()}"
            )
        _check_internal_nodes(nodes)
        raw = [_copy_json(value) for value in raw_values]
        return cls(codec, codec.types, nodes.tobytes(), canonical, tree_index, raw)

    # -- reading ------------------------------------------------------------------------

    @property
    def root(self) -> str:
        """The root as ``0x`` and 64 lowercase hex digits."""
        return self._node_hex(0)

    @property
    def leaf_encoding(self) -> list[str]:
        """The Solidity types of a leaf's fields, as given."""
        return list(self._leaf_encoding)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """``(index, value)`` pairs in value order, like the JS ``entries()``."""
        return iter(enumerate(self._values))

    def __repr__(self) -> str:
        return (
            f"StandardMerkleTree(root={self.root}, values={len(self)}, "
            f"leaf_encoding={self._leaf_encoding!r})"
        )

    def at(self, index: int) -> tuple[Any, ...] | None:
        """The value at ``index`` (negative counts from the end), or ``None`` (JS ``at``)."""
        try:
            return self._values[index]
        except IndexError:
            return None

    def leaf_hash(self, value: Sequence[Any]) -> str:
        """The leaf hash of ``value`` as ``0x`` hex, whether or not it is in the tree.

        Raises:
            MerkleInputError: If ``value`` does not fit the leaf encoding.
        """
        return "0x" + self._leaf_of_value(value, "value").hex()

    def leaf_lookup(self, value: Sequence[Any] | object) -> int:
        """The index of ``value`` (the last one, if it occurs more than once).

        Raises:
            MerkleInputError: If ``value`` is not in the tree or does not fit the encoding.
        """
        leaf = self._leaf_of_value(value, "value")
        if self._lookup is None:
            tree = self._tree
            self._lookup = {
                tree[32 * t : 32 * t + 32]: v for v, t in enumerate(self._tree_index_list)
            }
        index = self._lookup.get(leaf)
        if index is None:
            raise MerkleInputError(f"value {value!r} is not in the tree (leaf 0x{leaf.hex()})")
        return index

    # -- proofs -------------------------------------------------------------------------

    def get_proof(self, leaf: int | Sequence[Any]) -> list[str]:
        """The proof of one value: sibling nodes from the leaf up, as ``0x`` hex.

        Like the JS library, the proof is checked before it is returned, but each
        internal node is hashed from its children once per tree, not once per proof: the
        walk up from the leaf stops at the first node an earlier proof already checked
        (its path to the root held, and the nodes are immutable bytes). Proving every
        leaf thus costs ``n - 1`` pair hashes in all, as one :meth:`validate` of the
        internal nodes, instead of ``n log n``. For every value at once,
        :meth:`get_all_proofs` is faster still.

        Args:
            leaf: A value index, or a value in the tree.

        Raises:
            MerkleInputError: If the index is out of range or the value not in the tree.
            MerkleError: If the proof does not verify (the tree is corrupted).
        """
        index = self._value_index(leaf, "leaf")
        node = self._tree_index_list[index]
        siblings = []
        while node > 0:
            siblings.append(_sibling(node))
            node = (node - 1) >> 1
        self._check_path(index, self._tree_index_list[index])
        hex_nodes = self._hex
        if hex_nodes is not None:
            return [hex_nodes[s] for s in siblings]
        return [self._node_hex(s) for s in siblings]

    def _check_path(self, index: int, node: int) -> None:
        """Check each node from ``node`` up to the first one already checked.

        Raises:
            MerkleError: A node on the way is not the hash of its children.
        """
        checked = self._checked
        if checked is None:
            checked = self._checked = bytearray(max(1, len(self._values) - 1))
        tree = self._tree
        while node > 0:
            parent = (node - 1) >> 1
            if checked[parent]:
                return
            left = tree[64 * parent + 32 : 64 * parent + 64]
            right = tree[64 * parent + 64 : 64 * parent + 96]
            if _hash_pair(left, right) != tree[32 * parent : 32 * parent + 32]:
                raise MerkleError(f"unable to prove value {index}: the tree is corrupted")
            checked[parent] = 1
            node = parent

    def get_all_proofs(self) -> list[list[str]]:
        """The proof of every value, in value order: ``get_proof(i)`` for each ``i``.

        Each proof is its parent node's proof with one sibling in front, so all proofs
        cost one list per node instead of a walk per leaf; the hex strings are shared
        between proofs. For a million leaves: about 2 s and 500 MB.
        """
        hex_nodes = self._hex_nodes()
        count = len(self._values)
        by_tree: list[list[str] | None] = [None] * len(hex_nodes)
        first_leaf = count - 1
        with _gc_paused():
            level: list[list[str]] = [[]]
            low = 0
            if count == 1:
                by_tree[0] = []
            while low < first_leaf:
                internal = min(len(level), first_leaf - low)
                child = 2 * low + 1
                next_level: list[list[str]] = []
                append = next_level.append
                for parent_proof in level[:internal]:
                    append([hex_nodes[child + 1], *parent_proof])
                    append([hex_nodes[child], *parent_proof])
                    child += 2
                low = 2 * low + 1
                start = max(first_leaf, low)
                by_tree[start : low + len(next_level)] = next_level[start - low :]
                level = next_level
            return [by_tree[t] or [] for t in self._tree_index_list]

    def proofs_json(self, leaves: Sequence[int]) -> list[str]:
        """The proofs of the values ``leaves`` (indices), each as the inside of a JSON array.

        ``proofs_json([i])[0]`` is ``",".join(f'"{node}"' for node in get_proof(i))``: the
        form a proofs file writes, made for many leaves at once. The sibling nodes of a
        batch are gathered and hex-encoded in a few array operations instead of a Python
        walk and a hex string per node (a million proofs: 40 s -> a few seconds). Like
        :meth:`get_proof`, it checks what it returns: on first use every internal node is
        checked against its children in one vectorised pass, as :meth:`get_proof`'s walks
        would have one by one.

        Args:
            leaves: Value indices.

        Raises:
            MerkleInputError: If an index is out of range.
            MerkleError: If the tree is corrupted.
        """
        count = len(self._values)
        if not leaves:
            return []
        index = np.asarray(leaves, dtype=np.int64)
        if index.min() < 0 or index.max() >= count:
            bad = next(int(i) for i in index if not 0 <= i < count)
            raise MerkleInputError(
                f"leaves: index {bad} is out of range for a tree of {count} values"
            )
        self._check_all_nodes()
        nodes = np.frombuffer(self._tree, dtype=np.uint8).reshape(-1, 32)
        node = self._tree_index[index]
        # A node's depth is floor(log2(node + 1)); in a complete tree leaves sit at two depths.
        depth = np.frexp(node + 1)[1].astype(np.int64) - 1  # exact for integers below 2^53
        out: list[str] = [""] * len(index)
        for d in np.unique(depth).tolist():
            rows = np.flatnonzero(depth == d)
            if d == 0:
                continue  # the root is the only leaf: an empty proof
            at = node[rows]
            siblings = np.empty((len(rows), d), dtype=np.int64)
            for level in range(d):
                siblings[:, level] = np.where(at & 1, at + 1, at - 1)
                at = (at - 1) >> 1
            # '0x' + hex of each node, joined by '","': one C call for the whole batch.
            joined = nodes[siblings].tobytes().hex("|", 32).replace("|", '","0x')
            width = d * _HEX_NODE_JSON
            for k, row in enumerate(rows.tolist()):
                out[row] = '"0x' + joined[k * width : (k + 1) * width - 5] + '"'
        return out

    def _check_all_nodes(self) -> None:
        """Check every internal node against its children once; then all paths are checked."""
        checked = self._checked
        if checked is not None and checked.count(0) == 0:
            return
        nodes = np.frombuffer(self._tree, dtype=np.uint8).reshape(-1, 32)
        try:
            _check_internal_nodes(nodes)
        except MerkleInputError as err:
            raise MerkleError(f"the tree is corrupted: {err}") from err
        self._checked = bytearray(b"\x01") * max(1, len(self._values) - 1)

    def get_multi_proof(self, leaves: Sequence[int | Sequence[Any]]) -> MultiProof:
        """A proof of several values at once, the JS ``getMultiProof``.

        Args:
            leaves: Value indices or values in the tree, each at most once.

        Returns:
            The values in the order the proof consumes them (deepest first), the proof
            nodes and the flags; :meth:`verify_multi_proof` and OpenZeppelin's
            ``MerkleProof.multiProofVerify`` accept it.

        Raises:
            MerkleInputError: If an index is out of range, a value not in the tree, or
                a value given twice.
            MerkleError: If the multiproof does not verify (the tree is corrupted).
        """
        if not isinstance(leaves, (list, tuple)):
            raise MerkleInputError(
                f"leaves: expected a list of indices or values, got {type(leaves).__name__}"
            )
        indices = [self._value_index(leaf, f"leaves[{i}]") for i, leaf in enumerate(leaves)]
        nodes = sorted((self._tree_index_list[i] for i in indices), reverse=True)
        for a, b in itertools.pairwise(nodes):
            if a == b:
                raise MerkleInputError(
                    f"leaves: value {self._value_at_node(a)} is given more than once"
                )
        queue = deque(nodes)
        proof: list[int] = []
        flags: list[bool] = []
        while queue and queue[0] > 0:
            node = queue.popleft()
            sibling = _sibling(node)
            if queue and queue[0] == sibling:
                flags.append(True)
                queue.popleft()
            else:
                flags.append(False)
                proof.append(sibling)
            queue.append((node - 1) >> 1)
        if not nodes:
            proof.append(0)
        root = _process_multi_proof(
            [self._node(n) for n in nodes], [self._node(p) for p in proof], flags
        )
        if root != self._node(0):
            raise MerkleError("unable to prove values: the tree is corrupted")
        return {
            "leaves": [self._values[self._value_at_node(n)] for n in nodes],
            "proof": [self._node_hex(p) for p in proof],
            "proofFlags": flags,
        }

    # -- verification -------------------------------------------------------------------

    def verify(self, leaf: int | Sequence[Any], proof: Sequence[str | bytes]) -> bool:
        """Whether ``proof`` proves ``leaf`` (an index or a value) against this root.

        Raises:
            MerkleInputError: If the index is out of range, the value does not fit the
                encoding, or a proof node is not 32 bytes.
        """
        if _as_index(leaf) is None:
            hashed = self._leaf_of_value(leaf, "leaf")
        else:
            hashed = self._node(self._tree_index_list[self._value_index(leaf, "leaf")])
        return _process_proof(hashed, _node_list(proof, "proof")) == self._node(0)

    def verify_multi_proof(self, multiproof: Mapping[str, Any]) -> bool:
        """Whether ``multiproof`` (``leaves`` as indices or values) proves its leaves.

        Raises:
            MerkleInputError: If the multiproof is malformed (see :meth:`verify_multi_proof_against`).
        """
        leaves, proof, flags = _unpack_multi_proof(multiproof)
        hashed = [
            self._node(self._tree_index_list[self._value_index(leaf, f"leaves[{i}]")])
            if _as_index(leaf) is not None
            else self._leaf_of_value(leaf, f"leaves[{i}]")
            for i, leaf in enumerate(leaves)
        ]
        return _process_multi_proof(hashed, proof, flags) == self._node(0)

    @staticmethod
    def verify_proof(
        root: str | bytes,
        leaf_encoding: Sequence[str],
        value: Sequence[Any],
        proof: Sequence[str | bytes],
    ) -> bool:
        """Whether ``proof`` proves ``value`` against ``root``, without a tree (JS ``verify``).

        This is what OpenZeppelin's ``MerkleProof.verify`` checks on-chain for the leaf
        ``keccak256(bytes.concat(keccak256(abi.encode(...))))``.

        Raises:
            MerkleInputError: If the root or a proof node is not 32 bytes, or the value
                does not fit the encoding.
        """
        expected = _node_bytes(root, "root")
        leaf = _leaf_hash(LeafCodec(leaf_encoding), value, "value")
        return _process_proof(leaf, _node_list(proof, "proof")) == expected

    @staticmethod
    def verify_multi_proof_against(
        root: str | bytes, leaf_encoding: Sequence[str], multiproof: Mapping[str, Any]
    ) -> bool:
        """Whether ``multiproof`` (``leaves`` as values) proves its leaves against ``root``.

        The JS static ``verifyMultiProof``; OpenZeppelin's ``MerkleProof.multiProofVerify``.

        Raises:
            MerkleInputError: If a field is missing or malformed, or the numbers of
                leaves, proof nodes and flags do not fit together
                (``leaves + proof == proofFlags + 1``).
        """
        expected = _node_bytes(root, "root")
        codec = LeafCodec(leaf_encoding)
        leaves, proof, flags = _unpack_multi_proof(multiproof)
        hashed = [_leaf_hash(codec, leaf, f"leaves[{i}]") for i, leaf in enumerate(leaves)]
        return _process_multi_proof(hashed, proof, flags) == expected

    # -- writing ------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The ``standard-v1`` dump, field for field the JS ``dump()``.

        Integers are decimal strings and bytes ``0x`` hex (the forms the JS library's
        dumps hold, since ``JSON.stringify`` cannot write a ``bigint``); a loaded tree
        dumps its values exactly as they were loaded.
        """
        with _gc_paused():
            if self._raw_values is not None:
                json_values = [_copy_json(value) for value in self._raw_values]
            else:
                json_values = self._codec.to_json_rows(self._values)
            return {
                "format": FORMAT,
                "leafEncoding": list(self._leaf_encoding),
                "tree": list(self._hex_nodes()),
                "values": [
                    {"value": value, "treeIndex": index}
                    for value, index in zip(json_values, self._tree_index_list, strict=True)
                ],
            }

    def render(self) -> str:
        """The tree drawn as text, node by node, as the JS ``render()`` draws it."""
        size = len(self._tree) // 32
        lines = []
        stack: list[tuple[int, list[int]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            indent = "".join("│  " if p else "   " for p in path[:-1])
            branch = "".join("├─ " if p else "└─ " for p in path[-1:])
            lines.append(f"{indent}{branch}{node}) {self._node_hex(node)}")
            if 2 * node + 2 < size:
                stack.append((2 * node + 2, [*path, 0]))
                stack.append((2 * node + 1, [*path, 1]))
        return "\n".join(lines)

    def validate(self) -> None:
        """Recheck every leaf against its value and every internal node against its children.

        Raises:
            MerkleError: If the tree is inconsistent.
        """
        count = len(self._values)
        nodes = np.frombuffer(self._tree, dtype=np.uint8).reshape(-1, 32)
        codec = self._codec
        with _gc_paused():
            _, hashes = _hash_values(codec, self._values, lambda i: f"values[{i}]")
        leaves = np.frombuffer(hashes, dtype=np.uint8).reshape(count, 32)
        if (leaves != nodes[self._tree_index]).any():
            raise MerkleError("the tree does not contain the expected values")
        try:
            _check_internal_nodes(nodes)
        except MerkleInputError as err:
            raise MerkleError(f"the tree is invalid: {err}") from err

    # -- internals ----------------------------------------------------------------------

    def _node(self, index: int) -> bytes:
        return self._tree[32 * index : 32 * index + 32]

    def _node_hex(self, index: int) -> str:
        if self._hex is not None:
            return self._hex[index]
        return "0x" + self._tree[32 * index : 32 * index + 32].hex()

    def _hex_nodes(self) -> list[str]:
        if self._hex is None:
            text = self._tree.hex()
            with _gc_paused():
                self._hex = ["0x" + text[i : i + 64] for i in range(0, len(text), 64)]
        return self._hex

    def _value_at_node(self, node: int) -> int:
        if self._value_at is None:
            value_at = np.full(len(self._tree) // 32, -1, dtype=np.int64)
            value_at[self._tree_index] = np.arange(len(self._values))
            self._value_at = value_at
        return int(self._value_at[node])

    def _leaf_of_value(self, value: object, where: str) -> bytes:
        return _leaf_hash(self._codec, value, where)

    def _value_index(self, leaf: object, where: str) -> int:
        index = _as_index(leaf)
        if index is None:
            return self.leaf_lookup(leaf)
        if not 0 <= index < len(self._values):
            raise MerkleInputError(
                f"{where}: index {index} is out of range for a tree of {len(self._values)} values"
            )
        return index


def _leaf_hash(codec: LeafCodec, value: object, where: str) -> bytes:
    _, encoded = codec.encode_one(value, where)
    return keccak256(keccak256(encoded))


def _hash_values(
    codec: LeafCodec, values: Sequence[object], label: Callable[[int], str]
) -> tuple[list[tuple[Any, ...]], bytes]:
    """Canonical values and their leaf hashes, end to end, batch by batch."""
    canonical: list[tuple[Any, ...]] = []
    hashes: list[bytes] = []
    for start in range(0, len(values), _BATCH):
        batch = values[start : start + _BATCH]
        batch_values, encoded = codec.encode_rows(batch, _offset_label(label, start))
        canonical.extend(batch_values)
        if isinstance(encoded, bytes):
            assert codec.word_size is not None
            hashes.append(leaf_hash_each(encoded, codec.word_size))
        else:
            hashes.append(leaf_hash_list(encoded))
    return canonical, b"".join(hashes)


def _offset_label(label: Callable[[int], str], offset: int) -> Callable[[int], str]:
    return lambda i: label(offset + i)


def _unpack_multi_proof(multiproof: object) -> tuple[list[Any], list[bytes], list[bool]]:
    if not isinstance(multiproof, Mapping):
        raise MerkleInputError(
            f"multiproof: expected a mapping with leaves, proof and proofFlags, "
            f"got {type(multiproof).__name__}"
        )
    for key in ("leaves", "proof", "proofFlags"):
        if key not in multiproof:
            raise MerkleInputError(f"multiproof field '{key}': missing")
    leaves = multiproof["leaves"]
    if not isinstance(leaves, (list, tuple)):
        raise MerkleInputError(
            f"multiproof field 'leaves': expected a list, got {type(leaves).__name__}"
        )
    flags = multiproof["proofFlags"]
    if not isinstance(flags, (list, tuple)) or not all(isinstance(f, bool) for f in flags):
        raise MerkleInputError(
            f"multiproof field 'proofFlags': expected a list of bools, got {show_value(flags)}"
        )
    return list(leaves), _node_list(multiproof["proof"], "multiproof field 'proof'"), list(flags)


def _parse_tree(tree: object, size: int) -> Nodes:
    """The nodes of a dump's ``tree`` field, which must hold ``size`` lowercase hex nodes."""
    if not isinstance(tree, list):
        raise MerkleInputError(
            f"dump field 'tree': expected a list of 0x hex nodes, got {type(tree).__name__}"
        )
    if len(tree) != size:
        raise MerkleInputError(
            f"dump field 'tree': {len(tree)} nodes, but {size} expected for "
            f"{(size + 1) // 2} values (one leaf per value)"
        )
    if set(map(type, tree)) == {str} and set(map(len, tree)) == {66}:
        text = "".join(tree)
        if text.isascii():
            chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(size, 66)
            digits = chars[:, 2:]
            lowercase_hex = ((digits >= ord("0")) & (digits <= ord("9"))) | (
                (digits >= ord("a")) & (digits <= ord("f"))
            )
            if (
                (chars[:, 0] == ord("0")).all()
                and (chars[:, 1] == ord("x")).all()
                and lowercase_hex.all()
            ):
                return np.frombuffer(bytes.fromhex(text.replace("0x", "")), dtype=np.uint8).reshape(
                    size, 32
                )
    for i, node in enumerate(tree):
        if not (isinstance(node, str) and re.fullmatch(r"0x[0-9a-f]{64}", node)):
            raise MerkleInputError(
                f"dump field 'tree[{i}]': expected 0x and 64 lowercase hex digits, got {show_value(node)}"
            )
    raise AssertionError("unreachable: every node was valid")  # pragma: no cover


def _parse_entries(entries: list[Any], count: int) -> tuple[list[Json], npt.NDArray[np.int64]]:
    """The values and tree indices of a dump's ``values`` field."""
    raw_values: list[Json] = []
    indices: list[int] = []
    for i, entry in enumerate(entries):
        where = f"dump field 'values[{i}]'"
        if not isinstance(entry, Mapping) or "value" not in entry or "treeIndex" not in entry:
            raise MerkleInputError(
                f"{where}: expected {{'value': [...], 'treeIndex': n}}, got {show_value(entry)}"
            )
        index = entry["treeIndex"]
        if not isinstance(index, int) or isinstance(index, bool):
            raise MerkleInputError(f"{where}.treeIndex: expected an int, got {show_value(index)}")
        if not count - 1 <= index <= 2 * count - 2:
            raise MerkleInputError(
                f"{where}.treeIndex: {index} is not a leaf; leaves are {count - 1}..{2 * count - 2}"
            )
        raw_values.append(entry["value"])
        indices.append(index)
    tree_index = np.array(indices, dtype=np.int64)
    taken = np.bincount(tree_index - (count - 1), minlength=count)
    if (taken > 1).any():
        first_by_leaf: dict[int, int] = {}
        for i, index in enumerate(indices):
            if index in first_by_leaf:
                raise MerkleInputError(
                    f"dump field 'values[{i}].treeIndex': leaf {index} is already taken by "
                    f"values[{first_by_leaf[index]}]"
                )
            first_by_leaf[index] = i
    return raw_values, tree_index


def _check_internal_nodes(nodes: Nodes) -> None:
    """Raise naming the first internal node that is not the hash of its children."""
    expected = nodes.copy()
    _fill_internal_nodes(expected)
    wrong = np.flatnonzero((expected != nodes).any(axis=1))
    if wrong.size:
        i = int(wrong[0])
        raise MerkleInputError(
            f"dump field 'tree[{i}]': 0x{nodes[i].tobytes().hex()} is not the hash of its "
            f"children tree[{2 * i + 1}] and tree[{2 * i + 2}] (expected "
            f"0x{expected[i].tobytes().hex()})"
        )


def _copy_json(value: Json) -> Json:
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    return value
