// Runs the page's own proof check (web/claim/src/verify.js `checkedClaim`) on JSON lines
// from stdin, one answer line each: {leaf, proof}, {missing: true} or {error, name}.
import { createInterface } from "node:readline";
import { checkedClaim } from "../../web/claim/src/verify.js";

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { doc, chainId, settlement, epoch, root, account } = JSON.parse(line);
  let answer;
  try {
    const found = checkedClaim(doc, { chainId, settlement, header: { epoch: BigInt(epoch), root }, account });
    answer = found === null
      ? { missing: true }
      : {
          leaf: Object.fromEntries(Object.entries(found.leaf).map(([k, v]) => [k, String(v)])),
          proof: found.proof,
        };
  } catch (err) {
    answer = { error: String(err.message), name: err.name };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
