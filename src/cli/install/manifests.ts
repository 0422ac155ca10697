/**
 * The one source of the install's objects (issue 19 item 1): `meshfed
 * install` applies what buildManifests() returns, `--dry-run` prints it, and
 * test/unit/install-manifests.test.ts checks that the kustomize base in
 * config/kubernetes is equal to it with the default values (the YAML files
 * keep the comments that say why). The CRDs are read from
 * config/kubernetes/crds (its kustomization lists them), so there is one copy.
 *
 * INSTALL_OBJECTS is the apply order (uninstall deletes in reverse): the
 * namespace and CRDs first, the webhook last, so it never points at a
 * controller that is not there yet. Adding an object is one line here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";
import { MeshfedError } from "../../common/errors.js";
import { clusterRole, clusterRoleBinding, meshConfigRole, meshConfigRoleBinding, sidecarWebhook, stateRole, stateRoleBinding } from "./access-objects.js";
import { controllerConfig, deployment, meshConfigMap, podDisruptionBudget, service, serviceAccount } from "./controller-objects.js";
import type { Manifest } from "./manifest.js";
import type { InstallValues } from "./values.js";

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MESH_NAME_LABEL = "meshfed.io/mesh-name";
export const PART_OF_LABEL = "app.kubernetes.io/part-of";
/** Server-side apply's field manager, and the managed-by label's value. */
export const FIELD_MANAGER = "meshfed";

export const CRD_DIR = fileURLToPath(new URL("../../../../config/kubernetes/crds/", import.meta.url));

type Builder = (v: InstallValues) => Manifest | readonly Manifest[] | undefined;

function namespace(v: InstallValues): Manifest {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: v.namespace, labels: {} } };
}

/** Apply order. */
export const INSTALL_OBJECTS: readonly Builder[] = [
  namespace,
  () => loadCrds(),
  serviceAccount,
  clusterRole,
  clusterRoleBinding,
  meshConfigRole,
  meshConfigRoleBinding,
  stateRole,
  stateRoleBinding,
  controllerConfig,
  meshConfigMap,
  service,
  deployment,
  podDisruptionBudget,
  sidecarWebhook,
];

/** The labels by which uninstall (and the pruning of an upgrade) finds what an install made. */
export function installLabels(meshName: string): Record<string, string> {
  return { [PART_OF_LABEL]: "meshfed", [MANAGED_BY_LABEL]: FIELD_MANAGER, [MESH_NAME_LABEL]: meshName };
}

/** `MANAGED_BY_LABEL=meshfed,MESH_NAME_LABEL=<mesh>` */
export function installSelector(meshName: string): string {
  return Object.entries(installLabels(meshName))
    .filter(([k]) => k !== PART_OF_LABEL)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

export function buildManifests(values: InstallValues, builders: readonly Builder[] = INSTALL_OBJECTS): Manifest[] {
  const out: Manifest[] = [];
  for (const build of builders) {
    const made = build(values);
    if (made === undefined) continue;
    for (const o of Array.isArray(made) ? (made as readonly Manifest[]) : [made as Manifest]) {
      out.push({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...installLabels(values.meshName) } } });
    }
  }
  return out;
}

/** The kinds an install can make, in apply order (for uninstall and pruning, which must find every kind whatever the values). */
export function installKinds(values: InstallValues): Array<{ apiVersion: string; kind: string }> {
  const all = buildManifests({ ...values, injector: { enabled: true } });
  const seen = new Set<string>();
  return all.filter((o) => !seen.has(`${o.apiVersion}|${o.kind}`) && seen.add(`${o.apiVersion}|${o.kind}`)).map((o) => ({ apiVersion: o.apiVersion, kind: o.kind }));
}

let crds: readonly Manifest[] | undefined;

/** The CRDs of config/kubernetes/crds, in its kustomization's order. */
export function loadCrds(dir: string = CRD_DIR): readonly Manifest[] {
  if (dir === CRD_DIR && crds !== undefined) return crds;
  const read = (file: string): unknown[] => {
    const docs = parseAllDocuments(readFileSync(join(dir, file), "utf8"));
    for (const d of docs) if (d.errors.length > 0) throw new MeshfedError("MESHFED_INSTALL_CRDS", `${join(dir, file)}: ${d.errors[0]!.message}`);
    return docs.map((d) => d.toJS() as unknown).filter((o) => o !== null);
  };
  const kustomization = read("kustomization.yaml")[0] as { resources?: unknown } | undefined;
  const files = Array.isArray(kustomization?.resources) ? kustomization.resources.filter((r): r is string => typeof r === "string") : [];
  const out = files.flatMap((f) => read(f)) as Manifest[];
  for (const o of out) {
    if (o.kind !== "CustomResourceDefinition") throw new MeshfedError("MESHFED_INSTALL_CRDS", `${dir}: ${o.kind} ${o.metadata?.name} is not a CustomResourceDefinition`);
    o.metadata.labels ??= {};
  }
  if (dir === CRD_DIR) crds = out;
  return out;
}

/** `---`-separated YAML, as `kubectl apply -f -` reads it. */
export function manifestsYaml(objects: readonly Manifest[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}
