// Shared pieces of the Egress and IngressBackend real-Pipy tests: proxy views
// from a real MeshCatalog (fake provider and spec: the policies are the
// normalised objects the spec layer produces, built in the test), rendered by
// the Pipy driver and run by a real Pipy as uid 65534 inside a namespace,
// with service certificates from the real CA.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { silentLogger } from "../../src/common/logger.js";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { MemoryStore } from "../helpers/certificates.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";
import { lines, type NetnsHost } from "../helpers/netns.js";
import { PIPY_UID, startNetnsPipy } from "../helpers/netns-mesh.js";

export { PIPY_UID };
export const PEER = fileURLToPath(new URL("./egress-peer.js", import.meta.url));

export const sa = (namespace: string, name: string) => ({ kind: "ServiceAccount" as const, namespace, name });

/** A started catalog over fixed endpoints ("ns/name" -> ["ip:port"]) and policies. */
export function catalogOf(t: TestContext, endpoints: Record<string, string[]>, spec: Partial<MeshSpecSnapshot>, outboundPassthrough: boolean): MeshCatalog {
  const provider = new FakeProvider("onprem");
  for (const [key, list] of Object.entries(endpoints)) provider.set(key, list, false);
  const fakeSpec = new FakeSpec();
  fakeSpec.set(spec);
  const catalog = new MeshCatalog({
    providers: [provider], spec: fakeSpec, certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive: false, outboundPassthrough, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());
  return catalog;
}

export interface ProxyRunner {
  /** Renders the view and runs it in `host`; resolves once the sidecar says it is ready. */
  start(host: NetnsHost, view: ProxyView, ports: { outboundPort: number; healthPort: number; transparentPort: number; admin: number }): Promise<void>;
  /** Writes a service certificate (and key, CA) for `ns/name` into files; returns their paths. */
  certificate(namespace: string, name: string): Promise<{ cert: string; key: string; ca: string }>;
  logs(): string;
}

export async function proxyRunner(t: TestContext, pipy: string, prefix: string): Promise<ProxyRunner> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  // Pipy runs as nobody: it must read its codebase.
  await chmod(dir, 0o755);
  const ca = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const logs: { name: string; all: string[] }[] = [];
  let n = 0;
  return {
    start: async (host, view, ports) => {
      n++;
      const driver = new PipyDriver({ trustDomain: "cluster.local", outboundPort: ports.outboundPort, healthPort: ports.healthPort, transparentPort: ports.transparentPort });
      const cert = await ca.serviceCertificate(view.proxy.identity);
      await startNetnsPipy(host, { pipy, root: join(dir, `proxy-${n}`), files: driver.render(view).files, cert, admin: ports.admin, name: `${view.proxy.identity.name}#${n}`, logs });
    },
    certificate: async (namespace, name) => {
      const cert = await ca.serviceCertificate({ namespace, name });
      const base = join(dir, `cert-${namespace}-${name}`);
      await writeFile(`${base}.crt`, cert.certificatePem, { mode: 0o644 });
      await writeFile(`${base}.key`, cert.privateKeyPem, { mode: 0o644 });
      await writeFile(`${base}.ca`, cert.caBundlePem, { mode: 0o644 });
      return { cert: `${base}.crt`, key: `${base}.key`, ca: `${base}.ca` };
    },
    logs: () => logs.map((l) => `--- ${l.name}\n${l.all.slice(-20).join("\n")}`).join("\n"),
  };
}

/** Runs egress-peer.js in `host` (as `uid` when given) and parses its JSON line. */
export async function peer<T>(host: NetnsHost, mode: Record<string, unknown>, uid?: number): Promise<T> {
  const drop = uid === undefined ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];
  const out = await host.exec([...drop, process.execPath, PEER, JSON.stringify(mode)]).catch((e: Error) => JSON.stringify({ error: e.message }));
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as T;
}

/** Starts the servers of egress-peer.js's "serve" mode in `host`. */
export async function servers(host: NetnsHost, mode: Record<string, unknown>): Promise<void> {
  const child = host.spawn([process.execPath, PEER, JSON.stringify({ mode: "serve", ...mode })]);
  await lines(child).line((l) => l === "listening");
}

/** Pipy's admin /metrics text of the sidecar whose admin port is `admin`, in `host`. */
export async function metricsOf(host: NetnsHost, admin: number): Promise<string> {
  const r = await peer<{ body?: string }>(host, { mode: "http", url: `http://127.0.0.1:${admin}/metrics` }, PIPY_UID);
  return r.body ?? "";
}
