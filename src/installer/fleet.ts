/**
 * Runs one job per (host, agent) with at most `parallel` at a time. A job's
 * failure is its own: it is recorded and the others go on. The progress sink
 * hears every step; the results come back in job order for the summary.
 */
import { errorCode, errorMessage } from "../common/errors.js";
import type { AgentResult, Outcome, StepReporter } from "./types.js";

export interface FleetJob {
  /** Host name (inventory) or address. */
  readonly host: string;
  /** namespace/name of the agent's service. */
  readonly service: string;
}

export interface JobResult {
  readonly job: FleetJob;
  readonly outcome: Outcome | "failed";
  readonly proxyId?: string;
  readonly version?: string;
  readonly capture?: string;
  readonly error?: { readonly code: string; readonly message: string };
  readonly ms: number;
}

export interface ProgressSink {
  step(index: number, step: string): void;
  finished(index: number, result: JobResult): void;
}

export async function runFleet<J extends FleetJob>(
  jobs: readonly J[],
  parallel: number,
  work: (job: J, report: StepReporter) => Promise<AgentResult>,
  progress: ProgressSink,
): Promise<JobResult[]> {
  const results: JobResult[] = new Array<JobResult>(jobs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < jobs.length; i = next++) {
      const job = jobs[i]!;
      const started = performance.now();
      let result: JobResult;
      try {
        const r = await work(job, (step) => progress.step(i, step));
        result = { job, ...r, ms: performance.now() - started };
      } catch (err) {
        result = { job, outcome: "failed", error: { code: errorCode(err), message: errorMessage(err) }, ms: performance.now() - started };
      }
      results[i] = result;
      progress.finished(i, result);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, jobs.length)) }, worker));
  return results;
}

export function anyFailed(results: readonly JobResult[]): boolean {
  return results.some((r) => r.outcome === "failed");
}
