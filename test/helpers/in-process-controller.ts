// Starts the controller in this process on port 0 with a temp data dir.
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { startController, type RunningController } from "../../src/controller/main.js";
import type { SidecarDriver } from "../../src/controller/drivers/types.js";

export interface TestController extends RunningController {
  readonly dir: string;
  readonly hostsFile: string;
  api<T = unknown>(path: string, body?: unknown): Promise<T>;
}

export async function startTestController(
  t: { after: (fn: () => Promise<void>) => void },
  options: { hosts?: string; smi?: Record<string, string>; patch?: (c: ControllerConfig) => ControllerConfig; driver?: SidecarDriver } = {},
): Promise<TestController> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-cp-"));
  const started: { controller?: RunningController } = {};
  // Registered before the start: a controller that refuses to start (a test of
  // exactly that) left its directory, CA key included, in the temp dir.
  t.after(async () => {
    try {
      await started.controller?.close();
    } finally {
      // A service-certificate write that was in flight when close() began can
      // land just after it (seen once under load: ENOTEMPTY). A failed hook here
      // would skip the test's later cleanup hooks (agents) and hang the file, so
      // the removal retries instead of failing.
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
  const hostsFile = join(dir, "hosts.yaml");
  await writeFile(hostsFile, options.hosts ?? "hosts: []\n");
  await mkdir(join(dir, "smi"));
  for (const [name, text] of Object.entries(options.smi ?? {})) await writeFile(join(dir, "smi", name), text);
  let config = await loadControllerConfig(undefined, {
    dataDir: join(dir, "data"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", hostsFile, smiDirectory: join(dir, "smi"),
  });
  config = { ...config, catalog: { ...config.catalog, coalesce: 10 }, providers: { ...config.providers, onprem: { hostsFile, debounce: 20 } } };
  if (options.patch) config = options.patch(config);
  const running = await startController(config, silentLogger(), options.driver ? { driver: options.driver } : {});
  started.controller = running;
  const api = async <T,>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${running.adminUrl}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path} -> ${res.status} ${text}`);
    return (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T;
  };
  return { ...running, dir, hostsFile, api };
}
