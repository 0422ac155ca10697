/**
 * `meshfed install` against a cluster: server-side apply of every object of
 * buildManifests() in order (field manager `meshfed`), then the pruning of
 * objects an earlier install of this mesh made that these values no longer
 * make (the webhook after `--set injector.enabled=false`), then, with
 * `wait`, the controller Deployment rolled out and available.
 *
 * Nothing is applied unless every object can be: an object of another mesh
 * in the way (label meshfed.io/mesh-name) stops the install before its first
 * write. A field someone else owns (a `kubectl scale` of the Deployment) is a
 * conflict, not silently overwritten: the user decides with `--force`
 * (docs/operations.md "Upgrade").
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { MeshfedError } from "../../common/errors.js";
import { InstallClient, type LiveObject } from "./kube-objects.js";
import { describe, type Manifest } from "./manifest.js";
import { MESH_NAME_LABEL, buildManifests, installKinds, installSelector } from "./manifests.js";
import { INSTALL_ERRORS, type InstallValues } from "./values.js";
import { CONTROLLER_NAME } from "./controller-objects.js";

export type StepAction = "created" | "configured" | "unchanged" | "pruned";

export interface InstallStep {
  /** `Kind namespace/name` */
  readonly object: string;
  readonly action: StepAction;
}

export interface InstallOptions {
  readonly kubeConfig: KubeConfig;
  readonly values: InstallValues;
  /** Take over fields other managers own (server-side apply's force). */
  readonly force?: boolean;
  /** Wait for the controller Deployment to be available, up to timeoutMs. */
  readonly wait?: { readonly timeoutMs: number; readonly pollMs?: number } | undefined;
  readonly signal?: AbortSignal;
  readonly onStep?: (step: InstallStep) => void;
  /** What to build (default INSTALL_OBJECTS); tests pass their own list. */
  readonly builders?: Parameters<typeof buildManifests>[1];
  /** How long an object whose kind is not served yet is retried (a custom resource after its CRD). Default 30 s. */
  readonly servedTimeoutMs?: number;
}

function key(o: { apiVersion?: string | undefined; kind?: string | undefined; metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined }): string {
  return `${o.apiVersion ?? ""}|${o.kind ?? ""}|${o.metadata?.namespace ?? ""}|${o.metadata?.name ?? ""}`;
}

export async function install(options: InstallOptions): Promise<InstallStep[]> {
  const { values } = options;
  const client = new InstallClient(options.kubeConfig);
  const objects = buildManifests(values, options.builders);
  const steps: InstallStep[] = [];
  const step = (object: string, action: StepAction): void => {
    const s = { object, action };
    steps.push(s);
    options.onStep?.(s);
  };

  const live = new Map<string, LiveObject | undefined>();
  for (const o of objects) {
    const current = await client.read(o);
    const owner = current?.metadata?.labels?.[MESH_NAME_LABEL];
    // CRDs are cluster-wide and shared by every mesh of the cluster.
    if (owner !== undefined && owner !== values.meshName && o.kind !== "CustomResourceDefinition") {
      throw new MeshfedError(INSTALL_ERRORS.otherMesh, `${describe(o)} belongs to mesh "${owner}" (label ${MESH_NAME_LABEL}): install mesh "${values.meshName}" into another namespace (--namespace), or uninstall "${owner}" first`, { details: { object: describe(o), mesh: owner } });
    }
    live.set(key(o), current);
  }

  for (const o of objects) {
    options.signal?.throwIfAborted();
    const before = live.get(key(o));
    const after = await applyWhenServed(client, o, options);
    step(describe(o), before === undefined ? "created" : before.metadata?.resourceVersion === after.metadata?.resourceVersion ? "unchanged" : "configured");
  }

  await prune(client, values, new Set(objects.map(key)), (o) => step(describe(o), "pruned"));

  if (options.wait !== undefined) await waitForController(client, objects, options.wait, options.signal);
  return steps;
}

/**
 * A custom resource right after its CRD: the API server serves the new kind
 * only once the CRD is established (usually within a second), so "not
 * served" is retried for a while before it counts.
 */
async function applyWhenServed(client: InstallClient, o: Manifest, options: InstallOptions): Promise<LiveObject> {
  const deadline = Date.now() + (options.servedTimeoutMs ?? 30_000);
  for (;;) {
    try {
      return await client.apply(o, options.force === true);
    } catch (err) {
      const notServed = err instanceof MeshfedError && err.details.notServed === true;
      if (!notServed || Date.now() >= deadline) throw err;
      await sleep(250, undefined, options.signal === undefined ? {} : { signal: options.signal });
    }
  }
}

/** Deletes what an earlier install of this mesh made and these values do not (never CRDs nor the namespace). */
async function prune(client: InstallClient, values: InstallValues, wanted: ReadonlySet<string>, onPruned: (o: LiveObject) => void): Promise<void> {
  for (const { apiVersion, kind } of installKinds(values).reverse()) {
    if (kind === "CustomResourceDefinition" || kind === "Namespace") continue;
    for (const o of await client.list(apiVersion, kind, installSelector(values.meshName))) {
      if (wanted.has(key(o))) continue;
      if (await client.delete(o)) onPruned(o);
    }
  }
}

interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
}

/** As `kubectl rollout status`: the spec observed, every replica updated and available, no old ones left. */
export function rolledOut(d: LiveObject): boolean {
  const want = (d.spec as { replicas?: number } | undefined)?.replicas ?? 1;
  const s = (d.status ?? {}) as DeploymentStatus;
  const generation = d.metadata?.generation ?? 0;
  return (s.observedGeneration ?? 0) >= generation && (s.updatedReplicas ?? 0) >= want && (s.availableReplicas ?? 0) >= want && (s.replicas ?? 0) <= (s.updatedReplicas ?? 0);
}

async function waitForController(client: InstallClient, objects: readonly Manifest[], wait: NonNullable<InstallOptions["wait"]>, signal?: AbortSignal): Promise<void> {
  const d = objects.find((o) => o.kind === "Deployment" && o.metadata.name === CONTROLLER_NAME);
  if (d === undefined) return;
  const deadline = Date.now() + wait.timeoutMs;
  let last: LiveObject | undefined;
  for (;;) {
    last = await client.read(d);
    if (last !== undefined && rolledOut(last)) return;
    if (Date.now() >= deadline) {
      const s = JSON.stringify(last?.status ?? {});
      throw new MeshfedError(INSTALL_ERRORS.waitTimeout, `${describe(d)} not available within ${Math.round(wait.timeoutMs / 1000)} s (status ${s}); the objects are applied: see kubectl -n ${d.metadata.namespace ?? ""} describe deployment ${d.metadata.name}`, { details: { status: last?.status } });
    }
    await sleep(Math.min(wait.pollMs ?? 1000, Math.max(0, deadline - Date.now())), undefined, signal === undefined ? {} : { signal });
  }
}
