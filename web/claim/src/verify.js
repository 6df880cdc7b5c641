// Never trust a published file: everything the page offers to claim is checked here
// against what the chain committed to (the manifest's keccak256, the proofs file's
// SHA-256 in the manifest, the proof against the on-chain root). Pure functions, so the
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
