/**
 * Load generator of the gRPC phase of the sidecars scenario
 * (bench/sidecars-grpc.ts), forked like bench/sidecars-load.ts so that its
 * CPU is its own. Closed loop: one grpc-js channel (one HTTP/2 connection,
 * as a gRPC client has) carrying `concurrency` unary GetBook calls at a time,
 * back to back, for `warmupMs` (not recorded) and then `durationMs`; latency
 * from the call to its status. One run, one reply over IPC, then exit.
 */
import { booksClient } from "../test/helpers/grpc-books.js";
import type { GrpcLoadRequest, LoadReply } from "./sidecars-ipc.js";

const job = JSON.parse(process.argv[2] ?? "null") as GrpcLoadRequest | null;

async function run(j: GrpcLoadRequest): Promise<LoadReply> {
  const client = booksClient(j.address, j.authority);
  const latencies: number[] = [];
  let errors = 0;
  let statuses = "";
  const started = performance.now();
  const measureFrom = started + j.warmupMs;
  const end = measureFrom + j.durationMs;
  let cpuAtStart = process.cpuUsage();
  setTimeout(() => (cpuAtStart = process.cpuUsage()), j.warmupMs);
  let id = 0;
  const worker = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const code = await client.getBook(++id, 5_000).then(() => 0, (e: { code?: number }) => e.code ?? -1);
      const t1 = performance.now();
      if (t0 < measureFrom) continue;
      if (code === 0) latencies.push(t1 - t0);
      else {
        errors++;
        if (statuses.length < 200) statuses += `grpc-${code} `;
      }
    }
  };
  await Promise.all(Array.from({ length: j.concurrency }, worker));
  const seconds = (performance.now() - measureFrom) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  client.close();
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? 0;
  return {
    ok: latencies.length, errors, seconds, firstStatuses: statuses.trim(),
    p50: at(50), p90: at(90), p99: at(99), max: latencies.at(-1) ?? 0,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

if (job === null || process.send === undefined) {
  console.error("usage: forked by bench/sidecars-grpc.ts with a JSON GrpcLoadRequest as argument");
  process.exit(2);
}
const reply = await run(job);
process.send(reply, () => process.exit(0));
