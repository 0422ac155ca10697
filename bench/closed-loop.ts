/**
 * The closed loop both load generators of the sidecars scenario run
 * (bench/sidecars-load.ts over HTTP/1.1, bench/sidecars-grpc-load.ts over
 * gRPC): `concurrency` workers call back to back for `warmupMs` (not
 * recorded) and then `durationMs`; latency from the call's start to its
 * answer; CPU from the end of the warm-up. Figures, never pass/fail.
 */
import type { LoadReply } from "./sidecars-ipc.js";

export interface LoopJob {
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** `call` resolves null for a success, or the label of a failure (a status) to quote in the reply. */
export async function closedLoop(j: LoopJob, call: () => Promise<string | null>): Promise<LoadReply> {
  const latencies: number[] = [];
  let errors = 0;
  let statuses = "";
  const started = performance.now();
  const measureFrom = started + j.warmupMs;
  const end = measureFrom + j.durationMs;
  let cpuAtStart = process.cpuUsage();
  const warm = setTimeout(() => (cpuAtStart = process.cpuUsage()), j.warmupMs);
  const worker = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const failure = await call();
      const t1 = performance.now();
      if (t0 < measureFrom) continue;
      if (failure === null) latencies.push(t1 - t0);
      else {
        errors++;
        if (statuses.length < 200) statuses += `${failure} `;
      }
    }
  };
  await Promise.all(Array.from({ length: j.concurrency }, worker));
  clearTimeout(warm);
  // Calls started before `end` finish after it: the window runs to the last answer.
  const seconds = (performance.now() - measureFrom) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? 0;
  return {
    ok: latencies.length, errors, seconds, firstStatuses: statuses.trim(),
    p50: at(50), p90: at(90), p99: at(99), max: latencies.at(-1) ?? 0,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

/** A forked load generator's main: the job from argv, one run, the reply over IPC, exit. */
export async function serveForkedJob<J>(usage: string, run: (job: J) => Promise<LoadReply>): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "null") as J | null;
  if (job === null || process.send === undefined) {
    console.error(usage);
    process.exit(2);
  }
  const reply = await run(job);
  process.send(reply, () => process.exit(0));
}
