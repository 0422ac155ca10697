/**
 * Wiring step 4: the admin API (and the status page) and the token-free
 * metrics listener. The admin API listens before the sources sync, so
 * /readyz can say what is still being waited for.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { isLoopback, parseHostPort } from "../../common/address.js";
import { meshfedVersion } from "../../common/version.js";
import { addCaRoutes } from "../admin/ca-routes.js";
import { addControlRoutes } from "../admin/control-routes.js";
import { MetricsServer } from "../admin/metrics-server.js";
import { AdminRouter } from "../admin/router.js";
import { addReadRoutes } from "../admin/routes.js";
import { AdminServer } from "../admin/server.js";
import { addUiRoutes } from "../admin/ui-routes.js";
import { proxiesAcrossReplicas } from "../ha/replica-proxies.js";
import type { ProxyControlPlane } from "../proxy-control-plane/server.js";
import type { StateStore } from "../store/types.js";
import type { Assembly, LateBound } from "./assembly.js";
import type { Mesh } from "./mesh.js";
import type { SharedState } from "./shared-state.js";

export const ADMIN_TOKEN_KEY = "admin-token";

export interface Admin {
  readonly url: string;
  readonly metricsUrl: string | undefined;
}

/**
 * `ready()` is the composition root's: true once every step ran. The waiting
 * list and the providers list are read from the closer's parts.
 */
export async function startAdmin(a: Assembly, shared: SharedState, mesh: Mesh, plane: LateBound<ProxyControlPlane>, ready: () => boolean): Promise<Admin> {
  const { config, logger, log, closer } = a;
  const { certificates, tokens, leader, store, metrics, replicaId } = shared;
  const { catalog, sessions, registrations } = mesh;
  const router = addReadRoutes(new AdminRouter(), {
    readiness: () => {
      const waiting = closer.waiting();
      return { ready: ready() && waiting.length === 0, waiting: [...waiting] };
    },
    catalog: () => catalog.snapshot(),
    participants: () => catalog.participants(),
    certificates: () => certificates.certificates(),
    caBundle: () => certificates.caBundle(),
    providers: () => closer.statuses(),
    replica: () => ({ replicaId, version: meshfedVersion(), store: store.kind, leader: leader.isLeader(), leaderId: leader.leaderId() ?? null }),
    metrics: metrics.registry,
  });
  addControlRoutes(router, {
    tokens, certificates,
    proxies: () => proxiesAcrossReplicas(sessions.all().map((s) => s.info()), replicaId, registrations?.remote() ?? []),
    proxyConfig: (id, explain) => plane.get().proxyConfig(id, explain),
  });
  addCaRoutes(router, { certificates, leadership: leader });
  addUiRoutes(router);
  const adminListen = parseHostPort(config.admin.address);
  const admin = await a.start.step("admin", async () => AdminServer.listen({
    listen: adminListen,
    router,
    logger: logger.child({ component: "admin" }),
    ...(isLoopback(adminListen.host) ? {} : { token: await adminToken(store, log) }),
  }));
  // Bounded by the closer (shutdownTimeout), then destroyed: a long poll must not hold the stop.
  closer.add({ name: "admin", close: () => admin.close(), destroy: () => admin.destroy() });
  log.info({ admin: admin.url, dataDir: config.dataDir }, "admin API listening");
  let metricsUrl: string | undefined;
  if (config.metrics.address !== undefined) {
    const address = config.metrics.address;
    const server = await a.start.step("metrics", () => MetricsServer.listen(parseHostPort(address), metrics.registry, logger.child({ component: "metrics" })));
    closer.add({ name: "metrics", close: () => server.close() });
    metricsUrl = server.url;
    log.info({ url: metricsUrl }, "metrics served without the admin token");
  }
  return { url: admin.url, metricsUrl };
}

/**
 * The admin token guards a non-loopback admin API. It is generated once into
 * the data directory (mode 0600) so that the CLI on this host can read it and
 * a restart does not invalidate what operators have configured.
 */
async function adminToken(store: StateStore, log: Logger): Promise<string> {
  const existing = await store.get(ADMIN_TOKEN_KEY);
  if (existing) return Buffer.from(existing).toString("utf8").trim();
  const token = randomBytes(32).toString("base64url");
  // Replicas share one token: the first to create it wins.
  if (!(await store.create(ADMIN_TOKEN_KEY, `${token}\n`, { secret: true }))) return adminToken(store, log);
  log.info({ file: ADMIN_TOKEN_KEY, store: store.kind }, "generated an admin token in the state store");
  return token;
}
