// Runs the page's own functions on JSON lines from stdin, one answer line each, so the
// Python tests can search their inputs: `checkedClaim` (web/claim/src/verify.js) answers
// {leaf, proof}, {missing: true} or {error, name}; `shardOf` (a large epoch's index)
// answers {uri, sha256}, {missing: true} or {error, name}; `format`
// (web/claim/src/format.js) answers {amount, date, duration}.
import { createInterface } from "node:readline";
import { formatAmount, formatDate, formatDuration } from "../../web/claim/src/format.js";
import { checkedClaim, shardOf } from "../../web/claim/src/verify.js";

function claim({ doc, chainId, settlement, epoch, root, account }) {
  try {
    const found = checkedClaim(doc, { chainId, settlement, header: { epoch: BigInt(epoch), root }, account });
    if (found === null) return { missing: true };
    const leaf = Object.fromEntries(Object.entries(found.leaf).map(([k, v]) => [k, String(v)]));
    return { leaf, proof: found.proof };
  } catch (err) {
    return { error: String(err.message), name: err.name };
  }
}

function shard({ doc, chainId, settlement, epoch, root, leafCount, account }) {
  try {
    const header = { epoch: BigInt(epoch), root, leafCount: BigInt(leafCount) };
    const found = shardOf(doc, { chainId, settlement, header, account });
    return found === null ? { missing: true } : found;
  } catch (err) {
    return { error: String(err.message), name: err.name };
  }
}

function format({ amount, decimals, symbol, seconds, timestamp }) {
  return {
    amount: formatAmount(BigInt(amount), { decimals, symbol }),
    date: formatDate(BigInt(timestamp)),
    duration: formatDuration(BigInt(seconds)),
  };
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const request = JSON.parse(line);
  const ops = { format, shardOf: shard, checkedClaim: claim };
  const answer = (ops[request.op] ?? claim)(request);
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
