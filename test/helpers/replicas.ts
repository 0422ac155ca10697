// Controller replicas on one etcd (docs/ha.md): in this process (startReplica)
// or as real `meshfed controller` processes (startReplicaProcess) for the
// tests that SIGKILL one. Both close before the test's etcd stops.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import { startController, type RunningController } from "../../src/controller/main.js";
import { freePort } from "./agent-process.js";
import { startControllerProcess, type ControllerProcess } from "./controller-process.js";
import type { EtcdProcess } from "./etcd-process.js";

/** Short, so that the kill tests wait seconds, not the default ten. */
export const TEST_LEASE_TTL = "2s";

export interface Replica extends RunningController {
  api<T = unknown>(path: string, body?: unknown): Promise<T>;
}

export async function startReplica(etcd: EtcdProcess, replicaId: string): Promise<Replica> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-replica-"));
  const config = await loadControllerConfig(undefined, { dataDir: join(dir, "data"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", store: etcd.storeUrl });
  const controller = await startController({ ...config, driver: "json", catalog: { ...config.catalog, coalesce: 10 }, ha: { ...config.ha, replicaId, leaseTtl: 2_000 } }, silentLogger());
  etcd.beforeStop(async () => {
    await controller.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return { ...controller, api: (path, body) => api(controller.adminUrl, path, body) };
}

export interface ReplicaProcess extends ControllerProcess {
  readonly grpcAddress: string;
  api<T = unknown>(path: string, body?: unknown): Promise<T>;
}

export interface ReplicaProcessOptions {
  /** More top-level YAML for the config file (e.g. a `providers:` section); files it names resolve in `dir`. */
  readonly config?: (dir: string) => Promise<string>;
  readonly env?: (dir: string) => NodeJS.ProcessEnv;
}

export async function startReplicaProcess(etcd: EtcdProcess, replicaId: string, options: ReplicaProcessOptions = {}): Promise<ReplicaProcess> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-replica-"));
  const configFile = join(dir, "controller.yaml");
  const extra = options.config ? await options.config(dir) : "";
  await writeFile(configFile, `driver: json\nstore: ${etcd.storeUrl}\nha:\n  replicaId: ${replicaId}\n  leaseTtl: ${TEST_LEASE_TTL}\ncatalog:\n  coalesce: 10ms\n${extra}`);
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const proc = await startControllerProcess(["--config", configFile, "--data-dir", join(dir, "data"), "--grpc-address", grpcAddress], 60_000, options.env?.(dir) ?? {});
  etcd.beforeStop(async () => {
    await proc.stop("SIGTERM");
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return { ...proc, grpcAddress, api: (path, body) => api(proc.url, path, body) };
}

async function api<T>(base: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path} -> ${res.status} ${text}`);
  return (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T;
}
