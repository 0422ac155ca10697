/**
 * Child process of the agents benchmark: one real controller (startController
 * with the default timings) and nothing else, so that its memory can be
 * measured alone. Arguments: the benchmark's temp directory, holding
 * hosts.yaml and smi/, then options: `--data NAME` the data directory under
 * it (default "data"), `--driver pipy|json`, `--store etcd://...` and
 * `--replica-id ID` for a replica sharing its state in etcd, `--reconnect-grace S`
 * the stream grace in seconds (`grpc.reconnectGrace`), `--mass-disconnect-off`
 * for `grpc.massDisconnect.threshold` 0.
 * Run with --expose-gc so "memory" answers after a full collection.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { silentLogger } from "../src/common/logger.js";
import { loadControllerConfig } from "../src/controller/config/load.js";
import { startController, type RunningController } from "../src/controller/main.js";
import { serve, type ControllerEvent, type ControllerRequest, type MemoryReply, type UsageReply } from "./agents-ipc.js";

const { positionals: [dir], values: args } = parseArgs({
  allowPositionals: true,
  options: { data: { type: "string", default: "data" }, driver: { type: "string" }, store: { type: "string" }, "replica-id": { type: "string" }, "reconnect-grace": { type: "string" }, "mass-disconnect-off": { type: "boolean" } },
});
/** The sidecar driver: the default's, unless the bench asks for the other to compare. */
const driver = args.driver;
const gc = (globalThis as { gc?: () => void }).gc;

function emit(event: ControllerEvent): void {
  process.send?.(event);
}

async function memory(): Promise<MemoryReply> {
  // Two collections with a turn of the event loop between them, so that
  // objects freed by finalizers of the first are gone too.
  gc?.();
  await new Promise((resolve) => setImmediate(resolve));
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, ...memoryMappings() };
}

/** The process's memory mappings, where /proc has them. */
function memoryMappings(): { mappings?: number } {
  try {
    return { mappings: readFileSync("/proc/self/maps", "utf8").split("\n").filter((line) => line !== "").length };
  } catch {
    return {};
  }
}

/** RSS sampled every 20 ms, so a short peak (a reconnect storm) is seen. */
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 20);
sampler.unref();

function usage(resetPeak: boolean): UsageReply {
  const rss = process.memoryUsage.rss();
  const reply = { cpuMicros: process.cpuUsage().user + process.cpuUsage().system, rss, peakRss: Math.max(peakRss, rss) };
  if (resetPeak) peakRss = rss;
  return reply;
}

async function main(): Promise<void> {
  if (dir === undefined || process.send === undefined) throw new Error("usage: forked by bench/agents.ts with the temp directory as argument");
  const loaded = await loadControllerConfig(undefined, {
    dataDir: join(dir, args.data), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0",
    hostsFile: join(dir, "hosts.yaml"), smiDirectory: join(dir, "smi"), logLevel: "silent",
    ...(args.store ? { store: args.store } : {}),
  });
  const config = args["replica-id"] ? { ...loaded, ha: { ...loaded.ha, replicaId: args["replica-id"] } } : loaded;
  // Every simulated agent enrolls from 127.0.0.1: the per-peer enrollment
  // limit, meant for a real fleet, would throttle the setup phase.
  // The stream limit (default 10,000) is lifted too: at --agents 10000 the real agents measured
  // for their RSS afterwards were refused (MESHFED_TOO_MANY_STREAMS) and the run failed.
  const limits = { ...config.limits, enrollPerSecond: 100_000, enrollBurst: 100_000, maxStreams: 1_000_000 };
  // A silent logger: per-connection log lines cost CPU, not the memory measured here.
  if (driver !== undefined && driver !== "pipy" && driver !== "json") throw new Error(`driver must be pipy or json, got "${driver}"`);
  const graceSeconds = args["reconnect-grace"] === undefined ? undefined : Number(args["reconnect-grace"]);
  if (graceSeconds !== undefined && !(Number.isInteger(graceSeconds) && graceSeconds >= 0 && graceSeconds <= 300)) throw new Error(`--reconnect-grace takes whole seconds from 0 to 300, got "${args["reconnect-grace"]}"`);
  const grpc = {
    ...config.grpc,
    ...(graceSeconds === undefined ? {} : { reconnectGrace: graceSeconds * 1000 }),
    ...(args["mass-disconnect-off"] === true ? { massDisconnect: { ...config.grpc.massDisconnect, threshold: 0 } } : {}),
  };
  const controller: RunningController = await startController({ ...config, grpc, limits, ...(driver ? { driver } : {}) }, silentLogger());
  serve<ControllerRequest>(async (r) => {
    if (r.type === "memory") return memory();
    if (r.type === "usage") return usage(r.resetPeak);
    await controller.close();
    setImmediate(() => process.exit(0));
    return { stopped: true };
  });
  // The parent going away (crash, Ctrl-C) must not leave a controller behind.
  process.on("disconnect", () => void controller.close().finally(() => process.exit(1)));
  emit({ type: "ready", adminUrl: controller.adminUrl, grpcAddress: controller.grpcAddress });
}

main().catch((err: unknown) => {
  emit({ type: "failed", message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
});
