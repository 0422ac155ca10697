/**
 * Wiring step 6: what proxies talk to — the gRPC proxy control plane for
 * agents, the HTTPS Pipy repo for sidecars that poll, and the sidecar
 * injector (with its leader tasks). Started last: by then the catalog holds
 * every source's first view, so the first configs are complete.
 */
import { errorCode, MeshfedError } from "../../common/errors.js";
import { formatHostPort, parseHostPort } from "../../common/address.js";
import type { Clock } from "../../common/clock.js";
import { JsonDriver } from "../drivers/json/json-driver.js";
import { PipyDriver } from "../drivers/pipy/pipy-driver.js";
import type { SidecarDriver } from "../drivers/types.js";
import type { KubernetesProvider } from "../providers/kubernetes/index.js";
import { PipyRepoServer } from "../proxy-control-plane/pipy-repo.js";
import { ProxyControlPlane } from "../proxy-control-plane/server.js";
import type { Assembly, LateBound } from "./assembly.js";
import { leaderTask } from "./leader-tasks.js";
import type { Mesh } from "./mesh.js";
import type { SharedState } from "./shared-state.js";
import type { Sources } from "./sources.js";

export interface Serving {
  /** host:port agents dial (the bound port when 0 was asked for). */
  readonly grpcAddress: string;
  readonly repoAddress: string | undefined;
  readonly injectorAddress: string | undefined;
}

export async function startServing(a: Assembly, shared: SharedState, sources: Sources, mesh: Mesh, planeRef: LateBound<ProxyControlPlane>, parts: { readonly driver?: SidecarDriver; readonly clock: Clock }): Promise<Serving> {
  const { config, logger, closer } = a;
  const { certificates, tokens, metrics } = shared;
  const { catalog, sessions } = mesh;
  const { agents, attestation, onprem, kubernetes } = sources;
  const grpcListen = parseHostPort(config.grpc.address);
  // One driver for both transports: a sidecar polling the repo and an agent
  // on the stream get the same rendering of the same view.
  const driver: SidecarDriver = parts.driver ?? (config.driver === "pipy" ? new PipyDriver({ trustDomain: config.trustDomain }) : new JsonDriver());
  // Subscribed before either transport: the driver drops stale rendered parts before they render the update.
  closer.defer("driver:catalog-change", catalog.on("change", () => driver.catalogChanged?.()));
  const plane = await a.start.step("grpc", () => ProxyControlPlane.start({ listen: grpcListen, sessions, certificates, tokens, catalog, driver, agents, logger, metrics, limits: config.limits, clock: parts.clock,
    keepaliveMs: config.grpc.keepalive.time, keepaliveTimeoutMs: config.grpc.keepalive.timeout, reconnectGraceMs: config.grpc.reconnectGrace, massDisconnect: { threshold: config.grpc.massDisconnect.threshold, minProxies: config.grpc.massDisconnect.minProxies, maxHoldMs: config.grpc.massDisconnect.maxHold }, trustDomain: config.trustDomain, ...(attestation ? { attestation } : {}),
    // The hosts file's probes go to the agents on those hosts (docs/agent.md, "Health probes").
    ...(onprem ? { declaredProbes: { probes: (svc, addresses) => onprem.declaredProbes(svc, addresses), onChange: (fn) => onprem.onProbesChange(fn) } } : {}) }));
  closer.add({ name: "grpc", close: () => plane.close(Math.min(5_000, config.shutdownTimeout / 2)), destroy: () => plane.destroy() });
  planeRef.set(plane);
  const grpcAddress = formatHostPort({ host: grpcListen.host, port: plane.port });
  let repo: PipyRepoServer | undefined;
  let repoAddress: string | undefined;
  if (config.repo.address !== undefined) {
    const repoListen = parseHostPort(config.repo.address);
    const pods = kubernetes?.provider;
    const server = await a.start.step("pipy-repo", () => PipyRepoServer.listen({
      listen: repoListen, certificates, catalog, driver, logger, metrics,
      ...(pods ? { locate: (proxyId: string) => locatePod(pods, proxyId) } : {}),
    }));
    closer.add({ name: "pipy-repo", close: () => server.close(Math.min(2_000, config.shutdownTimeout / 4)), destroy: () => server.destroy() });
    mesh.addPollingSidecars(server.sidecars);
    repo = server;
    repoAddress = formatHostPort({ host: repoListen.host, port: server.port });
  }
  const kube = config.providers.kubernetes;
  let injectorAddress: string | undefined;
  if (kube?.injector.enabled && kubernetes) {
    const repoPort = repo?.port;
    const injector = await a.start.step("injector", async () => {
      if (repoPort === undefined) throw new MeshfedError("MESHFED_INJECTOR_CONFIG", "providers.kubernetes.injector needs repo.address: injected sidecars poll the controller's Pipy repo");
      const { startInjector, ClientNodeInjectorApi } = await import("../injector/index.js");
      const provider = kubernetes.provider;
      return startInjector({
        config: kube.injector, listen: parseHostPort(kube.injector.address), namespace: kubernetes.namespace, repoPort,
        driver, certificates, api: new ClientNodeInjectorApi(kubernetes.kubeConfig), logger, meshName: kube.meshName,
        namespaces: { isMeshed: (ns) => provider.isMeshed(ns), wantsMetrics: (ns) => provider.wantsMetrics(ns), servicesSelecting: (ns, labels) => provider.servicesSelecting(ns, labels) },
        store: shared.store, now: () => parts.clock.now(),
        // Only a healthy cache may say a pod is gone: a degraded informer may have missed its creation.
        pods: { synced: () => provider.status().state === "synced", isMeshed: (ns) => provider.isMeshed(ns), hasProxy: (id) => provider.podOfProxy(id) !== undefined },
      });
    });
    closer.add({ name: "injector", close: () => injector.close(Math.min(2_000, config.shutdownTimeout / 4)) });
    injectorAddress = formatHostPort({ host: parseHostPort(kube.injector.address).host, port: injector.port });
    leaderTask(a, shared, {
      name: "sidecar-reaper", intervalMs: kube.injector.orphanSweepInterval,
      run: async () => {
        const { reaped, failed } = await injector.reapOrphans();
        if (reaped > 0 || failed > 0) a.log.info({ reaped, failed }, "bootstrap Secrets of deleted pods cleaned up");
      },
    });
    // CA rotation: sidecars have no stream to renew over; the leader renews their
    // certificates in their bootstrap Secrets (injector/sidecar-renewal.ts), at once
    // when the signing root changes and on every sweep while the rotation re-issues.
    const renewSidecars = async () => {
      const { renewed, failed } = await injector.renewSidecarCertificates();
      if (renewed > 0 || failed > 0) a.log.info({ renewed, failed }, "sidecar proxy certificates renewed in their bootstrap Secrets");
    };
    leaderTask(a, shared, { name: "sidecar-renewal", intervalMs: kube.injector.orphanSweepInterval, run: renewSidecars });
    const offCaChange = certificates.onCaChange((change) => {
      if (change.phase === "reissuing" && shared.leader.isLeader()) renewSidecars().catch((err: unknown) => a.log.error({ err, code: errorCode(err) }, "renewing sidecar certificates failed; the next sweep retries"));
    });
    closer.defer("injector:ca-change", offCaChange);
  }
  return { grpcAddress, repoAddress, injectorAddress };
}

/** A polling sidecar's pod, by the proxy-id annotation the injector put on it. */
function locatePod(provider: KubernetesProvider, proxyId: string): { addresses: readonly string[]; pod: string } | undefined {
  const pod = provider.podOfProxy(proxyId);
  return pod === undefined ? undefined : { addresses: pod.ips, pod: `${pod.namespace}/${pod.name}` };
}
