/**
 * The composition root (DESIGN.md §2): the one place that builds every
 * component, wires them through their interfaces, and hands each long-lived
 * part the same stop signal. Providers and drivers are registered here
 * explicitly, never as a side effect of importing a module.
 */
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import { formatHostPort, isLoopback, parseHostPort } from "../common/address.js";
import { systemClock, type Clock } from "../common/clock.js";
import { errorCode, MeshfedError } from "../common/errors.js";
import { ControllerMetrics } from "../common/metrics.js";
import { addCaRoutes } from "./admin/ca-routes.js";
import { addControlRoutes } from "./admin/control-routes.js";
import { AdminRouter } from "./admin/router.js";
import { addReadRoutes } from "./admin/routes.js";
import { addUiRoutes } from "./admin/ui-routes.js";
import { MetricsServer } from "./admin/metrics-server.js";
import { meshfedVersion } from "../common/version.js";
import { AdminServer } from "./admin/server.js";
import { MeshCatalog } from "./catalog/catalog.js";
import { createCertificateManager, type CaCertificateManager } from "./certificates/index.js";
import type { ControllerConfig } from "./config/schema.js";
import { JsonDriver } from "./drivers/json/json-driver.js";
import { PipyDriver } from "./drivers/pipy/pipy-driver.js";
import type { SidecarDriver } from "./drivers/types.js";
import { AgentsProvider } from "./providers/agents/provider.js";
import { OnPremProvider } from "./providers/onprem/index.js";
import { JoinTokens } from "./proxy-control-plane/join-tokens.js";
import { AttestNonces } from "./bootstrap/attest-nonces.js";
import { AzureImdsAttestation, type AttestationInventory } from "./bootstrap/azure-imds.js";
import type { AzureProvider } from "./providers/azure/index.js";
import { PipyRepoServer } from "./proxy-control-plane/pipy-repo.js";
import { ProxyControlPlane } from "./proxy-control-plane/server.js";
import { ProxySessions } from "./proxy-control-plane/sessions.js";
import type { EndpointProvider } from "./providers/types.js";
import { CompositeMeshSpec } from "./spec/composite-spec.js";
import { EmptyMeshSpec } from "./spec/empty-spec.js";
import type { KubeMeshConfig, MeshSettings } from "./spec/kubernetes/index.js";
import type { KubernetesProvider } from "./providers/kubernetes/index.js";
import type { RunningInjector } from "./injector/index.js";
import type { KubeConfig } from "@kubernetes/client-node";
import { FileMeshSpec } from "./spec/files/index.js";
import type { MeshSpec } from "./spec/types.js";
import { AgentRegistrations, type StreamDetails } from "./ha/agent-registrations.js";
import { proxiesAcrossReplicas, remoteConnected } from "./ha/replica-proxies.js";
import type { ConnectedProxy } from "./catalog/types.js";
import { LeaderPolledProvider } from "./ha/leader-polled-provider.js";
import { PublishedView } from "./ha/published-view.js";
import { runWhileLeader } from "./ha/leader-tasks.js";
import type { Leadership } from "./ha/leadership.js";
import { defaultReplicaId } from "./ha/replica-id.js";
import { startLeadership } from "./ha/start-leadership.js";
import { openStore } from "./store/open-store.js";
import { parseStoreLocation } from "./store/store-location.js";
import type { StateStore } from "./store/types.js";
import { VipAllocator } from "./vips/allocator.js";
import { VipRange } from "./vips/vip-range.js";

export const ADMIN_TOKEN_KEY = "admin-token";
const TOKEN_GC_INTERVAL_MS = 3_600_000;
/**
 * A replica that finds no published provider view waits this many lease
 * lifetimes (a dead leader's lease running out, an election, a first poll)
 * before polling the platform itself.
 */
const AWAIT_PUBLISHED_VIEW_LEASES = 3;
/** How often the leader checks for an interrupted CA rotation sweep (also on taking the lead). */
const CA_ROTATION_RESUME_MS = 600_000;
/** How often the leader sweeps the mesh VIPs (releases, duplicates), at most; shorter with a short grace period. */
const VIP_SWEEP_MS = 60_000;

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
  /** Graceful stop, bounded by `shutdownTimeout`; idempotent. */
  close(): Promise<void>;
}

/**
 * `parts.driver` overrides the configured sidecar driver (tests pass one with
 * other ports); `parts.clock` the wall clock of certificates and tokens (the
 * outage-budget test warps it).
 */
export async function startController(config: ControllerConfig, logger: Logger, parts: { readonly driver?: SidecarDriver; readonly clock?: Clock } = {}): Promise<RunningController> {
  const clock = parts.clock ?? systemClock;
  const stop = new AbortController();
  // Every long-lived part (informers, file watchers, servers) listens on this one signal.
  setMaxListeners(0, stop.signal);
  const log = logger.child({ component: "controller" });
  const kube = config.providers.kubernetes;
  // Cluster access first: the Kubernetes state store needs it before anything else.
  const cluster = kube ? await clusterAccess(kube) : undefined;
  const replicaId = config.ha.replicaId ?? defaultReplicaId();
  const store = await openStore({
    location: parseStoreLocation(config.store), dataDir: config.dataDir, replicaId,
    leaseTtlSeconds: Math.ceil(config.ha.leaseTtl / 1000), connectTimeoutMs: config.ha.connectTimeout, logger,
    ...(cluster ? { kubernetes: cluster } : {}),
  });
  const metrics = new ControllerMetrics({ defaultMetrics: true });
  let leadership: Leadership | undefined;
  let shared: SharedState;
  try {
    leadership = await startLeadership(store, { replicaId, ttlSeconds: Math.ceil(config.ha.leaseTtl / 1000), logger });
    shared = await loadSharedState(store, config, logger, metrics, clock, stop.signal);
  } catch (err) {
    // Nothing else holds the store yet: release it so a failed start leaves nothing running.
    await leadership?.close();
    stop.abort();
    await store.close();
    throw err;
  }
  const { certificates, tokens } = shared;
  const leader = leadership;
  metrics.leader.set(leader.isLeader() ? 1 : 0);
  leader.on("change", (isLeader) => {
    metrics.leader.set(isLeader ? 1 : 0);
    log.info({ replicaId, leader: isLeader }, isLeader ? "this replica now leads" : "this replica no longer leads");
  });
  log.info({ replicaId, store: store.kind, leader: leader.isLeader() }, "state store open");
  const agents = new AgentsProvider({ metrics });
  const sessions = new ProxySessions();
  metrics.setFleetSource({
    proxies: () => sessions.all().map((s) => ({
      agentVersion: s.agentVersion, proxyVersion: s.proxyVersion,
      // Nothing sent on this stream: the agent runs the version it said it holds.
      sentVersion: s.configSentAt > 0 ? s.configVersion : undefined,
      ackedVersion: s.lastAck?.version, ackOk: s.lastAck?.ok,
    })),
    certificates: () => certificates.certificates().filter((c) => c.state !== "revoked"),
  });
  const providers: EndpointProvider[] = [agents];
  const onprem = config.providers.onprem;
  const onpremProvider = onprem ? new OnPremProvider({ file: onprem.hostsFile, debounceMs: onprem.debounce, logger, metrics }) : undefined;
  if (onpremProvider) providers.push(onpremProvider);
  const specs: MeshSpec[] = [];
  const files = config.spec.files;
  if (files) specs.push(new FileMeshSpec({ dir: files.directory, debounceMs: files.debounce, logger, metrics, trustDomain: config.trustDomain }));
  // Platform SDKs load only when their provider is configured: each costs
  // one to two seconds of start-up that a controller without it should not pay.
  const azure = config.providers.azure;
  let attestation: AzureImdsAttestation | undefined;
  let nonces: AttestNonces | undefined;
  if (azure) {
    const { createAzureProvider } = await import("./providers/azure/index.js");
    const provider = createAzureProvider({ config: azure, logger, metrics });
    const imds = config.bootstrap.azureImds;
    if (imds) {
      nonces = new AttestNonces({ store, ttlMs: imds.nonceTtl, now: () => clock.now() });
      attestation = new AzureImdsAttestation({ settings: imds, nonces, logger, now: () => clock.now(), inventory: azureInventory(provider, azure.subscriptionId) });
      await attestation.load();
    }
    // Replicas on a shared store: only the leader polls ARM, the others serve what it publishes.
    providers.push(store.leased ? new LeaderPolledProvider({
      inner: provider, leadership: leader, logger, metrics,
      view: new PublishedView({ store, provider: provider.id, replicaId }),
      awaitViewMs: AWAIT_PUBLISHED_VIEW_LEASES * config.ha.leaseTtl,
    }) : provider);
  }
  let meshConfig: KubeMeshConfig | undefined;
  let kubernetes: { provider: KubernetesProvider; kubeConfig: KubeConfig; namespace: string } | undefined;
  if (kube && cluster) {
    const { createKubernetesProvider } = await import("./providers/kubernetes/index.js");
    const { createKubernetesMeshSpec, createKubeMeshConfig } = await import("./spec/kubernetes/index.js");
    const { kubeConfig } = cluster;
    const provider = createKubernetesProvider(kube, { kubeConfig, logger, metrics });
    kubernetes = { provider, ...cluster };
    providers.push(provider);
    if (kube.smi) specs.push(createKubernetesMeshSpec(kube, { kubeConfig, logger, metrics, trustDomain: config.trustDomain }));
    if (kube.meshConfig.enabled) {
      meshConfig = createKubeMeshConfig(kube, {
        kubeConfig, logger, metrics,
        defaults: {
          permissive: config.mesh.permissive, outboundPassthrough: config.mesh.outboundPassthrough, proxyValidityMs: config.certificates.proxyValidity,
          serviceValidityMs: config.certificates.serviceValidity, serviceJitterMs: config.certificates.serviceJitter,
        },
      });
    }
  }
  if (config.bootstrap.azureImds && !azure) log.error({ code: "MESHFED_ATTEST_DISABLED" }, "bootstrap.azureImds needs providers.azure (the inventory attested VMs are checked against); enrollment by attestation is off");
  const spec: MeshSpec = specs.length === 0 ? new EmptyMeshSpec() : specs.length === 1 ? specs[0]! : new CompositeMeshSpec(specs);

  let repo: PipyRepoServer | undefined;
  const registrations = store.leased
    ? new AgentRegistrations({ store, leased: store.leased, replicaId, agents, logger, streamOf: (proxyId) => streamDetails(sessions, proxyId) })
    : undefined;
  // The allocator reads which services exist from the catalog, which reads the VIPs from it: one presence function breaks the knot.
  const presence: { catalog?: MeshCatalog } = {};
  const vips = new VipAllocator({
    store, range: VipRange.parse(config.mesh.vipRange), releaseAfterMs: config.mesh.vipReleaseAfter, leadership: leader, logger, metrics,
    presence: { has: (key) => presence.catalog?.has(key) ?? false, keys: () => presence.catalog?.keys() ?? [] },
    now: () => clock.now(),
  });
  const catalog = new MeshCatalog({
    vips,
    providers,
    spec,
    certificates,
    // Agents on their gRPC streams, and pod sidecars polling the repo.
    connected: { connected: () => connectedProxies(sessions, repo, registrations, replicaId) },
    providerPriority: config.catalog.providerPriority,
    corroborateOnly: config.agents.selfRegistration ? [] : [agents.id],
    permissive: config.mesh.permissive,
    outboundPassthrough: config.mesh.outboundPassthrough,
    coalesceMs: config.catalog.coalesce,
    maxDelayMs: config.catalog.maxDelay,
    logger: logger.child({ component: "catalog" }),
    metrics,
  });
  presence.catalog = catalog;

  let grpcAddress = config.grpc.address;
  const sources: Array<{ id: string; start(signal: AbortSignal): Promise<void> }> = [...providers, spec, ...(meshConfig ? [meshConfig] : [])];
  const waiting = new Set<string>(sources.map((s) => s.id));
  let ready = false;
  const router = addReadRoutes(new AdminRouter(), {
    readiness: () => ({ ready, waiting: [...waiting] }),
    catalog: () => catalog.snapshot(),
    participants: () => catalog.participants(),
    certificates: () => certificates.certificates(),
    caBundle: () => certificates.caBundle(),
    providers: () => [
      ...providers.map((p) => p.status()),
      ...(spec instanceof CompositeMeshSpec ? spec.parts : [spec]).map((p) => p.status()),
      ...(meshConfig ? [meshConfig.status()] : []),
    ],
    replica: () => ({ replicaId, version: meshfedVersion(), store: store.kind, leader: leader.isLeader(), leaderId: leader.leaderId() ?? null }),
    metrics: metrics.registry,
  });
  addControlRoutes(router, {
    tokens, certificates,
    proxies: () => proxiesAcrossReplicas(sessions.all().map((s) => s.info()), replicaId, registrations?.remote() ?? []),
    proxyConfig: (id, explain) => {
      if (!plane) throw new MeshfedError("MESHFED_NOT_READY", "the proxy control plane is not running yet", { details: { status: 503 } });
      return plane.proxyConfig(id, explain);
    },
  });
  addCaRoutes(router, { certificates, leadership: leader });
  addUiRoutes(router);
  const adminListen = parseHostPort(config.admin.address);
  const admin = await AdminServer.listen({
    listen: adminListen,
    router,
    logger: logger.child({ component: "admin" }),
    ...(isLoopback(adminListen.host) ? {} : { token: await adminToken(store, log) }),
  });
  log.info({ admin: admin.url, dataDir: config.dataDir }, "admin API listening");

  let plane: ProxyControlPlane | undefined;
  let injector: RunningInjector | undefined;
  let repoAddress: string | undefined;
  let injectorAddress: string | undefined;
  let metricsServer: MetricsServer | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await injector?.close(Math.min(2_000, config.shutdownTimeout / 4));
      await repo?.close(Math.min(2_000, config.shutdownTimeout / 4));
      await plane?.close(Math.min(5_000, config.shutdownTimeout / 2));
      await leader.close();
      stop.abort();
      catalog.close();
      // Its queued writes finish before the store closes.
      await vips.close();
      const timer = setTimeout(() => admin.destroy(), config.shutdownTimeout);
      await admin.close();
      clearTimeout(timer);
      await metricsServer?.close();
      // A service certificate the plane or the admin API asked for may still
      // be writing its registry record and stored copy: let it finish (bounded,
      // an unreachable store fails it) before the store closes under it.
      await settledWithin(certificates.settled(), Math.min(5_000, config.shutdownTimeout / 2), log);
      await store.close();
      log.info("controller stopped");
    })();
    return closing;
  };

  try {
    if (config.metrics.address !== undefined) {
      metricsServer = await MetricsServer.listen(parseHostPort(config.metrics.address), metrics.registry, logger.child({ component: "metrics" }));
      log.info({ url: metricsServer.url }, "metrics served without the admin token");
    }
    // Every source syncs in parallel; readiness waits for all of them.
    await Promise.all(
      sources.map(async (source) => {
        await source.start(stop.signal);
        waiting.delete(source.id);
        log.info({ source: source.id }, "first sync done");
      }),
    );
    // Before the plane: a replica that serves agents must already see the others' endpoints.
    await registrations?.start(stop.signal);
    runWhileLeader(leader, {
      name: "token-gc", intervalMs: TOKEN_GC_INTERVAL_MS,
      run: async () => {
        const deleted = await tokens.collectGarbage();
        if (deleted > 0) log.info({ deleted }, "expired join tokens deleted");
        const spent = (await nonces?.collectGarbage()) ?? 0;
        if (spent > 0) log.info({ deleted: spent }, "expired attestation nonces deleted");
      },
    }, log, stop.signal);
    runWhileLeader(leader, { name: "ca-rotation-resume", intervalMs: CA_ROTATION_RESUME_MS, run: () => certificates.resumeCaRotation() }, log, stop.signal);
    // Loaded before the catalog's first update, so the first configs already carry the VIPs.
    await vips.start(stop.signal);
    catalog.start(stop.signal);
    const vipFailed = (err: unknown) => log.error({ err, code: errorCode(err) }, "mesh VIP bookkeeping failed; the next sweep retries");
    // A policy change can add or drop split roots (names apps call): a full sweep, rare enough to afford.
    catalog.on("change", (change) => void (change.spec ? vips.sweep() : vips.observe(change.services)).catch(vipFailed));
    runWhileLeader(leader, { name: "vip-sweep", intervalMs: Math.min(VIP_SWEEP_MS, Math.max(1_000, config.mesh.vipReleaseAfter / 4)), run: () => vips.sweep() }, log, stop.signal);
    if (meshConfig) applyMeshConfig(meshConfig, catalog, certificates, config, log);
    const grpcListen = parseHostPort(config.grpc.address);
    // One driver for both transports: a sidecar polling the repo and an agent
    // on the stream get the same rendering of the same view.
    const driver = parts.driver ?? (config.driver === "pipy" ? new PipyDriver({ trustDomain: config.trustDomain }) : new JsonDriver());
    plane = await ProxyControlPlane.start({ listen: grpcListen, sessions, certificates, tokens, catalog, driver, agents, logger, metrics, limits: config.limits, clock,
      keepaliveMs: config.grpc.keepalive.time, keepaliveTimeoutMs: config.grpc.keepalive.timeout, trustDomain: config.trustDomain, ...(attestation ? { attestation } : {}),
      // The hosts file's probes go to the agents on those hosts (docs/agent.md, "Health probes").
      ...(onpremProvider ? { declaredProbes: { probes: (svc, addresses) => onpremProvider.declaredProbes(svc, addresses), onChange: (fn) => onpremProvider.onProbesChange(fn) } } : {}) });
    grpcAddress = formatHostPort({ host: grpcListen.host, port: plane.port });
    if (config.repo.address !== undefined) {
      const repoListen = parseHostPort(config.repo.address);
      const pods = kubernetes?.provider;
      repo = await PipyRepoServer.listen({
        listen: repoListen, certificates, catalog, driver, logger, metrics,
        ...(pods ? { locate: (proxyId: string) => locatePod(pods, proxyId) } : {}),
      });
      repoAddress = formatHostPort({ host: repoListen.host, port: repo.port });
    }
    if (kube?.injector.enabled && kubernetes) {
      if (repo === undefined) throw new MeshfedError("MESHFED_INJECTOR_CONFIG", "providers.kubernetes.injector needs repo.address: injected sidecars poll the controller's Pipy repo");
      const { startInjector, ClientNodeInjectorApi } = await import("./injector/index.js");
      const provider = kubernetes.provider;
      injector = await startInjector({
        config: kube.injector, listen: parseHostPort(kube.injector.address), namespace: kubernetes.namespace, repoPort: repo.port,
        driver, certificates, api: new ClientNodeInjectorApi(kubernetes.kubeConfig), logger, meshName: kube.meshName,
        namespaces: { isMeshed: (ns) => provider.isMeshed(ns), wantsMetrics: (ns) => provider.wantsMetrics(ns), servicesSelecting: (ns, labels) => provider.servicesSelecting(ns, labels) },
        store, now: () => clock.now(),
        // Only a healthy cache may say a pod is gone: a degraded informer may have missed its creation.
        pods: { synced: () => provider.status().state === "synced", isMeshed: (ns) => provider.isMeshed(ns), hasProxy: (id) => provider.podOfProxy(id) !== undefined },
      });
      injectorAddress = formatHostPort({ host: parseHostPort(kube.injector.address).host, port: injector.port });
      const running = injector;
      runWhileLeader(leader, {
        name: "sidecar-reaper", intervalMs: kube.injector.orphanSweepInterval,
        run: async () => {
          const { reaped, failed } = await running.reapOrphans();
          if (reaped > 0 || failed > 0) log.info({ reaped, failed }, "bootstrap Secrets of deleted pods cleaned up");
        },
      }, log, stop.signal);
      // CA rotation: sidecars have no stream to renew over; the leader renews their
      // certificates in their bootstrap Secrets (injector/sidecar-renewal.ts), at once
      // when the signing root changes and on every sweep while the rotation re-issues.
      const renewSidecars = async () => {
        const { renewed, failed } = await running.renewSidecarCertificates();
        if (renewed > 0 || failed > 0) log.info({ renewed, failed }, "sidecar proxy certificates renewed in their bootstrap Secrets");
      };
      runWhileLeader(leader, { name: "sidecar-renewal", intervalMs: kube.injector.orphanSweepInterval, run: renewSidecars }, log, stop.signal);
      const offCaChange = certificates.onCaChange((change) => {
        if (change.phase === "reissuing" && leader.isLeader()) renewSidecars().catch((err: unknown) => log.error({ err, code: errorCode(err) }, "renewing sidecar certificates failed; the next sweep retries"));
      });
      stop.signal.addEventListener("abort", offCaChange, { once: true });
    }
    ready = true;
  } catch (err) {
    await close();
    throw err;
  }
  log.info({ ...catalog.counts, providers: providers.map((p) => p.id), spec: spec.id }, "controller ready");
  return {
    adminUrl: admin.url, grpcAddress, catalog, replicaId, close,
    ...(metricsServer !== undefined ? { metricsUrl: metricsServer.url } : {}),
    ...(repoAddress !== undefined ? { repoAddress } : {}),
    ...(injectorAddress !== undefined ? { injectorAddress } : {}),
  };
}

/** The Azure provider as the inventory attested documents are checked against (bootstrap/azure-imds.ts). */
function azureInventory(provider: AzureProvider, subscriptionId: string): AttestationInventory {
  return {
    subscriptionId,
    ready: () => provider.attestationReady(),
    instance: (vmId) => provider.attestableInstance(vmId),
    refresh: (minIntervalMs) => provider.refreshForAttestation(minIntervalMs),
  };
}

/** Agents on this replica's streams, pod sidecars polling its repo, and other replicas' agents. */
function connectedProxies(sessions: ProxySessions, repo: PipyRepoServer | undefined, registrations: AgentRegistrations | undefined, replicaId: string): ConnectedProxy[] {
  const local = [...sessions.connected(), ...(repo?.sidecars.connected() ?? [])];
  if (registrations === undefined) return local;
  return [...local.map((p) => ({ ...p, replicaId })), ...remoteConnected(registrations.remote(), new Set(local.map((p) => p.proxyId)))];
}

/** What other replicas learn about a proxy connected here, from its session. */
function streamDetails(sessions: ProxySessions, proxyId: string): StreamDetails | undefined {
  const s = sessions.get(proxyId);
  if (s === undefined) return undefined;
  return { serial: s.identity.serial, peer: s.identity.peer, addresses: s.addresses, agentVersion: s.agentVersion, proxyVersion: s.proxyVersion, connectedAt: s.connectedAt };
}

/** A polling sidecar's pod, by the proxy-id annotation the injector put on it. */
function locatePod(provider: KubernetesProvider, proxyId: string): { addresses: readonly string[]; pod: string } | undefined {
  const pod = provider.podOfProxy(proxyId);
  return pod === undefined ? undefined : { addresses: pod.ips, pod: `${pod.namespace}/${pod.name}` };
}

/** The API server and the controller's own namespace (MeshConfig, webhook Service, state Secrets). */
async function clusterAccess(kube: NonNullable<ControllerConfig["providers"]["kubernetes"]>): Promise<{ kubeConfig: KubeConfig; namespace: string }> {
  const { loadKubeConfig, contextNamespace, DEFAULT_CONTROLLER_NAMESPACE } = await import("./kube/index.js");
  const kubeConfig = loadKubeConfig(kube);
  return { kubeConfig, namespace: kube.injector.service.namespace ?? contextNamespace(kubeConfig) ?? DEFAULT_CONTROLLER_NAMESPACE };
}

interface SharedState {
  readonly certificates: CaCertificateManager;
  readonly tokens: JoinTokens;
}

async function settledWithin(work: Promise<void>, ms: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([work.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  clearTimeout(timer);
  if (!done) log.warn({ code: "MESHFED_SHUTDOWN_WRITES_PENDING", waitedMs: ms }, "service certificate writes still under way; closing the store anyway");
}

/**
 * The CA, the certificate registry and the join tokens, loaded from the store
 * and, until `signal` aborts, following the changes other replicas make.
 */
async function loadSharedState(store: StateStore, config: ControllerConfig, logger: Logger, metrics: ControllerMetrics, clock: Clock, signal: AbortSignal): Promise<SharedState> {
  const certificates = await createCertificateManager({
    store,
    signal,
    logger,
    metrics,
    trustDomain: config.trustDomain,
    proxyValidity: config.certificates.proxyValidity,
    serviceValidity: config.certificates.serviceValidity,
    serviceJitter: config.certificates.serviceJitter,
    renewBefore: config.certificates.renewBefore,
    outageBudget: config.certificates.outageBudget,
    now: () => clock.now(),
  });
  const log = logger.child({ component: "controller" });
  const tokens = await JoinTokens.load({ store, now: () => clock.now() }, (key, err) =>
    log.error({ key, err, code: "MESHFED_TOKEN_RECORD_CORRUPT" }, "a stored join token is unreadable; it is skipped and left in the store"),
  signal);
  return { certificates, tokens };
}

/**
 * MeshConfig (Kubernetes ConfigMap) overrides the file's mesh settings and is
 * hot-reloaded: permissive mode and outbound passthrough re-render every proxy, lifetimes apply to
 * certificates issued from then on. A refused value keeps the previous ones.
 */
function applyMeshConfig(meshConfig: KubeMeshConfig, catalog: MeshCatalog, certificates: CaCertificateManager, config: ControllerConfig, log: Logger): void {
  const apply = (s: MeshSettings) => {
    catalog.setPermissive(s.permissive);
    catalog.setOutboundPassthrough(s.outboundPassthrough ?? true);
    try {
      certificates.setLifetimes({ proxyValidity: s.proxyValidityMs, serviceValidity: s.serviceValidityMs, serviceJitter: s.serviceJitterMs, renewBefore: config.certificates.renewBefore });
    } catch (err) {
      log.error({ err, code: errorCode(err) }, "MeshConfig certificate lifetimes refused; the previous ones stay");
    }
  };
  apply(meshConfig.current());
  meshConfig.on("change", ({ settings, changed }) => {
    log.info({ changed }, "MeshConfig changed");
    apply(settings);
  });
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

