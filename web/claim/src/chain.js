// What the page reads from the chain and the published files: every proposed epoch as the
// connected (or entered) address sees it. One epoch that cannot be read becomes an error
// row; the others still load.
import { erc20Abi, getAddress } from "viem";
import { ABI } from "ame:abi";
import {
  checkedClaim,
  fetchBounded,
  headerCommitment,
  INDEX_NAME,
  keccak256Bytes,
  parseJson,
  registryNames,
  sha256Hex,
  shardOf,
  sharded,
  short,
  siblingUri,
} from "./verify.js";

export const STATUS = ["Proposed", "Finalized", "Voided", "Refunded", "Swept"];
const PROPOSED = ABI.find((item) => item.type === "event" && item.name === "EpochProposed");

/** The headers and manifest URIs of every proposed epoch, each matching its on-chain commitment. */
export async function proposedEpochs(client, settlement, fromBlock) {
  const logs = await client.getLogs({ address: settlement, event: PROPOSED, fromBlock, strict: false });
  const byEpoch = new Map();
  for (const log of logs) {
    const a = log.args;
    if (a.epoch === undefined || a.root === undefined || a.manifestURI === undefined) continue;
    const header = {
      epoch: a.epoch,
      root: a.root,
      token: a.token,
      pool: a.pool,
      leafCount: a.leafCount,
      challengeEnd: a.challengeEnd,
      operator: a.operator,
      bond: a.bond,
      manifestHash: a.manifestHash,
    };
    if (!byEpoch.has(a.epoch)) byEpoch.set(a.epoch, []);
    byEpoch.get(a.epoch).push({ header, uri: a.manifestURI });
  }
  const epochs = [...byEpoch.keys()].sort((x, y) => (x < y ? -1 : 1));
  const commitments = await Promise.all(
    epochs.map((epoch) => read(client, settlement, "commitmentOf", [epoch])),
  );
  // A void epoch may be proposed again: the stored commitment names the live proposal.
  return epochs.map((epoch, i) => {
    const found = byEpoch.get(epoch).findLast((p) => headerCommitment(p.header) === commitments[i]);
    return found ?? { header: byEpoch.get(epoch).at(-1).header, uri: null };
  });
}

function read(client, address, functionName, args = []) {
  return client.readContract({ address, abi: ABI, functionName, args });
}

/** ETH (18 decimals), or the token's symbol and decimals; base units when it does not answer. */
export async function tokenUnits(client, token) {
  if (BigInt(token) === 0n) return { symbol: "ETH", decimals: 18 };
  try {
    const [symbol, decimals] = await Promise.all([
      client.readContract({ address: token, abi: erc20Abi, functionName: "symbol" }),
      client.readContract({ address: token, abi: erc20Abi, functionName: "decimals" }),
    ]);
    if (/^[A-Za-z0-9$._+-]{1,16}$/.test(symbol) && decimals >= 0 && decimals <= 36) {
      return { symbol, decimals: Number(decimals) };
    }
  } catch {
    // fall through: the amount is exact in base units either way
  }
  return { symbol: `units of ${token}`, decimals: 0 };
}

/**
 * One epoch as `account` sees it.
 *
 * @returns {Promise<object>} `{epoch, header, status, state, amount, units, claimed, leaf, proof,
 *   names, error, challengeEnd, sweepableFrom}`; `state` is one of `ame owed`'s states.
 */
export async function owedIn(client, { chainId, settlement, account, proposal, now, units }) {
  const { header, uri } = proposal;
  const row = { epoch: header.epoch, header, units, state: "not owed", amount: 0n, claimed: false, names: [] };
  row.challengeEnd = header.challengeEnd;
  const [status, , openDisputes] = await read(client, settlement, "epochState", [header.epoch]);
  row.status = STATUS[status] ?? `status ${status}`;
  if (row.status === "Finalized") row.sweepableFrom = await read(client, settlement, "expiryOf", [header]);
  try {
    if (uri === null) throw new Error("no EpochProposed event matches the on-chain commitment");
    if (sharded(header.leafCount)) {
      // A large epoch: the index and the account's shard only, never the manifest or all proofs.
      const claim = await shardClaim(uri, { chainId, settlement, header, account });
      if (claim === null) return row;
      row.leaf = claim.leaf;
      row.proof = claim.proof;
      row.amount = claim.leaf.amount;
      row.claimed = await read(client, settlement, "isClaimed", [header.epoch, row.leaf.index]);
      row.state = stateOf(row.status, openDisputes, header.challengeEnd, now, row.claimed);
      return row;
    }
    const manifestBytes = await fetchBounded(uri);
    const found = keccak256Bytes(manifestBytes);
    if (found !== header.manifestHash) {
      throw new Error(`the manifest at ${short(uri)} hashes to ${found}, not the committed ${header.manifestHash}`);
    }
    const manifest = parseJson(manifestBytes, uri);
    const proofs = manifest && manifest.proofs;
    if (!proofs || typeof proofs.sha256 !== "string") {
      throw new Error("the manifest names no proofs file (run `ame proof ADDRESS --epoch N`)");
    }
    const proofsUri = siblingUri(uri, proofs.uri);
    const proofsBytes = await fetchBounded(proofsUri);
    const digest = await sha256Hex(proofsBytes);
    if (digest !== proofs.sha256) {
      throw new Error(`the proofs file ${short(proofsUri)} hashes to ${digest}, not the manifest's ${short(proofs.sha256)}`);
    }
    const claim = checkedClaim(parseJson(proofsBytes, proofsUri), { chainId, settlement, header, account });
    if (claim === null) return row;
    row.leaf = claim.leaf;
    row.proof = claim.proof;
    row.amount = claim.leaf.amount;
    row.names = await names(uri, manifest, account);
  } catch (err) {
    return { ...row, state: "unreadable", error: err.message };
  }
  row.claimed = await read(client, settlement, "isClaimed", [header.epoch, row.leaf.index]);
  row.state = stateOf(row.status, openDisputes, header.challengeEnd, now, row.claimed);
  return row;
}

/** The same decision as `ame owed` (ame/workflow/_owed.py `_state`). */
export function stateOf(status, openDisputes, challengeEnd, now, claimed) {
  if (status === "Voided" || status === "Refunded") return "voided";
  if (claimed) return "claimed";
  if (status === "Swept") return "expired";
  if (status === "Finalized") return "claimable";
  if (openDisputes > 0n) return "disputed";
  if (now < challengeEnd) return "in challenge window";
  return "awaiting finalisation";
}

/** `account`'s leaf and proof from its shard, read through the index beside the manifest. */
export async function shardClaim(manifestUri, { chainId, settlement, header, account }) {
  const indexUri = siblingUri(manifestUri, INDEX_NAME);
  const shard = shardOf(parseJson(await fetchBounded(indexUri), indexUri), { chainId, settlement, header, account });
  if (shard === null) return null;
  const shardUri = siblingUri(manifestUri, shard.uri);
  const bytes = await fetchBounded(shardUri);
  const digest = await sha256Hex(bytes);
  if (digest !== shard.sha256) {
    throw new Error(`the proofs shard ${short(shardUri)} hashes to ${digest}, not the index's ${short(shard.sha256)}`);
  }
  return checkedClaim(parseJson(bytes, shardUri), { chainId, settlement, header, account });
}

async function names(manifestUri, manifest, account) {
  try {
    const uri = siblingUri(manifestUri, "registry.json");
    const bytes = await fetchBounded(uri);
    const recorded = manifest.inputs && manifest.inputs.registry && manifest.inputs.registry.sha256;
    if ((await sha256Hex(bytes)) !== recorded) return []; // not the registry this epoch was mapped from
    return registryNames(parseJson(bytes, uri), getAddress(account));
  } catch {
    return []; // names are for people; an unreadable registry costs only them
  }
}
