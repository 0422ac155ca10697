// A mesh on loopback with real Pipy sidecars (PIPY_BIN): the controller in
// this process renders with the Pipy driver (port protocols declared by hand,
// test/helpers/declared-protocols.ts), one agent per sidecar runs its own
// Pipy. Hosts and SMI policies are files in a temp directory. The pattern of
// test/pipy/bookstore-split.test.ts, for tests that need other services.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { startAgent, type RunningAgent } from "../../src/agent/index.js";
import type { PortProtocols } from "../../src/common/app-protocol.js";
import type { HealthProbeInput } from "../../src/common/health-probe.js";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { SidecarDriver } from "../../src/controller/drivers/types.js";
import { startController } from "../../src/controller/main.js";
import { freePort } from "./agent-process.js";
import { testConfig } from "./agent-testbed.js";
import { waitFor } from "./wait.js";
import { declaringProtocols } from "./declared-protocols.js";

export const INBOUND_OFFSET = 10000;
export const OUTBOUND_PORT = 15001;
export const HEALTH_PORT = 15021;

export interface MeshHost {
  /** "ns/name" of the service this host runs. */
  readonly service: string;
  readonly ip: string;
  readonly port: number;
  /** false: only listed in the hosts file (an endpoint nobody serves); default true. */
  readonly sidecar?: boolean;
  /** Health probes in this host's agent config (docs/agent.md, "Health probes"). */
  readonly probes?: readonly HealthProbeInput[];
}

export interface PipyMesh {
  readonly dir: string;
  readonly agents: Record<string, RunningAgent>;
  /** Pipy's own admin address (GET /metrics) per sidecar host IP. */
  readonly pipyAdmin: Record<string, string>;
  /** Replaces the SMI file `name` (the controller reloads it). */
  writePolicy(name: string, yaml: string): Promise<void>;
}

export async function startPipyMesh(t: TestContext, o: {
  readonly pipy: string;
  readonly hosts: readonly MeshHost[];
  readonly policies: Readonly<Record<string, string>>;
  readonly protocols: Readonly<Record<string, PortProtocols>>;
  /** Wraps the rendering driver (e.g. to add policies the file store cannot read yet). */
  readonly driver?: (base: SidecarDriver) => SidecarDriver;
}): Promise<PipyMesh> {
  const dir = await mkdtemp(join(tmpdir(), "mfh2-mesh-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const hostsFile = join(dir, "hosts.yaml");
  const entry = (h: MeshHost, i: number) => {
    const [namespace, name] = h.service.split("/");
    return `  - name: host-${i}\n    address: ${h.ip}\n    services: [{ name: ${name}, namespace: ${namespace}, port: ${h.port} }]\n`;
  };
  await writeFile(hostsFile, `hosts:\n${o.hosts.map(entry).join("")}`);
  await mkdir(join(dir, "smi"));
  const writePolicy = (name: string, yaml: string) => writeFile(join(dir, "smi", `${name}.yaml`), yaml);
  for (const [name, yaml] of Object.entries(o.policies)) await writePolicy(name, yaml);
  const base = await loadControllerConfig(undefined, {
    dataDir: join(dir, "data"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", hostsFile, smiDirectory: join(dir, "smi"),
  });
  const config = { ...base, catalog: { ...base.catalog, coalesce: 10 }, providers: { ...base.providers, onprem: { hostsFile, debounce: 20 } } };
  const declared = declaringProtocols(new PipyDriver({ trustDomain: config.trustDomain, inboundPortOffset: INBOUND_OFFSET }), o.protocols);
  const driver = o.driver ? o.driver(declared) : declared;
  const controller = await startController(config, silentLogger(), { driver });
  t.after(() => controller.close());
  const api = async (path: string, body?: unknown): Promise<string> => {
    const res = await fetch(`${controller.adminUrl}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path} -> ${res.status} ${text}`);
    return text;
  };
  const caPem = await api("/api/v1/ca");
  const agents: Record<string, RunningAgent> = {};
  const pipyAdmin: Record<string, string> = {};
  const withSidecar = o.hosts.filter((h) => h.sidecar !== false);
  for (const h of withSidecar) {
    const agentDir = join(dir, "agents", h.ip);
    await mkdir(agentDir, { recursive: true });
    const { token } = JSON.parse(await api("/api/v1/tokens", { service: h.service, ttl: "10m", uses: 1 })) as { token: string };
    pipyAdmin[h.ip] = `127.0.0.1:${await freePort()}`;
    const config = await testConfig(agentDir, caPem, controller.grpcAddress, {
      hostAddresses: [h.ip], endpoints: [`${h.ip}:${h.port}`], service: h.service, ...(h.probes ? { probes: [...h.probes] } : {}),
      proxy: { enabled: true, pipy: o.pipy, adminAddress: pipyAdmin[h.ip], convergenceTimeout: "30s", stopGrace: "3s", drainDelay: "2s" },
    });
    await writeFile(config.tokenFile!, `${token}\n`);
    const agent = await startAgent(config, silentLogger());
    t.after(async () => void (await agent.close()));
    agents[h.ip] = agent;
  }
  for (const h of withSidecar) {
    await waitFor(async () => (await fetch(`http://${h.ip}:${HEALTH_PORT}/ready`).then((r) => r.status, () => 0)) === 200, { what: `${h.service} sidecar on ${h.ip} ready`, timeoutMs: 60_000 });
  }
  return { dir, agents, pipyAdmin, writePolicy };
}
