/** How the benchmark writes numbers, in the log and in the results table. */

/** Three significant digits (whole ms from 100 ms on; µs below 0.1 ms). */
export function formatMs(ms: number): string {
  if (ms < 0.1) return `${(ms * 1000).toFixed(0)} µs`;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Number(ms.toPrecision(3)))));
  return `${ms.toFixed(digits)} ms`;
}

export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}

export function formatDuration(ms: number): string {
  return ms < 60_000 ? `${Math.max(1, Math.round(ms / 1000))} s` : `${(ms / 60_000).toFixed(1)} min`;
}

/** A signed percentage: 0.0123 -> "+1.2%". */
export function formatPct(fraction: number, digits = 1): string {
  const p = fraction * 100;
  const text = Math.abs(p).toFixed(digits);
  return `${p < 0 && Number(text) !== 0 ? '−' : '+'}${text}%`;
}
