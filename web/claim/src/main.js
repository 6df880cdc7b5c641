// The claim page: connect a wallet (or type any address), see every epoch of the
// settlement with what that address is owed, and claim one leaf or all of them.
import { createPublicClient, createWalletClient, custom, defineChain, getAddress, http, isAddress } from "viem";
import { ABI } from "ame:abi";
import { loadConfig } from "./config.js";
import { owedIn, proposedEpochs, tokenUnits } from "./chain.js";
import { formatAmount, formatDate, formatDuration } from "./format.js";

const $ = (id) => document.getElementById(id);
// `reads` numbers each refresh: only the latest one started may render, so a slow read
// begun before a claim (a network switch fires two) never paints the epochs as they were.
const page = { config: null, chain: null, reader: null, connected: null, rows: [], account: null, reads: 0 };

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text; // published text is never parsed as HTML
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** Show a message a person can act on; `kind` is info, error or ok. */
function notice(text, kind = "info", extra = []) {
  const box = $("notice");
  box.replaceChildren(el("p", text), ...extra);
  box.className = `notice ${kind}`;
  box.hidden = !text;
}

function relayLink(account) {
  const url = new URL(location.href);
  url.searchParams.set("account", account);
  return url.href;
}

function wallet() {
  return typeof window.ethereum === "object" && window.ethereum !== null ? window.ethereum : null;
}

async function walletChainId() {
  return Number.parseInt(await wallet().request({ method: "eth_chainId" }), 16);
}

/** Reads go through the configured RPC, or the wallet when none is configured. */
function reader() {
  if (page.config.rpc) return createPublicClient({ chain: page.chain, transport: http(page.config.rpc) });
  if (wallet()) return createPublicClient({ chain: page.chain, transport: custom(wallet()) });
  return null;
}

async function connect() {
  if (!wallet()) {
    notice(
      "No wallet found: install a browser wallet (MetaMask or another EIP-1193 wallet) to claim. " +
        "You can still see what any address is owed, and anyone with a wallet can claim for you.",
      "error",
    );
    return;
  }
  const [account] = await wallet().request({ method: "eth_requestAccounts" });
  const before = page.connected;
  page.connected = getAddress(account);
  $("connected").textContent = `connected: ${page.connected}`;
  // Follow the wallet's account unless the person typed another address (a relayed claim).
  const typed = $("account").value.trim();
  if (!typed || (before && typed === before)) $("account").value = page.connected;
  await checkNetwork();
  await refresh();
}

/** True when the wallet is on the settlement's chain; else says so with a switch button. */
async function checkNetwork() {
  const id = await walletChainId();
  page.wrongNetwork = id !== page.config.chainId;
  if (!page.wrongNetwork) return true;
  const button = el("button", `Switch to chain ${page.config.chainId}`, { id: "switch" });
  button.onclick = async () => {
    try {
      await wallet().request({
        method: "wallet_switchEthereumChain",
        params: [{ chainId: `0x${page.config.chainId.toString(16)}` }],
      });
      if (await checkNetwork()) notice("");
      await refresh();
    } catch (err) {
      notice(`The wallet did not switch: ${err.message}. Switch to chain ${page.config.chainId} in the wallet.`, "error");
    }
  };
  notice(`Wrong network: the wallet is on chain ${id}, this settlement is on chain ${page.config.chainId}.`, "error", [button]);
  return false;
}

async function refresh() {
  const typed = $("account").value.trim();
  if (!isAddress(typed, { strict: false })) {
    notice(typed ? `account: ${typed} is not an address` : "Connect a wallet or enter an address.", typed ? "error" : "info");
    return;
  }
  page.account = getAddress(typed);
  if (!page.config.rpc && wallet() && (await walletChainId()) !== page.config.chainId) {
    await checkNetwork(); // with no RPC URL the wallet is the only reader: never read another chain
    return;
  }
  page.reader = reader();
  if (page.reader === null) {
    notice("No RPC URL configured and no wallet: add ?rpc=URL to the link, or install a wallet.", "error");
    return;
  }
  $("status").textContent = "reading the chain...";
  const { chainId, settlement, fromBlock } = page.config;
  const read = ++page.reads;
  try {
    const [proposals, block] = await Promise.all([
      proposedEpochs(page.reader, settlement, fromBlock),
      page.reader.getBlock(),
    ]);
    const units = new Map();
    const rows = await Promise.all(
      proposals.map(async (proposal) => {
        try {
          const token = proposal.header.token;
          if (!units.has(token)) units.set(token, tokenUnits(page.reader, token));
          return await owedIn(page.reader, {
            chainId, settlement, account: page.account, proposal, now: block.timestamp, units: await units.get(token),
          });
        } catch (err) {
          return { epoch: proposal.header.epoch, state: "unreadable", error: err.shortMessage ?? err.message, amount: 0n };
        }
      }),
    );
    if (read !== page.reads) return; // a later refresh started meanwhile: it renders
    page.rows = rows;
    page.now = block.timestamp;
    render();
    $("status").textContent = `read at block ${block.number} (${formatDate(block.timestamp)})`;
  } catch (err) {
    if (read !== page.reads) return;
    $("status").textContent = "";
    notice(`Cannot read the settlement ${settlement} on chain ${chainId}: ${err.shortMessage ?? err.message}`, "error");
  }
}

function whenText(row) {
  if (row.state === "claimed" || row.state === "voided" || row.state === "expired") return "";
  if (row.state === "claimable" && row.sweepableFrom !== undefined) return `claim before ${formatDate(row.sweepableFrom)}`;
  if (row.challengeEnd === undefined) return "";
  return formatDuration(row.challengeEnd - page.now);
}

/** Why an owed, unclaimed epoch cannot be claimed yet, and when it can ("" otherwise). */
function waitingFor(row) {
  const owed = `${formatAmount(row.amount, row.units)} in epoch ${row.epoch}`;
  if (row.state === "in challenge window") {
    return `${owed} is claimable after ${formatDate(row.challengeEnd)} (${formatDuration(row.challengeEnd - page.now)}), once finalised`;
  }
  if (row.state === "awaiting finalisation") {
    return `${owed} is claimable once finalised: its challenge window has ended, and anyone can finalise it (\`ame finalize ${row.epoch}\`)`;
  }
  if (row.state === "disputed") return `${owed} is claimable once its open disputes are resolved and it is finalised`;
  return "";
}

function render() {
  const body = $("epochs");
  body.replaceChildren();
  const owed = page.rows.filter((r) => r.state !== "not owed");
  for (const row of owed) {
    const tr = el("tr", undefined, { "data-epoch": String(row.epoch), "data-state": row.state });
    if (row.state === "unreadable") {
      tr.append(el("td", String(row.epoch)), el("td", `cannot read this epoch: ${row.error}`, { colspan: "7", class: "error" }));
      body.append(tr);
      continue;
    }
    const action = el("td");
    if (row.state === "claimable") {
      const button = el("button", "Claim", { class: "claim" });
      button.onclick = () => claim([row]);
      action.append(button);
    }
    tr.append(
      el("td", String(row.epoch)),
      el("td", formatAmount(row.amount, row.units), { class: "amount" }),
      el("td", row.names.join(", ")),
      el("td", row.state, { class: "state", title: `on-chain status: ${row.status}` }),
      el("td", formatDate(row.challengeEnd)),
      el("td", whenText(row)),
      el("td", row.claimed ? "yes" : "no", { class: "claimed" }),
      action,
    );
    body.append(tr);
  }
  $("table").hidden = owed.length === 0;
  const claimable = page.rows.filter((r) => r.state === "claimable");
  $("claim-all").hidden = claimable.length < 2;
  $("claim-all").textContent = `Claim all ${claimable.length} in one transaction`;
  $("relay").replaceChildren("Anyone can claim for this address (the funds always go to it): ", el("a", relayLink(page.account), { href: relayLink(page.account) }));
  if (page.wrongNetwork) {
    // the switch button stays until the wallet is on the settlement's chain
  } else if (owed.length === 0) {
    notice(`Nothing owed to ${page.account} in any proposed epoch of ${page.config.settlement}.`, "info");
  } else if (claimable.length === 0) {
    const next = owed.map(waitingFor).filter(Boolean);
    notice(next.length ? `Nothing to claim now: ${next.join("; ")}.` : "Nothing to claim now.", "info");
  } else if ($("notice").classList.contains("info")) {
    notice("");
  }
}

// The contract's refusals a claimant can meet, in words (the error's name follows).
const REFUSALS = {
  SettlementAlreadyClaimed: "already claimed: someone claimed it meanwhile (the funds went to its account)",
  SettlementWrongStatus: "the epoch is not claimable: not finalised yet, or voided or swept",
  SettlementInvalidProof: "the proof does not match the epoch's root",
  EnforcedPause: "claims are paused by the contract's guardian",
};

/** The contract's custom error behind `err`, decoded from the ABI, in words; null if none. */
function revertReason(err) {
  const reverted = typeof err.walk === "function" ? err.walk((e) => e?.name === "ContractFunctionRevertedError") : null;
  const name = reverted?.data?.errorName;
  if (!name) return null;
  const call = `${name}(${(reverted.data.args ?? []).map(String).join(", ")})`;
  return REFUSALS[name] ? `${REFUSALS[name]} (${call})` : `the contract refused it: ${call}`;
}

/** What `rows` pay together, per token: `0.6 ETH` or `0.2 ETH and 5 POOL`. */
function totalText(rows) {
  const sums = new Map();
  for (const row of rows) {
    const [sum, units] = sums.get(row.units.symbol) ?? [0n, row.units];
    sums.set(row.units.symbol, [sum + row.amount, units]);
  }
  return [...sums.values()].map(([sum, units]) => formatAmount(sum, units)).join(" and ");
}

/** Claim the leaves of `rows` (one `claim`, or one `claimMany` for several). */
async function claim(rows) {
  if (!wallet()) return connect();
  if (!page.connected) await connect();
  if (!(await checkNetwork())) return;
  const { settlement } = page.config;
  const request = rows.length === 1
    ? { functionName: "claim", args: [rows[0].header, rows[0].leaf, rows[0].proof] }
    : {
        functionName: "claimMany",
        args: [rows.map((r) => r.header), rows.map((r, i) => ({ header: BigInt(i), leaf: r.leaf, proof: r.proof }))],
      };
  const owed = totalText(rows);
  const walletClient = createWalletClient({ account: page.connected, chain: page.chain, transport: custom(wallet()) });
  const send = { address: settlement, abi: ABI, account: page.connected, ...request };
  try {
    const gas = await page.reader.estimateContractGas(send);
    const [price, balance] = await Promise.all([page.reader.getGasPrice(), page.reader.getBalance({ address: page.connected })]);
    if (balance < gas * price) throw Object.assign(new Error("insufficient funds for gas"), { gasShort: true });
    notice(`Confirm the claim of ${owed} in your wallet...`, "info");
    const hash = await walletClient.writeContract({ ...send, gas });
    notice(`Claim sent (${hash}); waiting for it to be mined...`, "info");
    const receipt = await page.reader.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`the claim transaction ${hash} reverted`);
    await refresh();
    notice(`Claimed ${owed} for ${page.account} in ${hash}.`, "ok");
  } catch (err) {
    const text = `${err.shortMessage ?? ""} ${err.message}`;
    if (err.gasShort || /insufficient funds/i.test(text)) {
      const link = el("a", relayLink(page.account), { href: relayLink(page.account) });
      notice(
        `Not enough ETH for gas in ${page.connected} to claim ${owed}. Anyone can relay the claim ` +
          `(the funds still go to ${page.account}): send them this link, or add ETH for gas.`,
        "error",
        [link],
      );
    } else {
      // A relayer may have claimed meanwhile: show the rows as the chain has them now.
      await refresh().catch(() => {});
      notice(`The claim failed: ${revertReason(err) ?? err.shortMessage ?? err.message}`, "error");
    }
  }
}

async function main() {
  try {
    page.config = await loadConfig(location);
  } catch (err) {
    notice(err.message, "error");
    return false;
  }
  const { chainId, rpc, settlement } = page.config;
  page.chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: rpc ? [rpc] : [] } },
  });
  $("settlement").textContent = `settlement ${settlement} on chain ${chainId}`;
  if (page.config.account) $("account").value = page.config.account;
  if (wallet()) {
    wallet().on?.("chainChanged", async () => {
      if (page.connected && (await checkNetwork())) notice("");
      await refresh();
    });
    wallet().on?.("accountsChanged", () => connect());
  } else {
    // Kept beside the button (not in the notice, which the epochs' state replaces).
    $("connected").textContent =
      "No wallet found: you can see what an address is owed; to claim, install a browser wallet, or send the link below to anyone who can relay the claim.";
  }
  return true;
}

// The buttons work from the first paint: a click before the configuration is read waits for it.
const ready = main();
const whenReady = (action) => () =>
  ready.then((ok) => ok && action()).catch((err) => notice(`${err.message}`, "error"));
$("connect").onclick = whenReady(() => connect().catch((err) => notice(`Cannot connect: ${err.message}`, "error")));
$("show").onclick = whenReady(() => refresh());
$("claim-all").onclick = whenReady(() => claim(page.rows.filter((r) => r.state === "claimable")));
ready.then((ok) => ok && $("account").value && refresh());
