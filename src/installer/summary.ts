/** The final table of a run: one row per job, failures with their code and reason. */
import type { JobResult } from "./fleet.js";

export function formatDuration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

export function summaryRows(results: readonly JobResult[]): { header: string[]; rows: string[][]; footer: string } {
  const rows = results.map((r) => [
    r.job.host,
    r.job.service,
    r.outcome,
    formatDuration(r.ms),
    r.error ? `${r.error.code}: ${r.error.message}` : [r.proxyId !== undefined ? `proxy ${r.proxyId}` : "", r.capture !== undefined ? `capture ${r.capture}` : ""].filter((s) => s !== "").join("; "),
  ]);
  const failed = results.filter((r) => r.outcome === "failed").length;
  const footer = failed === 0 ? `${results.length} succeeded` : `${failed} of ${results.length} failed`;
  return { header: ["HOST", "SERVICE", "RESULT", "TIME", "DETAIL"], rows, footer };
}
