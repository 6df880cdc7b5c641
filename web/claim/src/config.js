// Which settlement the page shows: `config.json` beside the page, overridden by the URL's
// query (`?chainId=31337&rpc=http://...&settlement=0x...&fromBlock=0&account=0x...`).
import { getAddress, isAddress } from "viem";

/**
 * The page's configuration, checked.
 * @throws {Error} naming the field and why it is refused.
 */
export async function loadConfig(location) {
  let file = {};
  try {
    const response = await fetch(new URL("config.json", location.href), { cache: "no-store" });
    if (response.ok) file = await response.json();
  } catch {
    // no config.json beside the page: the query must say it all
  }
  const query = Object.fromEntries(new URL(location.href).searchParams);
  const raw = { ...file, ...query };
  const chainId = Number(raw.chainId);
  if (!Number.isSafeInteger(chainId) || chainId <= 0) {
    throw new Error(`chainId: ${JSON.stringify(raw.chainId ?? null)} is not a chain id (set it in config.json or ?chainId=)`);
  }
  if (typeof raw.settlement !== "string" || !isAddress(raw.settlement, { strict: false })) {
    throw new Error(`settlement: ${JSON.stringify(raw.settlement ?? null)} is not an address (set it in config.json or ?settlement=)`);
  }
  let rpc = null;
  if (raw.rpc) {
    const url = URL.canParse(String(raw.rpc)) ? new URL(String(raw.rpc)) : null;
    if (!url || !["http:", "https:"].includes(url.protocol)) throw new Error(`rpc: ${raw.rpc} is not an http(s) URL`);
    rpc = url.href;
  }
  const from = String(raw.fromBlock ?? "0");
  if (!/^[0-9]{1,20}$/.test(from)) throw new Error(`fromBlock: ${JSON.stringify(from)} is not a block number`);
  const fromBlock = BigInt(from);
  const account = raw.account && isAddress(raw.account, { strict: false }) ? getAddress(raw.account) : null;
  return { chainId, settlement: getAddress(raw.settlement), rpc, fromBlock, account };
}
