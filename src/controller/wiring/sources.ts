/**
 * Wiring step 2: the endpoint providers and the mesh spec (the catalog's
 * inputs), the Azure attestation that checks VMs against the Azure provider,
 * and the Kubernetes MeshConfig. Providers are registered here explicitly,
 * never as a side effect of importing a module; platform SDKs load only when
 * their provider is configured (each costs one to two seconds of start-up).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { AttestNonces } from "../bootstrap/attest-nonces.js";
import { AzureImdsAttestation, type AttestationInventory } from "../bootstrap/azure-imds.js";
import { LeaderPolledProvider } from "../ha/leader-polled-provider.js";
import { PublishedView } from "../ha/published-view.js";
import { AgentsProvider } from "../providers/agents/provider.js";
import type { AzureProvider } from "../providers/azure/index.js";
import type { KubernetesProvider } from "../providers/kubernetes/index.js";
import { OnPremProvider } from "../providers/onprem/index.js";
import type { EndpointProvider } from "../providers/types.js";
import { CompositeMeshSpec } from "../spec/composite-spec.js";
import { EmptyMeshSpec } from "../spec/empty-spec.js";
import { FileMeshSpec } from "../spec/files/index.js";
import type { KubeMeshConfig } from "../spec/kubernetes/index.js";
import type { MeshSpec } from "../spec/types.js";
import type { ProviderStatus } from "../source-status.js";
import type { Assembly } from "./assembly.js";
import type { SharedState } from "./shared-state.js";

/**
 * A replica that finds no published provider view waits this many lease
 * lifetimes (a dead leader's lease running out, an election, a first poll)
 * before polling the platform itself.
 */
const AWAIT_PUBLISHED_VIEW_LEASES = 3;

export interface Sources {
  readonly agents: AgentsProvider;
  readonly providers: readonly EndpointProvider[];
  readonly spec: MeshSpec;
  readonly meshConfig: KubeMeshConfig | undefined;
  /** Its health probes go to the agents on the hosts it lists. */
  readonly onprem: OnPremProvider | undefined;
  readonly attestation: AzureImdsAttestation | undefined;
  readonly nonces: AttestNonces | undefined;
  readonly kubernetes: { readonly provider: KubernetesProvider; readonly kubeConfig: KubeConfig; readonly namespace: string } | undefined;
}

interface Source {
  readonly id: string;
  start(signal: AbortSignal): Promise<void>;
}

/** Builds the sources; nothing is read from a platform yet (see startSources). */
export async function buildSources(a: Assembly, shared: SharedState): Promise<Sources> {
  const { config, logger, log, clock } = a;
  const { store, metrics, leader, replicaId } = shared;
  const agents = new AgentsProvider({ metrics });
  const providers: EndpointProvider[] = [agents];
  const onprem = config.providers.onprem ? new OnPremProvider({ file: config.providers.onprem.hostsFile, debounceMs: config.providers.onprem.debounce, logger, metrics }) : undefined;
  if (onprem) providers.push(onprem);
  const specs: MeshSpec[] = [];
  const files = config.spec.files;
  if (files) specs.push(new FileMeshSpec({ dir: files.directory, debounceMs: files.debounce, logger, metrics, trustDomain: config.trustDomain }));
  const azure = config.providers.azure;
  let attestation: AzureImdsAttestation | undefined;
  let nonces: AttestNonces | undefined;
  if (azure) {
    const { createAzureProvider } = await import("../providers/azure/index.js");
    const provider = createAzureProvider({ config: azure, logger, metrics });
    const imds = config.bootstrap.azureImds;
    if (imds) {
      nonces = new AttestNonces({ store, ttlMs: imds.nonceTtl, now: () => clock.now() });
      const made = new AzureImdsAttestation({ settings: imds, nonces, logger, now: () => clock.now(), inventory: azureInventory(provider, azure.subscriptionId) });
      await a.start.step("attestation", () => made.load());
      attestation = made;
    }
    // Replicas on a shared store: only the leader polls ARM, the others serve what it publishes.
    providers.push(store.leased ? new LeaderPolledProvider({
      inner: provider, leadership: leader, logger, metrics,
      view: new PublishedView({ store, provider: provider.id, replicaId }),
      awaitViewMs: AWAIT_PUBLISHED_VIEW_LEASES * config.ha.leaseTtl,
    }) : provider);
  }
  let meshConfig: KubeMeshConfig | undefined;
  let kubernetes: Sources["kubernetes"];
  const kube = config.providers.kubernetes;
  if (kube && shared.cluster) {
    const { createKubernetesProvider } = await import("../providers/kubernetes/index.js");
    const { createKubernetesMeshSpec, createKubeMeshConfig } = await import("../spec/kubernetes/index.js");
    const { kubeConfig } = shared.cluster;
    const provider = createKubernetesProvider(kube, { kubeConfig, logger, metrics });
    kubernetes = { provider, ...shared.cluster };
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
  return { agents, providers, spec, meshConfig, onprem, attestation, nonces, kubernetes };
}

/** Every source in the order the admin API lists them: providers, the spec, MeshConfig. */
function sourceList(s: Sources): Array<{ source: Source; status: () => ProviderStatus | readonly ProviderStatus[] }> {
  const spec = s.spec;
  return [
    ...s.providers.map((p) => ({ source: p, status: () => p.status() })),
    // A composite spec is listed part by part.
    { source: spec, status: () => (spec instanceof CompositeMeshSpec ? spec.parts : [spec]).map((p) => p.status()) },
    ...(s.meshConfig ? [{ source: s.meshConfig, status: () => s.meshConfig!.status() }] : []),
  ];
}

/**
 * Registers every source on the closer — readiness lists them as waiting
 * from here until their first sync — and returns how to start them.
 */
export function registerSources(a: Assembly, s: Sources): () => Promise<void> {
  const started = sourceList(s).map(({ source, status }) => {
    let synced = false;
    const signal = a.signal(`source:${source.id}`, { ready: () => synced, readinessId: source.id, status });
    return { source, signal, done: () => (synced = true) };
  });
  // Every source syncs in parallel; readiness waits for all of them.
  return () => Promise.all(started.map(({ source, signal, done }) => a.start.step(`source:${source.id}`, async () => {
    await source.start(signal);
    done();
    a.log.info({ source: source.id }, "first sync done");
  }))).then(() => undefined);
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
