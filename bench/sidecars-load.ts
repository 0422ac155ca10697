/**
 * Load generator of the sidecars scenario (bench/sidecars.ts), forked in its
 * own process so that its CPU is not the parent's (which holds the app, the
 * controller and both agents). Closed loop: `concurrency` workers, each with
 * one keep-alive connection, send GET requests back to back for
 * `warmupMs` (not recorded) and then `durationMs`; latency is measured from
 * the request's start to the end of the response body. One run, one reply
 * over IPC, then exit.
 */
import { Agent, request } from "node:http";
import type { LoadReply, LoadRequest } from "./sidecars-ipc.js";

const job = JSON.parse(process.argv[2] ?? "null") as LoadRequest | null;

function once(agent: Agent, j: LoadRequest): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: j.host, port: j.port, path: j.path, headers: { host: j.hostHeader }, agent, timeout: 5_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(0));
    req.end();
  });
}

async function run(j: LoadRequest): Promise<LoadReply> {
  const agent = new Agent({ keepAlive: true, maxSockets: j.concurrency, maxFreeSockets: j.concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let statuses = "";
  const started = performance.now();
  const measureFrom = started + j.warmupMs;
  const end = measureFrom + j.durationMs;
  let cpuAtStart = process.cpuUsage();
  setTimeout(() => (cpuAtStart = process.cpuUsage()), j.warmupMs);
  const worker = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const status = await once(agent, j);
      const t1 = performance.now();
      if (t0 < measureFrom) continue;
      if (status === 200) latencies.push(t1 - t0);
      else {
        errors++;
        if (statuses.length < 200) statuses += `${status} `;
      }
    }
  };
  await Promise.all(Array.from({ length: j.concurrency }, worker));
  // Requests started before `end` finish after it: the window runs to the last answer.
  const seconds = (performance.now() - measureFrom) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? 0;
  return {
    ok: latencies.length, errors, seconds, firstStatuses: statuses.trim(),
    p50: at(50), p90: at(90), p99: at(99), max: latencies.at(-1) ?? 0,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

if (job === null || process.send === undefined) {
  console.error("usage: forked by bench/sidecars.ts with a JSON LoadRequest as argument");
  process.exit(2);
}
const reply = await run(job);
process.send(reply, () => process.exit(0));
