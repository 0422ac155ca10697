// Shared setup for the pipy-repo*.test.ts files (not a test file itself): a
// real certificate manager on a temp FileStore with a clock tests can move, a
// real MeshCatalog fed by a hand-written fake provider, the Pipy repo on port
// 0, and proxy certificates enrolled from real CSRs.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request, type RequestOptions } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import type { ServiceRef } from "../../src/common/service.js";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import { createCertificateManager, type CaCertificateManager } from "../../src/controller/certificates/index.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { SidecarDriver } from "../../src/controller/drivers/types.js";
import { PipyRepoServer, type RepoRequestEvent } from "../../src/controller/proxy-control-plane/pipy-repo.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { makeCsr } from "../helpers/certificates.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";
import { generateKeyPem } from "../helpers/grpc-agent.js";

export interface EnrolledProxy {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly serial: string;
  readonly keyPem: string;
  readonly certPem: string;
  readonly caPem: string;
}

export interface RepoFixture {
  readonly dir: string;
  readonly repo: PipyRepoServer;
  readonly certificates: CaCertificateManager;
  readonly catalog: MeshCatalog;
  readonly provider: FakeProvider;
  readonly spec: FakeSpec;
  readonly events: RepoRequestEvent[];
  /** Moves the certificate manager's clock (not the TLS clock). */
  advance(ms: number): void;
  enroll(service: ServiceRef): Promise<EnrolledProxy>;
}

export async function startRepoFixture(
  t: { after: (fn: () => Promise<void>) => void },
  options: { driver?: SidecarDriver } = {},
): Promise<RepoFixture> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-repo-"));
  const store = await FileStore.open(join(dir, "data"));
  let offset = 0;
  const logger = silentLogger();
  const certificates = await createCertificateManager({ store, logger, now: () => new Date(Date.now() + offset) });
  const provider = new FakeProvider("onprem");
  const spec = new FakeSpec();
  const catalog = new MeshCatalog({
    providers: [provider], spec, certificates, connected: new FakeConnected(),
    providerPriority: ["onprem"], permissive: true, coalesceMs: 5, logger,
  });
  const stop = new AbortController();
  catalog.start(stop.signal);
  const events: RepoRequestEvent[] = [];
  const repo = await PipyRepoServer.listen({
    listen: { host: "127.0.0.1", port: 0 }, certificates, catalog,
    driver: options.driver ?? new PipyDriver({ trustDomain: certificates.trustDomain }),
    logger, onRequest: (e) => events.push(e),
  });
  t.after(async () => {
    await repo.close(200);
    stop.abort();
    catalog.close();
    await store.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return {
    dir, repo, certificates, catalog, provider, spec, events,
    advance: (ms) => void (offset += ms),
    async enroll(service) {
      const { keys, pem } = await generateKeyPem();
      const csr = await makeCsr({ keys, name: "", extensions: [] });
      const proxyId = randomUUID();
      const issued = await certificates.issueProxyCertificate(csr, { proxyId, kind: "sidecar", service });
      return { proxyId, service, serial: issued.record.serial, keyPem: pem, certPem: issued.certificatePem, caPem: issued.caBundlePem };
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly json: () => { error: { code: string; message: string } };
}

/**
 * One HTTPS request. The server is checked against the mesh CA only (no host
 * name: Pipy never checks one either, see PIPY-NOTES.md).
 */
export function repoRequest(port: number, method: string, path: string, tls: Pick<RequestOptions, "agent" | "cert" | "key" | "ca">, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, ...tls, checkServerIdentity: () => undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const data = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, json: () => JSON.parse(data.toString("utf8")) as { error: { code: string; message: string } } });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** TLS client options of an enrolled proxy. */
export function clientTls(p: EnrolledProxy): { cert: string; key: string; ca: string } {
  return { cert: p.certPem, key: p.keyPem, ca: p.caPem };
}
