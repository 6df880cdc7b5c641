// How amounts, dates and durations read on the page: the same forms as `ame owed`.
import { formatUnits } from "viem";

/** `amount` base units with the token's symbol, exact: `0.2 ETH`. */
export function formatAmount(amount, units) {
  return `${formatUnits(amount, units.decimals)} ${units.symbol}`;
}

// The first second of year 10000: past it a header's uint256 is shown as a number, as the CLI does.
const YEAR_10000 = 253402300800n;

/** A Unix time as `2026-12-07 15:25:56 UTC`. */
export function formatDate(seconds) {
  const at = BigInt(seconds);
  if (at < 0n || at >= YEAR_10000) return `Unix time ${at}`;
  return `${new Date(Number(at) * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** Seconds as `2d 3h` or `59m 12s` (two largest units); `now` when past. */
export function formatDuration(seconds) {
  let left = Number(seconds);
  if (!(left > 0)) return "now";
  const parts = [];
  for (const [size, unit] of [[86_400, "d"], [3_600, "h"], [60, "m"], [1, "s"]]) {
    const n = Math.floor(left / size);
    left -= n * size;
    if (n) parts.push(`${n}${unit}`);
  }
  return `in ${parts.slice(0, 2).join(" ")}`;
}
