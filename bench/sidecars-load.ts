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
import { closedLoop, serveForkedJob } from "./closed-loop.js";
import type { LoadReply, LoadRequest } from "./sidecars-ipc.js";

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
  const reply = await closedLoop(j, async () => {
    const status = await once(agent, j);
    return status === 200 ? null : String(status);
  });
  agent.destroy();
  return reply;
}

await serveForkedJob("usage: forked by bench/sidecars.ts with a JSON LoadRequest as argument", run);
