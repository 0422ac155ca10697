/**
 * The admin API's read-only routes. JSON shapes are a contract (README,
 * docs/cli.md): scripts depend on the field names.
 */
import type { Registry } from "prom-client";
import type { CatalogSnapshot, ParticipantsReport } from "../catalog/types.js";
import type { CertificateRecord } from "../certificates/types.js";
import type { ProviderStatus } from "../providers/types.js";
import { json, type AdminRouter } from "./router.js";

export interface Readiness {
  readonly ready: boolean;
  /** Provider or spec ids that have not finished their first sync. */
  readonly waiting: readonly string[];
}

/** Which replica answers, and whether it leads (docs/ha.md). */
export interface ReplicaStatus {
  readonly replicaId: string;
  /** meshfed's version on this replica. */
  readonly version: string;
  readonly store: string;
  readonly leader: boolean;
  readonly leaderId: string | null;
}

export interface AdminSources {
  readiness(): Readiness;
  catalog(): CatalogSnapshot;
  participants(): ParticipantsReport;
  certificates(): readonly CertificateRecord[];
  caBundle(): string;
  providers(): readonly ProviderStatus[];
  replica(): ReplicaStatus;
  readonly metrics: Registry;
}

export function addReadRoutes(router: AdminRouter, sources: AdminSources): AdminRouter {
  return router
    .add("GET", "/healthz", () => ({ status: 200, body: "ok\n" }))
    .add("GET", "/readyz", () => {
      const r = sources.readiness();
      return r.ready ? { status: 200, body: "ready\n" } : { status: 503, body: `waiting for first sync: ${r.waiting.join(", ")}\n` };
    })
    .add("GET", "/metrics", async () => ({ status: 200, body: await sources.metrics.metrics(), contentType: sources.metrics.contentType }))
    .add("GET", "/api/v1/catalog", () => json(sources.catalog()))
    .add("GET", "/api/v1/participants", () => json(sources.participants()))
    .add("GET", "/api/v1/certificates", () => json(sources.certificates().map(certificateJson)))
    .add("GET", "/api/v1/providers", () => json(sources.providers()))
    .add("GET", "/api/v1/replica", () => json(sources.replica()))
    .add("GET", "/api/v1/ca", () => ({ status: 200, body: sources.caBundle(), contentType: "application/x-pem-file" }));
}

/** The contract fields first, then the extra facts that help an operator. */
function certificateJson(c: CertificateRecord) {
  return {
    serial: c.serial,
    kind: c.kind,
    identity: c.identity,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    state: c.state,
    service: c.service,
    ...(c.proxyId !== undefined ? { proxyId: c.proxyId } : {}),
    ...(c.revocationReason !== undefined ? { revocationReason: c.revocationReason } : {}),
    ...(c.ca !== undefined ? { ca: c.ca } : {}),
  };
}
