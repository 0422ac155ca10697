/**
 * Wiring step 1: what replicas share — cluster access, the state store,
 * leadership, the CA and certificate registry, the join tokens — and the
 * metrics registry every later part writes to.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ControllerMetrics } from "../../common/metrics.js";
import { createCertificateManager, type CaCertificateManager } from "../certificates/index.js";
import type { ControllerConfig } from "../config/schema.js";
import type { Leadership } from "../ha/leadership.js";
import { defaultReplicaId } from "../ha/replica-id.js";
import { startLeadership } from "../ha/start-leadership.js";
import { JoinTokens } from "../proxy-control-plane/join-tokens.js";
import { openStore } from "../store/open-store.js";
import { parseStoreLocation } from "../store/store-location.js";
import type { StateStore } from "../store/types.js";
import type { Assembly } from "./assembly.js";

export interface SharedState {
  readonly replicaId: string;
  /** The API server and the controller's own namespace, when providers.kubernetes is configured. */
  readonly cluster: { readonly kubeConfig: KubeConfig; readonly namespace: string } | undefined;
  readonly store: StateStore;
  readonly metrics: ControllerMetrics;
  readonly leader: Leadership;
  readonly certificates: CaCertificateManager;
  readonly tokens: JoinTokens;
}

export async function openSharedState(a: Assembly): Promise<SharedState> {
  const { config, logger, log, clock, closer } = a;
  const kube = config.providers.kubernetes;
  // Cluster access first: the Kubernetes state store needs it before anything else.
  const cluster = kube ? await a.start.step("cluster", () => clusterAccess(kube)) : undefined;
  const replicaId = config.ha.replicaId ?? defaultReplicaId();
  const store = await a.start.step("store", () => openStore({
    location: parseStoreLocation(config.store), dataDir: config.dataDir, replicaId,
    leaseTtlSeconds: Math.ceil(config.ha.leaseTtl / 1000), connectTimeoutMs: config.ha.connectTimeout, logger,
    ...(cluster ? { kubernetes: cluster } : {}),
  }));
  closer.add({ name: "store", close: () => store.close() });
  const metrics = new ControllerMetrics({ defaultMetrics: true });
  const leader = await a.start.step("leadership", () => startLeadership(store, { replicaId, ttlSeconds: Math.ceil(config.ha.leaseTtl / 1000), logger }));
  closer.add({ name: "leadership", close: () => leader.close() });
  metrics.leader.set(leader.isLeader() ? 1 : 0);
  leader.on("change", (isLeader) => {
    metrics.leader.set(isLeader ? 1 : 0);
    log.info({ replicaId, leader: isLeader }, isLeader ? "this replica now leads" : "this replica no longer leads");
  });
  // The CA, the certificate registry and the join tokens, loaded from the store
  // and, until this signal aborts, following the changes other replicas make.
  const signal = a.signal("shared-state");
  const certificates = await a.start.step("certificates", () => createCertificateManager({
    store, signal, logger, metrics,
    trustDomain: config.trustDomain,
    proxyValidity: config.certificates.proxyValidity,
    serviceValidity: config.certificates.serviceValidity,
    serviceJitter: config.certificates.serviceJitter,
    renewBefore: config.certificates.renewBefore,
    outageBudget: config.certificates.outageBudget,
    now: () => clock.now(),
  }));
  // Closed after everything that asks for certificates (the plane, the admin
  // API) and before the store: a service certificate may still be writing its
  // registry record and stored copy. Bounded; an unreachable store fails it.
  closer.add({ name: "certificate-writes", close: () => settledWithin(certificates.settled(), Math.min(5_000, config.shutdownTimeout / 2), log) });
  const tokens = await a.start.step("join-tokens", () => JoinTokens.load({ store, now: () => clock.now() }, (key, err) =>
    log.error({ key, err, code: "MESHFED_TOKEN_RECORD_CORRUPT" }, "a stored join token is unreadable; it is skipped and left in the store"),
  signal));
  log.info({ replicaId, store: store.kind, leader: leader.isLeader() }, "state store open");
  return { replicaId, cluster, store, metrics, leader, certificates, tokens };
}

/** The API server and the controller's own namespace (MeshConfig, webhook Service, state Secrets). */
async function clusterAccess(kube: NonNullable<ControllerConfig["providers"]["kubernetes"]>): Promise<{ kubeConfig: KubeConfig; namespace: string }> {
  const { loadKubeConfig, contextNamespace, DEFAULT_CONTROLLER_NAMESPACE } = await import("../kube/index.js");
  const kubeConfig = loadKubeConfig(kube);
  return { kubeConfig, namespace: kube.injector.service.namespace ?? contextNamespace(kubeConfig) ?? DEFAULT_CONTROLLER_NAMESPACE };
}

async function settledWithin(work: Promise<void>, ms: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([work.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  clearTimeout(timer);
  if (!done) log.warn({ code: "MESHFED_SHUTDOWN_WRITES_PENDING", waitedMs: ms }, "service certificate writes still under way; closing the store anyway");
}
