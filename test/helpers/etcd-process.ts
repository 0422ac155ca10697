// A real single-member etcd for the HA tests: free loopback ports, a temp
// data dir, killed and removed in t.after. ETCD_BIN overrides the binary
// (default: etcd on PATH, e.g. Debian's etcd-server). Without it the tests
// skip, visibly; with CI=true they fail, because CI installs etcd-server.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { freePort } from "./agent-process.js";

const ETCD_BIN = process.env.ETCD_BIN ?? "etcd";

/** True when etcd can run; otherwise skips `t` (or fails it under CI=true) and returns false. */
export function etcdAvailable(t: TestContext): boolean {
  const probe = spawnSync(ETCD_BIN, ["--version"], { encoding: "utf8" });
  if (probe.status === 0) return true;
  const why = `etcd binary "${ETCD_BIN}" not runnable (install etcd-server or set ETCD_BIN)`;
  if (process.env.CI === "true") throw new Error(`${why}; CI must run the HA tests`);
  t.skip(`${why}: HA tests skipped`);
  return false;
}

export interface EtcdProcess {
  /** host:port clients dial. */
  readonly endpoint: string;
  /** `etcd://host:port`, the controller's store setting. */
  readonly storeUrl: string;
  /**
   * Runs `fn` at test end before etcd is killed, last registered first:
   * controllers close while etcd still answers, so they revoke their leases
   * instead of waiting out the 2 s revoke deadline (a close with etcd down
   * must still leave nothing running: ha-etcd-close.test.ts).
   */
  beforeStop(fn: () => Promise<unknown>): void;
  /** SIGKILL, then start again on the same ports and data dir. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcd(t: TestContext): Promise<EtcdProcess> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-etcd-"));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name", "meshfed-test", "--data-dir", join(dir, "data"),
    "--listen-client-urls", `http://${endpoint}`, "--advertise-client-urls", `http://${endpoint}`,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `meshfed-test=${peer}`,
    "--log-level", "error", "--logger", "zap",
  ];
  let child: ChildProcess | undefined;
  let output = "";
  const launch = async () => {
    child = spawn(ETCD_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (output = (output + d).slice(-10_000)));
    await waitHealthy(endpoint, child, () => output);
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, "exit");
    c.kill("SIGKILL");
    await exited;
  };
  await launch();
  const cleanups: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    // A test that left etcd down gets it back, so that the closes complete.
    if (!child) await launch().catch(() => undefined);
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    await kill();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return {
    endpoint,
    storeUrl: `etcd://${endpoint}`,
    beforeStop: (fn) => void cleanups.push(fn),
    restart: async (downMs = 500) => {
      await kill();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await launch();
    },
    stop: kill,
  };
}

async function waitHealthy(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}:\n${output()}`);
    try {
      const res = await fetch(`http://${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === "true") return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`etcd on ${endpoint} not healthy within 15 s:\n${output()}`);
}
