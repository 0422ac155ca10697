/**
 * The etcd baseline of the agents scenario (issue 8): how long a real etcd
 * (Debian's etcd-server) takes to deliver ONE key change to the same number
 * of watchers as there are agents. It is the floor any design that relays
 * policy through etcd watches would start from, measured on the same machine
 * in the same run. Watchers share a few client connections, as a fleet of
 * agents behind a few relays would; etcd multiplexes watchers on one stream.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { percentile } from "./agents-ipc.js";
import type { Report } from "./agents.js";

export interface EtcdWatchOptions {
  readonly watchers: number;
  /** Client connections the watchers are spread over. */
  readonly clients: number;
  readonly rounds: number;
  readonly etcdBinary: string;
  readonly tmpdir?: string;
  readonly report: Report;
}

export interface EtcdWatchResult {
  readonly p50: number;
  readonly p99: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A real single-member etcd on loopback, for this baseline and for the replicas scenario's shared store. */
export async function startEtcd(binary: string, dataDir: string): Promise<{ child: ChildProcess; endpoint: string }> {
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const child = spawn(binary, [
    "--name", "bench", "--data-dir", dataDir,
    "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
    "--listen-peer-urls", `http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`,
    "--initial-cluster", `bench=http://127.0.0.1:${peer}`, "--log-level", "error",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  const probe = new Etcd3({ hosts: endpoint, dialTimeout: 1000 });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`etcd exited (${child.exitCode}) while starting: ${stderr}`);
      try {
        await probe.get("meshfed-bench-probe").string();
        return { child, endpoint };
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd did not answer within 20 s: ${err instanceof Error ? err.message : String(err)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  } finally {
    probe.close();
  }
}

export async function runEtcdWatchBenchmark(o: EtcdWatchOptions): Promise<EtcdWatchResult> {
  const dir = await mkdtemp(join(o.tmpdir ?? tmpdir(), "meshfed-bench-etcd-"));
  const { child, endpoint } = await startEtcd(o.etcdBinary, join(dir, "data"));
  const clients = Array.from({ length: o.clients }, () => new Etcd3({ hosts: endpoint }));
  const writer = new Etcd3({ hosts: endpoint });
  try {
    const key = "meshfed/bench/policy";
    let round = -1;
    let sentAt = 0;
    const latencies: number[] = [];
    let delivered = 0;
    const watchers = await Promise.all(Array.from({ length: o.watchers }, async (_, i) => {
      const watcher = await clients[i % o.clients]!.watch().key(key).create();
      watcher.on("put", (kv) => {
        if (kv.value.toString() === `round-${round}`) {
          latencies.push(performance.now() - sentAt);
          delivered += 1;
        }
      });
      return watcher;
    }));
    const perRound: number[] = [];
    // Round 0 warms the connections and etcd's WAL up and is not counted.
    for (round = 0; round <= o.rounds; round++) {
      delivered = 0;
      const before = latencies.length;
      sentAt = performance.now();
      await writer.put(key).value(`round-${round}`);
      const deadline = Date.now() + 30_000;
      while (delivered < o.watchers) {
        if (Date.now() > deadline) throw new Error(`etcd delivered round ${round} to ${delivered} of ${o.watchers} watchers within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (round === 0) latencies.length = 0;
      else perRound.push(Math.max(...latencies.slice(before)));
    }
    await Promise.all(watchers.map((w) => w.cancel()));
    latencies.sort((a, b) => a - b);
    const scenario = `etcd watch N=${o.watchers}`;
    const result = { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
    o.report(scenario, `setup: watchers over ${o.clients} client connections, ${o.rounds} rounds`, o.watchers, "watchers");
    o.report(scenario, "one key change -> every watcher: p50", result.p50, "ms");
    o.report(scenario, "one key change -> every watcher: p99", result.p99, "ms");
    o.report(scenario, "one key change -> last watcher (median over rounds)", [...perRound].sort((a, b) => a - b)[Math.floor(perRound.length / 2)]!, "ms");
    return result;
  } finally {
    for (const c of clients) c.close();
    writer.close();
    await stopEtcd(child);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function stopEtcd(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once("exit", resolve)));
  child.kill("SIGTERM");
  await exited;
}
