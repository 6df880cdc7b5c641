// Never trust a published file: everything the page offers to claim is checked here
// against what the chain committed to (the manifest's keccak256, the proofs file's
// SHA-256 in the manifest, or for a large epoch the index's root and leaf count and the
// shard's SHA-256 in the index, the proof against the on-chain root). Pure functions, so the
// checks read the same as docs/manifest.md ("Proofs file").
import { concat, encodeAbiParameters, getAddress, isAddress, isHex, keccak256 } from "viem";

/**
 * The largest published file the page reads (a hostile URI could point at anything).
 * A proofs file takes about 1 KB a contributor (825 KB for 1,000, 10.6 MB for 10,000),
 * so 64 MiB reads epochs of some 60,000 contributors.
 */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** How long one published file may take to arrive. */
export const FETCH_TIMEOUT_MS = 15_000;

export const HEADER_TUPLE = {
  type: "tuple",
  components: [
    { name: "epoch", type: "uint256" },
    { name: "root", type: "bytes32" },
    { name: "token", type: "address" },
    { name: "pool", type: "uint256" },
    { name: "leafCount", type: "uint256" },
    { name: "challengeEnd", type: "uint256" },
    { name: "operator", type: "address" },
    { name: "bond", type: "uint256" },
    { name: "manifestHash", type: "bytes32" },
  ],
};

const LEAF_ENCODING = ["uint256", "address", "uint256", "uint256", "address", "uint256", "uint256"];

/** keccak256(abi.encode(header)): what the contract stores as the epoch's commitment. */
export function headerCommitment(header) {
  return keccak256(encodeAbiParameters([HEADER_TUPLE], [header]));
}

/** OpenZeppelin's standard leaf: keccak256(keccak256(abi.encode(...))) over AME's leaf encoding. */
export function leafHash(chainId, settlement, epoch, leaf) {
  const inner = keccak256(
    encodeAbiParameters(
      LEAF_ENCODING.map((type) => ({ type })),
      [BigInt(chainId), settlement, epoch, leaf.index, leaf.account, leaf.amount, leaf.amountBefore],
    ),
  );
  return keccak256(inner);
}

/** MerkleProof.verify: sorted-pair hashing from the leaf up; true when it reaches root. */
export function proofReachesRoot(leaf, proof, root) {
  let node = leaf;
  for (const sibling of proof) {
    const [a, b] = BigInt(node) <= BigInt(sibling) ? [node, sibling] : [sibling, node];
    node = keccak256(concat([a, b]));
  }
  return node.toLowerCase() === root.toLowerCase();
}

/** SHA-256 of bytes as lower-case hex without 0x (the manifest's `proofs.sha256` form). */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A published file's bytes, at most MAX_FILE_BYTES, within FETCH_TIMEOUT_MS.
 * @throws {Error} naming the URI and what went wrong.
 */
export async function fetchBounded(uri, fetcher = fetch) {
  let url;
  try {
    url = new URL(uri, document.baseURI);
  } catch {
    throw new Error(`${short(uri)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`${short(uri)}: a browser reads only http(s) URIs (serve the publish directory)`);
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetcher(url, { signal: abort.signal, cache: "no-store" });
    if (!response.ok) throw new Error(`${short(uri)}: HTTP ${response.status}`);
    const reader = response.body.getReader();
    const chunks = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_FILE_BYTES) {
        abort.abort();
        throw new Error(`${short(uri)}: larger than ${MAX_FILE_BYTES} bytes`);
      }
      chunks.push(value);
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  } catch (err) {
    if (err.name === "AbortError") throw new Error(`${short(uri)}: no answer in ${FETCH_TIMEOUT_MS / 1000} s`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** `name` of a sibling file, resolved beside the manifest's URI (as `sibling_uri` does). */
export function siblingUri(manifestUri, name) {
  if (typeof name !== "string" || !/^[A-Za-z0-9._-]{1,100}$/.test(name) || name.startsWith(".")) {
    throw new Error(`the manifest's proofs.uri ${short(name)} is not a bare file name`);
  }
  return new URL(name, manifestUri).href;
}

/** JSON of published bytes, or an Error naming the source. */
export function parseJson(bytes, source) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new Error(`${short(source)} is not JSON: ${err.message}`);
  }
}

function uint(value, where) {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === "string" && /^[0-9]{1,78}$/.test(value)) return BigInt(value);
  throw new Error(`${where}: expected a non-negative integer, got ${short(JSON.stringify(value))}`);
}

/**
 * The leaf and proof the proofs file gives `account`, checked against the chain.
 *
 * @returns {{leaf, proof} | null} null when the file has no entry for the account.
 * @throws {Error} when the file does not belong to this epoch or the proof misses the root.
 */
export function checkedClaim(doc, { chainId, settlement, header, account }) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error("proofs file: not an object");
  if (doc.format !== "ame.proofs/1") throw new Error(`proofs file: format ${short(JSON.stringify(doc.format))}, expected ame.proofs/1`);
  if (uint(doc.chainId, "proofs file chainId") !== BigInt(chainId)) throw new Error("proofs file: chainId is not this chain's");
  if (typeof doc.settlement !== "string" || doc.settlement.toLowerCase() !== settlement.toLowerCase()) {
    throw new Error("proofs file: settlement is not this contract");
  }
  if (uint(doc.epoch, "proofs file epoch") !== header.epoch) throw new Error("proofs file: epoch is not this epoch");
  const claims = doc.claims;
  if (claims === null || typeof claims !== "object" || Array.isArray(claims)) throw new Error("proofs file: claims is not an object");
  const key = Object.keys(claims).find((k) => isAddress(k, { strict: false }) && getAddress(k) === account);
  if (key === undefined) return null;
  const entry = claims[key];
  const where = `proofs file claims.${account}`;
  if (entry === null || typeof entry !== "object") throw new Error(`${where}: not an object`);
  const leaf = {
    index: uint(entry.index, `${where}.index`),
    account,
    amount: uint(entry.amount, `${where}.amount`),
    amountBefore: uint(entry.amountBefore, `${where}.amountBefore`),
  };
  if (!Array.isArray(entry.proof) || entry.proof.length > 256) throw new Error(`${where}.proof: not a list of at most 256 nodes`);
  const proof = entry.proof.map((node, i) => {
    if (!isHex(node, { strict: true }) || node.length !== 66) throw new Error(`${where}.proof[${i}]: not a 32-byte hex node`);
    return node;
  });
  if (!proofReachesRoot(leafHash(chainId, settlement, header.epoch, leaf), proof, header.root)) {
    throw new Error(`${where}: the proof does not lead to the on-chain root ${header.root}`);
  }
  return { leaf, proof };
}

/**
 * An epoch of more leaves than this publishes its proofs in shards of consecutive
 * accounts (docs/manifest.md); ame/workflow/_proof_shards.py's SHARD_THRESHOLD, pinned
 * equal by tests/web/test_shards.py. The on-chain leafCount decides, so the page knows
 * which file to read before reading any.
 */
export const SHARD_THRESHOLD = 16_384;
/** The index's name beside the manifest. */
export const INDEX_NAME = "proofs-index.json";

/** Whether an epoch of `leafCount` leaves publishes shards. */
export function sharded(leafCount) {
  return BigInt(leafCount) > BigInt(SHARD_THRESHOLD);
}

/**
 * The shard of `account` that an `ame.proofs-index/1` document names, checked against the
 * chain: the index must be this chain's, contract's and epoch's, with the on-chain root and
 * leaf count (the manifest, hundreds of megabytes at such sizes, is not read; each proof is
 * still checked against the on-chain root).
 *
 * @returns {{uri: string, sha256: string} | null} null when the account comes before the
 *   first shard's first account: the epoch has no leaf of it.
 * @throws {Error} when the index does not belong to this epoch or is malformed.
 */
export function shardOf(doc, { chainId, settlement, header, account }) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error("proofs index: not an object");
  if (doc.format !== "ame.proofs-index/1") {
    throw new Error(`proofs index: format ${short(JSON.stringify(doc.format))}, expected ame.proofs-index/1`);
  }
  if (uint(doc.chainId, "proofs index chainId") !== BigInt(chainId)) throw new Error("proofs index: chainId is not this chain's");
  if (typeof doc.settlement !== "string" || doc.settlement.toLowerCase() !== settlement.toLowerCase()) {
    throw new Error("proofs index: settlement is not this contract");
  }
  if (uint(doc.epoch, "proofs index epoch") !== header.epoch) throw new Error("proofs index: epoch is not this epoch");
  if (typeof doc.merkleRoot !== "string" || doc.merkleRoot.toLowerCase() !== header.root.toLowerCase()) {
    throw new Error(`proofs index: merkleRoot is not the on-chain root ${header.root}`);
  }
  if (uint(doc.leafCount, "proofs index leafCount") !== BigInt(header.leafCount)) {
    throw new Error("proofs index: leafCount is not the on-chain leaf count");
  }
  const shards = doc.shards;
  if (!Array.isArray(shards)) throw new Error("proofs index: shards is not a list");
  // The last shard whose first account is at or below this one holds its claim, if any.
  const me = account.toLowerCase();
  let found = null;
  for (const [i, entry] of shards.entries()) {
    const where = `proofs index shards[${i}]`;
    if (entry === null || typeof entry !== "object") throw new Error(`${where}: not an object`);
    if (typeof entry.first !== "string" || !/^0x[0-9a-f]{40}$/.test(entry.first)) throw new Error(`${where}.first: not a lower-case address`);
    if (i > 0 && entry.first <= shards[i - 1].first) throw new Error(`${where}.first: not after the shard before`);
    if (entry.first > me) break;
    if (typeof entry.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(entry.sha256)) throw new Error(`${where}.sha256: not 64 hex digits`);
    if (typeof entry.uri !== "string") throw new Error(`${where}.uri: not a file name`);
    found = { uri: entry.uri, sha256: entry.sha256 };
  }
  return found;
}

/** The names the published registry gives `account` (people only: never needed to claim). */
export function registryNames(doc, account) {
  const names = new Set();
  const assets = doc && Array.isArray(doc.assets) ? doc.assets : [];
  for (const asset of assets.slice(0, 1_000_000)) {
    const owners = asset && Array.isArray(asset.owners) ? asset.owners : [];
    for (const owner of owners) {
      if (!owner || typeof owner.name !== "string" || typeof owner.address !== "string") continue;
      if (isAddress(owner.address, { strict: false }) && getAddress(owner.address) === account) {
        names.add(owner.name.slice(0, 80));
      }
    }
  }
  return [...names].sort();
}

/** A value cut to fit in a message. */
export function short(value) {
  const text = String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** keccak256 of raw bytes, 0x-hex (the on-chain `manifestHash`). */
export function keccak256Bytes(bytes) {
  return keccak256(bytes);
}
