// How amounts, dates and durations read on the page: the same forms as `ame owed`.
import { formatUnits } from "viem";

/** `amount` base units with the token's symbol, exact: `0.2 ETH`. */
export function formatAmount(amount, units) {
  return `${formatUnits(amount, units.decimals)} ${units.symbol}`;
}

/** A Unix time as `2026-12-07 15:25:56 UTC`. */
export function formatDate(seconds) {
  const ms = Number(seconds) * 1000;
  if (!Number.isFinite(ms) || ms > 8.64e15) return `Unix time ${seconds}`;
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
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
