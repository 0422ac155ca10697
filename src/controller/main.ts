/**
 * The composition root (DESIGN.md §2): the one place that builds every
 * component, wires them through their interfaces, and registers each started
 * part on one last-in-first-out closer (common/lifecycle.ts). It reads as the
 * list of wiring steps (controller/wiring/); the closer's list is the only
 * source of the shutdown order, of readiness and of the providers list.
 * Providers and drivers are registered explicitly, never as a side effect of
 * importing a module.
 */
import type { Logger } from "pino";
import { systemClock, type Clock } from "../common/clock.js";
import type { MeshCatalog } from "./catalog/catalog.js";
import type { ControllerConfig } from "./config/schema.js";
import type { SidecarDriver } from "./drivers/types.js";
import type { ProxyControlPlane } from "./proxy-control-plane/server.js";
import { startAdmin } from "./wiring/admin.js";
import { assembly, LateBound } from "./wiring/assembly.js";
import { startLeaderTasks } from "./wiring/leader-tasks.js";
import { applyMeshConfig } from "./wiring/mesh-config.js";
import { buildMesh, startMesh } from "./wiring/mesh.js";
import { startServing } from "./wiring/serving.js";
import { openSharedState } from "./wiring/shared-state.js";
import { buildSources, registerSources } from "./wiring/sources.js";

export { ADMIN_TOKEN_KEY } from "./wiring/admin.js";

export interface RunningController {
  readonly adminUrl: string;
  /** host:port agents dial (the bound port when 0 was asked for). */
  readonly grpcAddress: string;
  /** host:port of the HTTPS Pipy repo for polling sidecars, when enabled. */
  readonly repoAddress?: string;
  /** host:port of the sidecar injector's admission webhook (HTTPS), when enabled. */
  readonly injectorAddress?: string;
  /** The token-free metrics URL, when `metrics.address` is set. */
  readonly metricsUrl?: string;
  readonly catalog: MeshCatalog;
  readonly replicaId: string;
  /** Graceful stop, last started first, each part bounded by `shutdownTimeout`; idempotent. */
  close(): Promise<void>;
  /** Abrupt stop: every part not closed yet is destroyed (also cuts a close() under way short); idempotent. */
  destroy(err?: Error): Promise<void>;
}

export interface ControllerParts {
  /** Overrides the configured sidecar driver (tests pass one with other ports). */
  readonly driver?: SidecarDriver;
  /** The wall clock of certificates and tokens (the outage-budget test warps it). */
  readonly clock?: Clock;
  /** Tests only: the start step of this name fails (the failure-at-start test walks every step). */
  readonly failAt?: string;
  /** Tests only: told the name of every start step as it begins. */
  readonly observeStep?: (step: string) => void;
}

/**
 * Starts the controller, or fails naming the part that did not start
 * (`details.part`) after closing everything that had started.
 */
export async function startController(config: ControllerConfig, logger: Logger, parts: ControllerParts = {}): Promise<RunningController> {
  const clock = parts.clock ?? systemClock;
  const a = assembly(config, logger, clock, { ...(parts.failAt !== undefined ? { failAt: parts.failAt } : {}), ...(parts.observeStep ? { observe: parts.observeStep } : {}) });
  const plane = new LateBound<ProxyControlPlane>("the proxy control plane");
  let ready = false;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= a.closer.close().then((report) => {
      if (report.failed.length > 0) a.log.warn({ failed: report.failed.map((f) => f.part) }, "controller stopped; some parts did not close cleanly");
      else a.log.info("controller stopped");
    });
    return closing;
  };
  try {
    const shared = await openSharedState(a);
    const sources = await a.start.step("sources", () => buildSources(a, shared));
    const mesh = await a.start.step("mesh", () => buildMesh(a, shared, sources));
    const startSources = registerSources(a, sources);
    const admin = await startAdmin(a, shared, mesh, plane, () => ready);
    await startSources();
    await startMesh(a, mesh);
    startLeaderTasks(a, shared, sources, mesh);
    // Mesh-wide settings from the cluster, before the first config is served.
    applyMeshConfig(a, shared, sources, mesh);
    const serving = await startServing(a, shared, sources, mesh, plane, { clock, ...(parts.driver ? { driver: parts.driver } : {}) });
    ready = true;
    a.log.info({ ...mesh.catalog.counts, providers: sources.providers.map((p) => p.id), spec: sources.spec.id, parts: a.closer.names() }, "controller ready");
    return {
      adminUrl: admin.url, grpcAddress: serving.grpcAddress, catalog: mesh.catalog, replicaId: shared.replicaId,
      close, destroy: (err) => a.closer.destroy(err),
      ...(admin.metricsUrl !== undefined ? { metricsUrl: admin.metricsUrl } : {}),
      ...(serving.repoAddress !== undefined ? { repoAddress: serving.repoAddress } : {}),
      ...(serving.injectorAddress !== undefined ? { injectorAddress: serving.injectorAddress } : {}),
    };
  } catch (err) {
    // Whatever had started closes, last first: a failed start leaves nothing running.
    await close();
    throw err;
  }
}
